// Package probe checks reachability the way operators do with tcpscan.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// Outcome of a TCP probe.
type Outcome int

const (
	Opened Outcome = iota
	Timeout
	Refused
	Failed
)

// Result is what tcpscan prints.
type Result struct {
	Addr    string // ip:port that was tried
	Outcome Outcome
	Err     error // for Failed
}

// Resolve turns host into the address tcpscan tries, so it can be shown before connecting.
func Resolve(ctx context.Context, host string, port int) (string, error) {
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("port %d out of range 1-65535", port)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	ip := ips[0]
	for _, candidate := range ips { // prefer IPv4, as the operators' firewalls do
		if candidate.To4() != nil {
			ip = candidate
			break
		}
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port)), nil
}

// TCP connects to addr within timeout and closes the connection at once.
// Cancelling ctx (Ctrl-C) returns ctx's error.
func TCP(ctx context.Context, addr string, timeout time.Duration) (Result, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if ctx.Err() != nil {
		if conn != nil {
			conn.Close()
		}
		return Result{}, ctx.Err()
	}
	r := Result{Addr: addr}
	var ne net.Error
	switch {
	case err == nil:
		conn.Close()
		r.Outcome = Opened
	case errors.Is(err, syscall.ECONNREFUSED):
		r.Outcome = Refused
	case errors.As(err, &ne) && ne.Timeout():
		r.Outcome = Timeout
	default:
		r.Outcome, r.Err = Failed, err
	}
	return r, nil
}

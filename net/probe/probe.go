// Package probe checks reachability the way operators do with tcpscan.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
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

// Reason is the cause of a failed probe as operators read it: the system's words
// without Go's "dial tcp ...:" prefix, capitalised like "Connection refused".
func Reason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return "Unknown host " + dns.Name
		}
		return "Cannot resolve " + dns.Name + ": " + dns.Err
	}
	msg := err.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

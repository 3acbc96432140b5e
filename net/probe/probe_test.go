package probe_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/probe"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		host    string
		port    int
		want    string
		wantErr bool
	}{
		{"127.0.0.1", 0, "", true},
		{"127.0.0.1", -1, "", true},
		{"127.0.0.1", 65536, "", true},
		{"127.0.0.1", 70000, "", true},
		{"127.0.0.1", 1, "127.0.0.1:1", false},
		{"127.0.0.1", 65535, "127.0.0.1:65535", false},
		{"::1", 22, "[::1]:22", false},
		{"localhost", 7022, "127.0.0.1:7022", false}, // IPv4 preferred
	}
	for _, tc := range tests {
		got, err := probe.Resolve(context.Background(), tc.host, tc.port)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Resolve(%q, %d) = %q, nil; want an error", tc.host, tc.port, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %d) = %q, %v; want %q", tc.host, tc.port, got, err, tc.want)
		}
	}
}

func TestResolveUnknownHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// An empty label makes the name invalid: Go refuses it without sending a DNS
	// query, so the test never leaves the machine.
	if got, err := probe.Resolve(ctx, "no..such..host", 80); err == nil {
		t.Errorf("Resolve(no..such..host) = %q, nil; want an error", got)
	}
}

func TestTCPOpened(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		close(accepted)
	}()
	addr := ln.Addr().String()
	r, err := probe.TCP(context.Background(), addr, 2*time.Second)
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	if r.Outcome != probe.Opened || r.Addr != addr || r.Err != nil {
		t.Errorf("TCP(listening) = %+v; want Opened at %s", r, addr)
	}
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Error("the probe never reached the listener")
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTCPRefused(t *testing.T) {
	addr := closedPort(t)
	r, err := probe.TCP(context.Background(), addr, 2*time.Second)
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	if r.Outcome != probe.Refused || r.Addr != addr || r.Err != nil {
		t.Errorf("TCP(closed port) = %+v; want Refused at %s", r, addr)
	}
}

func TestTCPFailed(t *testing.T) {
	r, err := probe.TCP(context.Background(), "127.0.0.1:notaport", time.Second)
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	if r.Outcome != probe.Failed || r.Err == nil {
		t.Errorf("TCP(bad address) = %+v; want Failed with an error", r)
	}
}

func TestTCPCancelledContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, addr := range []string{ln.Addr().String(), closedPort(t)} {
		r, err := probe.TCP(ctx, addr, 2*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("TCP(cancelled, %s) = %+v, %v; want context.Canceled", addr, r, err)
		}
	}
}

// fullBacklog returns the address of a loopback socket that listens with a
// backlog of 0 and never accepts, after filling its accept queue, so that
// further SYNs are dropped and connection attempts hang until they time out.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Connect until one attempt hangs: then the queue is full.
	for i := 0; i < 16; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the backlog: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("accept queue of %s never filled", addr)
	return ""
}

func TestTCPTimeout(t *testing.T) {
	addr := fullBacklog(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	r, err := probe.TCP(context.Background(), addr, timeout)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	if r.Outcome != probe.Timeout || r.Addr != addr || r.Err != nil {
		t.Errorf("TCP(full backlog) = %+v; want Timeout at %s", r, addr)
	}
	if took < timeout-50*time.Millisecond || took > timeout+2*time.Second {
		t.Errorf("TCP took %v; want about the %v timeout", took, timeout)
	}
}

func TestTCPCancelWhileConnecting(t *testing.T) {
	addr := fullBacklog(t)
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(150*time.Millisecond, cancel) // Ctrl-C while the SYN hangs
	defer timer.Stop()
	start := time.Now()
	r, err := probe.TCP(ctx, addr, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("TCP(cancelled while connecting) = %+v, %v; want context.Canceled", r, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("TCP returned %v after the cancel; want promptly", took)
	}
}

func TestReason(t *testing.T) {
	_, err := net.Dial("tcp", "127.0.0.1:1")
	if got := probe.Reason(err); got != "Connection refused" {
		t.Errorf("refused: %q", got)
	}
	_, err = probe.Resolve(context.Background(), "no..such..host", 80) // invalid: no query sent
	if got := probe.Reason(err); got != "Unknown host no..such..host" {
		t.Errorf("unknown host: %q", got)
	}
}

package syslog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-appliance/ferry/net/event"
)

func startTCP(t *testing.T, s event.Sink, cfg TCPConfig) *TCP {
	t.Helper()
	cfg.Name, cfg.Addr, cfg.Sink, cfg.Pool = "tcp1", "127.0.0.1:0", s, event.NewPool(256, 1<<20)
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := NewTCP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// logger over TCP, newline-framed and octet-counted, reaches one listener.
func TestTCPLoggerBothFramings(t *testing.T) {
	s := &sink{}
	r := startTCP(t, s, TCPConfig{})
	_, port, _ := net.SplitHostPort(r.Addr())
	for _, args := range [][]string{
		{"--tcp", "--rfc5424", "newline framed"},
		{"--tcp", "--rfc5424", "--octet-count", "octet counted"},
		{"--tcp", "--rfc3164", "bsd over tcp"},
	} {
		cmd := exec.Command("logger", append([]string{"--server", "127.0.0.1", "--port", port, "-t", "ferrytest"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", args, err, out)
		}
	}
	waitFor(t, "three messages", func() bool { return s.Count() == 3 })
	for i, want := range []string{"newline framed", "octet counted", "bsd over tcp"} {
		if !strings.HasSuffix(s.Messages()[i], want) || strings.HasPrefix(s.Messages()[i], "1") {
			t.Errorf("message %d = %q", i, s.Messages()[i])
		}
	}
}

// Mixed framing on one connection, an oversized message truncated and counted,
// a bad octet count counted: the connection stays in sync and goes on.
func TestTCPOversizeAndFramingErrors(t *testing.T) {
	s := &sink{}
	r := startTCP(t, s, TCPConfig{MaxSize: 100})
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 300)
	fmt.Fprintf(c, "<13>first\n")
	fmt.Fprintf(c, "%d <13>%s", len(big)+4, big) // counted, oversized
	fmt.Fprintf(c, "<13>after counted\n")
	fmt.Fprintf(c, "<13>%s\n", big) // newline, oversized
	fmt.Fprintf(c, "12x garbage count\n")
	fmt.Fprintf(c, "<13>last\n")
	c.Close()
	waitFor(t, "the messages", func() bool { return s.Count() == 5 })
	if s.Messages()[0] != "<13>first" || s.Messages()[2] != "<13>after counted" || s.Messages()[4] != "<13>last" || len(s.Messages()[1]) != 100 || len(s.Messages()[3]) != 100 {
		t.Errorf("messages = %q", s.Messages())
	}
	st := r.Stats()
	if st.Truncated != 2 || st.Framing != 1 || st.Received != 5 {
		t.Errorf("stats = %+v", st)
	}
}

// 1,000 connections at once, each sending a few messages: all arrive.
func TestTCPThousandConnections(t *testing.T) {
	s := &sink{}
	r := startTCP(t, s, TCPConfig{MaxConnsPerSource: 2000})
	const conns, each = 1000, 3
	var wg sync.WaitGroup
	var open []net.Conn
	var mu sync.Mutex
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", r.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			for j := range each {
				fmt.Fprintf(c, "<13>conn %d msg %d\n", i, j)
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	waitFor(t, "every message", func() bool { return s.Count() == conns*each })
	if n := r.Stats().Conns; n != conns {
		t.Errorf("open connections = %d, want %d", n, conns)
	}
	for _, c := range open {
		c.Close()
	}
	waitFor(t, "connections closed", func() bool { return r.Stats().Conns == 0 })
}

// The per-source cap refuses the connection over it and counts it.
func TestTCPPerSourceCap(t *testing.T) {
	s := &sink{}
	r := startTCP(t, s, TCPConfig{MaxConnsPerSource: 2})
	var cs []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	waitFor(t, "a refusal", func() bool { return r.Stats().Refused == 1 })
	fmt.Fprintf(cs[0], "<13>still served\n")
	waitFor(t, "the message", func() bool { return s.Count() == 1 })
}

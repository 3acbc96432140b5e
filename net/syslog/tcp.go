package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/syslog/syslogmsg"
)

// TCP defaults.
const (
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerSource = 512
)

// TCPConfig describes one TCP (or, with TLS set, RFC 5425 TLS) receiver.
type TCPConfig struct {
	Name              string
	Addr              string
	MaxSize           int           // longer messages are cut here and counted (default 64 KiB)
	Charset           string        // what senders use, converted to UTF-8 ("": UTF-8)
	IdleTimeout       time.Duration // a connection silent this long is closed
	MaxConns          int           // connections at once, per listener
	MaxConnsPerSource int           // connections at once, per source address
	// TLS, when set, makes it a TLS listener; its GetConfigForClient looks the
	// certificates up at handshake time.
	TLS     *tls.Config
	Sources *Sources // counts per source address (syslog.stats); nil: none
	Sink    event.Sink
	Pool    *event.Pool
	Log     *slog.Logger
}

// TCP is a running TCP or TLS receiver.
type TCP struct {
	cfg TCPConfig
	log *slog.Logger

	received, queueDrops, truncated, framing, refused, invalid atomic.Uint64
	conns                                                      atomic.Int64

	mu       sync.Mutex
	ln       net.Listener
	open     map[net.Conn]struct{}
	perSrc   map[netip.Addr]int
	wg       sync.WaitGroup
	stopping bool
}

// NewTCP validates cfg.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if cfg.Name == "" {
		return nil, errors.New("tcp receiver: no name")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("tcp receiver %q: address %q: %w", cfg.Name, cfg.Addr, err)
	}
	if cfg.Sink == nil || cfg.Pool == nil {
		return nil, fmt.Errorf("tcp receiver %q: no sink or batch pool", cfg.Name)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = syslogmsg.DefaultMaxSize
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerSource <= 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if _, err := syslogmsg.NewDecoder(cfg.Charset); err != nil {
		return nil, fmt.Errorf("tcp receiver %q: %w", cfg.Name, err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &TCP{cfg: cfg, log: cfg.Log.With("component", "syslog", "input", cfg.Name),
		open: map[net.Conn]struct{}{}, perSrc: map[netip.Addr]int{}}, nil
}

// Start binds the port and accepts connections.
func (t *TCP) Start(context.Context) error {
	ln, err := net.Listen("tcp", t.cfg.Addr)
	if err != nil {
		return bindError(t.cfg.Addr, err)
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	t.wg.Add(1)
	go t.accept(ln)
	proto := "tcp"
	if t.cfg.TLS != nil {
		proto = "tls"
	}
	t.log.Info("listening", "addr", ln.Addr().String(), "proto", proto)
	return nil
}

// Addr is the bound address.
func (t *TCP) Addr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

func (t *TCP) accept(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if !t.admit(c, src.Addr().Unmap()) {
			t.refused.Add(1)
			c.Close()
			continue
		}
		t.wg.Add(1)
		go t.serve(c, src)
	}
}

// admit takes a connection slot, per listener and per source.
func (t *TCP) admit(c net.Conn, src netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping || len(t.open) >= t.cfg.MaxConns || t.perSrc[src] >= t.cfg.MaxConnsPerSource {
		return false
	}
	t.open[c] = struct{}{}
	t.perSrc[src]++
	t.conns.Add(1)
	return true
}

func (t *TCP) release(c net.Conn, src netip.Addr) {
	t.mu.Lock()
	delete(t.open, c)
	if t.perSrc[src]--; t.perSrc[src] <= 0 {
		delete(t.perSrc, src)
	}
	t.mu.Unlock()
	t.conns.Add(-1)
}

// serve reads one connection to its end. Messages are batched and a batch is
// handed on whenever the framer has to wait for the network.
func (t *TCP) serve(c net.Conn, src netip.AddrPort) {
	defer t.wg.Done()
	defer t.release(c, src.Addr().Unmap())
	defer c.Close()
	if t.cfg.TLS != nil {
		tc := tls.Server(c, t.cfg.TLS)
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.log.Debug("tls handshake failed", "remote", src.String(), "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	var b *event.Batch
	flush := func() {
		if b != nil && b.Len() > 0 {
			t.cfg.Sources.AddBatch(b)
			if !t.cfg.Sink.TryPut(b) {
				t.queueDrops.Add(uint64(b.Len()))
				b.Release()
			}
			b = nil
		}
	}
	dec, _ := syslogmsg.NewDecoder(t.cfg.Charset) // checked by NewTCP; one per connection (it keeps state)
	var scratch []byte
	fr := syslogmsg.NewFramer(&flushingReader{c: c, idle: t.cfg.IdleTimeout, flush: flush}, t.cfg.MaxSize)
	defer flush()
	for {
		f, err := fr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.log.Debug("connection ended", "remote", src.String(), "err", err)
			}
			return
		}
		if f.Err != nil {
			t.framing.Add(1)
			continue
		}
		if f.Truncated {
			t.truncated.Add(1)
		}
		if len(f.Msg) == 0 {
			continue
		}
		msg, bad := dec.Convert(&scratch, f.Msg)
		if bad > 0 {
			t.invalid.Add(uint64(bad))
		}
		if b == nil {
			b = t.cfg.Pool.Get(t.cfg.Name)
		}
		if !b.Add(time.Now(), src, msg) {
			flush()
			b = t.cfg.Pool.Get(t.cfg.Name)
			b.Add(time.Now(), src, msg)
		}
		t.received.Add(1)
	}
}

// flushingReader hands the pending batch on before every read that may wait,
// and bounds each wait by the idle timeout.
type flushingReader struct {
	c     net.Conn
	idle  time.Duration
	flush func()
}

func (r *flushingReader) Read(p []byte) (int, error) {
	r.flush()
	r.c.SetReadDeadline(time.Now().Add(r.idle))
	return r.c.Read(p)
}

// TCPStats are a TCP receiver's counters.
type TCPStats struct {
	Received, QueueDrops, Truncated, Framing, Refused, Invalid uint64
	Conns                                                      int64
}

// Stats returns the counters.
func (t *TCP) Stats() TCPStats {
	return TCPStats{Received: t.received.Load(), QueueDrops: t.queueDrops.Load(), Truncated: t.truncated.Load(),
		Framing: t.framing.Load(), Invalid: t.invalid.Load(), Refused: t.refused.Load(), Conns: t.conns.Load()}
}

// Shutdown stops accepting, closes every connection (what each had read is
// handed on first) and waits. Idempotent.
func (t *TCP) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.stopping = true
	if t.ln != nil {
		t.ln.Close()
	}
	for c := range t.open {
		c.SetReadDeadline(time.Now()) // ends the read; serve flushes and returns
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		for c := range t.open {
			c.Close()
		}
		t.mu.Unlock()
		return ctx.Err()
	}
}

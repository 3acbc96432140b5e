// Package snmptrap is Ferry's SNMP trap receiver. Switches, UPSes and
// firewalls that report by trap rather than by syslog still reach the
// operator: each SNMP v1 or v2c trap (and v2c InformRequest) with the
// configured community becomes one event, handed to the pipeline in a batch
// exactly as the syslog UDP receiver hands its messages, so file outputs,
// forwarding and filters treat it as one more syslog line.
//
// The event's text is one RFC 5424 line, UTF-8, without a newline, at most
// MaxLine bytes (longer ones are cut):
//
//	<133>1 TIMESTAMP SOURCE snmptrap - - - trap=OID version=v2c [pdu=inform] [uptime=TICKS] OID=TYPE:VALUE ...
//	<133>1 TIMESTAMP SOURCE snmptrap - - - trap=OID version=v1 enterprise=OID agent=ADDR uptime=TICKS OID=TYPE:VALUE ...
//
// PRI 133 is local0.notice; TIMESTAMP is UTC with milliseconds; SOURCE is
// the sender's IP address. trap= is the trap's OID: for v2c the value of
// snmpTrapOID.0, for v1 the mapping of RFC 3584 section 3.1 (generic trap
// g < 6 is 1.3.6.1.6.3.1.1.5.(g+1), enterprise-specific is ENTERPRISE.0.SPECIFIC).
// uptime= is sysUpTime.0 (v2c) or the time-stamp (v1) in hundredths of a
// second; snmpTrapOID.0 and sysUpTime.0 are not repeated among the variable
// bindings; "-" stands for what a trap did not carry. TYPE is int, uint32,
// counter32, gauge32, timeticks, counter64, str, hex, oid, ip, null,
// opaque, float, double, nosuchobject, nosuchinstance, endofmibview or
// unknown; see appendValue for how values are written. OIDs have no leading
// dot. The community is a password and never appears in the event.
//
// An InformRequest is acknowledged with its Response once the sink has taken
// its event; one the sink refuses is not, so that its sender retries.
package snmptrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/syslog"
)

// DefaultCommunity is the community a Config without one requires.
const DefaultCommunity = "public"

// datagramMax is the read buffer: a UDP payload cannot be larger.
const datagramMax = 64 << 10

// Config describes one trap receiver.
type Config struct {
	Name      string          // the input name events carry
	Addr      string          // host:port to bind; host "" is every address
	Community string          // the community traps must carry; "" means "public"
	Sources   *syslog.Sources // counts per source address; nil: none
	Sink      event.Sink
	Pool      *event.Pool
	Log       *slog.Logger
}

// Stats are a receiver's counters.
type Stats struct {
	Received     uint64 // traps and informs accepted and handed on (or refused by the sink)
	QueueDrops   uint64 // events the sink refused
	Malformed    uint64 // datagrams that are not an SNMP v1/v2c trap or inform (v3, requests, garbage)
	BadCommunity uint64 // traps with another community, dropped
	Informs      uint64 // v2c InformRequests acknowledged with a Response (also in Received)
}

// Receiver is a trap receiver: one UDP socket and the goroutine reading it.
type Receiver struct {
	cfg Config
	log *slog.Logger
	dec *decoder

	received, queueDrops, malformed, badCommunity, informs atomic.Uint64

	mu      sync.Mutex
	conn    *net.UDPConn
	done    chan struct{} // closed when the reader has returned
	stopped bool
}

// New validates cfg; Start binds.
func New(cfg Config) (*Receiver, error) {
	if cfg.Name == "" {
		return nil, errors.New("snmptrap receiver: no name")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("snmptrap receiver %q: address %q: %w", cfg.Name, cfg.Addr, err)
	}
	if cfg.Sink == nil || cfg.Pool == nil {
		return nil, fmt.Errorf("snmptrap receiver %q: no sink or batch pool", cfg.Name)
	}
	if cfg.Community == "" {
		cfg.Community = DefaultCommunity
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Receiver{cfg: cfg, dec: newDecoder(cfg.Community),
		log: cfg.Log.With("component", "snmptrap", "input", cfg.Name)}, nil
}

// Start binds the socket and starts reading. A port below 1024 without the
// privilege, or one already taken, says so.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return fmt.Errorf("snmptrap receiver %q: shut down", r.cfg.Name)
	}
	if r.conn != nil {
		return fmt.Errorf("snmptrap receiver %q: already started", r.cfg.Name)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", r.cfg.Addr)
	if err != nil {
		return fmt.Errorf("snmptrap receiver %q: %w", r.cfg.Name, bindError(r.cfg.Addr, err))
	}
	r.conn = pc.(*net.UDPConn)
	r.done = make(chan struct{})
	go r.read(r.conn, r.done)
	r.log.Info("listening", "addr", r.conn.LocalAddr().String(), "proto", "udp")
	return nil
}

// bindErr is an operator's reading of a bind failure; it unwraps to the
// system's error.
type bindErr struct {
	msg string
	err error
}

func (e *bindErr) Error() string { return e.msg }
func (e *bindErr) Unwrap() error { return e.err }

// bindError is the line an operator acts on (as net/syslog says it).
func bindError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return &bindErr{addr + ": permission denied (run as root or grant CAP_NET_BIND_SERVICE)", err}
	case errors.Is(err, syscall.EADDRINUSE):
		return &bindErr{addr + ": address already in use", err}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return &bindErr{addr + ": the bind address is not on this host", err}
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// Addr is the bound address (the port resolved when 0 was asked), "" before
// Start.
func (r *Receiver) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return ""
	}
	return r.conn.LocalAddr().String()
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	return Stats{Received: r.received.Load(), QueueDrops: r.queueDrops.Load(), Malformed: r.malformed.Load(),
		BadCommunity: r.badCommunity.Load(), Informs: r.informs.Load()}
}

// Shutdown closes the socket, which ends the reader, and waits for it (or
// for ctx). Idempotent; a later call waits again.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		if r.conn != nil {
			r.conn.Close()
		}
	}
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("snmptrap receiver %q: shutdown: %w", r.cfg.Name, ctx.Err())
	}
}

// read is the reader: one datagram at a time into one buffer, one batch per
// trap (traps come at a low rate).
func (r *Receiver) read(c *net.UDPConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, datagramMax)
	var line []byte
	var logs logLimit
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if ok, n := logs.read.open(); ok {
				r.log.Warn("read", "err", err, "suppressed", n)
			}
			time.Sleep(50 * time.Millisecond) // not a busy loop if the error persists
			continue
		}
		line = r.handle(c, buf[:n], from, line[:0], &logs)
	}
}

// handle turns one datagram into an event and hands it on; it answers an
// inform the sink took. It returns line's buffer for reuse.
func (r *Receiver) handle(c *net.UDPConn, msg []byte, from netip.AddrPort, line []byte, logs *logLimit) []byte {
	src := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	now := time.Now()
	line, out, err := r.dec.decode(line, msg, src.Addr(), now)
	switch out {
	case outMalformed:
		r.malformed.Add(1)
		if ok, n := logs.malformed.open(); ok {
			r.log.Warn("malformed datagram dropped (not an SNMP v1/v2c trap)", "source", src.String(), "err", err, "suppressed", n)
		}
		return line
	case outPanic:
		r.malformed.Add(1)
		if ok, n := logs.panicked.open(); ok {
			var stack []byte
			if pe, ok := err.(*panicError); ok {
				stack = pe.stack
			}
			r.log.Error("SNMP decoder failed on a datagram; dropped", "source", src.String(), "err", err, "stack", string(stack), "suppressed", n)
		}
		return line
	case outBadCommunity:
		r.badCommunity.Add(1)
		if ok, n := logs.community.open(); ok {
			r.log.Warn("trap with the wrong community dropped", "source", src.String(), "suppressed", n)
		}
		return line
	}
	r.received.Add(1)
	b := r.cfg.Pool.Get(r.cfg.Name)
	b.Add(now, src, line)
	r.cfg.Sources.AddBatch(b)
	if !r.cfg.Sink.TryPut(b) {
		r.queueDrops.Add(uint64(b.Len()))
		b.Release()
		return line // an inform stays unanswered: its sender sends it again
	}
	if out == outInform {
		resp, err := informResponse(msg)
		if err == nil {
			_, err = c.WriteToUDPAddrPort(resp, from)
		}
		if err != nil {
			if ok, n := logs.inform.open(); ok {
				r.log.Warn("inform not acknowledged", "source", src.String(), "err", err, "suppressed", n)
			}
			return line
		}
		r.informs.Add(1)
	}
	return line
}

// logLimit keeps a flood of bad datagrams from flooding the log: each kind
// is logged at most once per logEvery, with how many were not. Only the
// reader uses it.
type logLimit struct {
	read, malformed, panicked, community, inform logGate
}

type logGate struct {
	last       time.Time
	suppressed int
}

const logEvery = 10 * time.Second

// open reports whether a line may be logged now, and how many were
// suppressed since the last one; when not, it counts this one.
func (g *logGate) open() (bool, int) {
	now := time.Now()
	if !g.last.IsZero() && now.Sub(g.last) < logEvery {
		g.suppressed++
		return false, 0
	}
	n := g.suppressed
	g.last, g.suppressed = now, 0
	return true, n
}

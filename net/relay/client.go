package relay

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/spool"
)

// Member is one base a client connects to.
type Member struct {
	Name       string // the base's name (forwarder.addBase NAME)
	Addr       string // host:port
	Key, Trust string // keystore aliases: the certificate we present, the CA the base's must come from
}

// ClientConfig is what a client is built from: one base, or a pair.
type ClientConfig struct {
	Name     string // the destination
	Members  []Member
	Keys     Keys
	Identity func() Identity
	// StreamFile keeps the spool's stream id (beside the spool); "" makes a
	// new one at every start (a memory queue's numbers start again).
	StreamFile string
	// Unsynced: the spool syncs only at rolls (--sync never), so the
	// client ships what is written, not what is synced. After an unclean
	// start such a spool may give numbers the base has seen to new events,
	// so the stream starts afresh (resends may then be stored twice; the
	// spool counts them as replayable).
	Unsynced  bool
	Window    int           // batches in flight per connection (default 64)
	Heartbeat time.Duration // how often to ping (default 250 ms)
	DeadAfter time.Duration // silence that is a dead base (default 1 s)
	Log       *slog.Logger
}

// Client ships a spool's records to its members and acknowledges them in
// the spool as the bases acknowledge them. Records are balanced across the
// members that are up by how many each has in flight; what a member that
// fails had in flight goes to the other at once.
type Client struct {
	cfg     ClientConfig
	log     *slog.Logger
	members []*member

	resent, acked, dups atomic.Uint64
}

// NewClient validates cfg only.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Keys == nil || cfg.Identity == nil {
		return nil, fmt.Errorf("relay %q: no keystores or identity", cfg.Name)
	}
	if len(cfg.Members) == 0 || len(cfg.Members) > 2 {
		return nil, fmt.Errorf("relay %q: %d bases: one, or a pair", cfg.Name, len(cfg.Members))
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 250 * time.Millisecond
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Log.With("component", "relay", "output", cfg.Name)}
	for i, m := range cfg.Members {
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			return nil, fmt.Errorf("relay %q: base %q: address %q: %w", cfg.Name, m.Name, m.Addr, err)
		}
		if m.Key == "" || m.Trust == "" {
			return nil, fmt.Errorf("relay %q: base %q: needs a key alias and a trust alias (mutual TLS)", cfg.Name, m.Name)
		}
		mb := &member{Member: m, idx: i}
		mb.setState("connecting", nil)
		c.members = append(c.members, mb)
	}
	return c, nil
}

// member is one base and its connection's state.
type member struct {
	Member
	idx int

	// The dispatcher's.
	conn     *clientConn
	inflight int

	state    atomic.Pointer[string]
	lastErr  atomic.Pointer[string]
	errSince time.Time // the last error's first time, for logging once
	conns    atomic.Uint64
	sent     atomic.Uint64
	acked    atomic.Uint64
	live     atomic.Pointer[clientConn]
}

func (m *member) setState(s string, err error) {
	m.state.Store(&s)
	if err != nil {
		e := err.Error()
		m.lastErr.Store(&e)
	}
}

// entry is a record between the spool and its acknowledgement.
type entry struct {
	rec    spool.Record
	stream string // set when first sent, kept on resend
	member int    // -1: waiting for a member
	sentTo int    // the member it was last sent to
	acked  bool
	resend bool
}

type entryKey struct {
	stream string
	first  uint64
}

// memberEvent is what a member's goroutine tells the dispatcher.
type memberEvent struct {
	m           *member
	c           *clientConn
	up          bool  // connected
	err         error // down
	ack         bool
	dup         bool // the base had stored it before
	stream      string
	first, last uint64
}

// Ship runs until ctx ends: it reads sp in order (only what is durable, so
// that a number the base has seen is never given again to other events
// after a crash), sends, and acknowledges. hold reports a pause:
// nothing new is sent while it is true. delivered counts acknowledged events.
func (c *Client) Ship(ctx context.Context, sp *spool.Spool, hold func() bool, delivered func(uint64)) {
	if c.cfg.Unsynced && sp.Stats().Recovery.Unclean && c.cfg.StreamFile != "" {
		if err := os.Remove(c.cfg.StreamFile); err == nil {
			c.log.Warn("unclean start of a spool synced only at rolls (--sync never): a new stream, so the base cannot take new events for resends; resends may be stored twice",
				"replayable", sp.Stats().Recovery.Replayable)
		}
	}
	stream, err := loadStream(c.cfg.StreamFile)
	if err != nil {
		c.log.Error("stream id file unusable; a new id for this run (the base may store resends twice)", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	events := make(chan memberEvent, 256)
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runMember(ctx, m, events)
		}()
	}
	window := c.cfg.Window * len(c.members)
	tokens := make(chan struct{}, window)
	recs := make(chan spool.Record)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.read(ctx, sp, tokens, recs)
	}()

	d := &dispatch{c: c, sp: sp, stream: stream, byKey: map[entryKey]*entry{}, tokens: tokens, delivered: delivered, hold: hold}
	tick := time.NewTicker(c.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-recs:
			e := &entry{rec: rec, member: -1, sentTo: -1}
			d.queue = append(d.queue, e)
			d.assign(e)
		case ev := <-events:
			d.handle(ev)
		case <-tick.C:
			d.assignWaiting()
		}
	}
}

// read feeds the dispatcher with durable records, at most window ahead.
func (c *Client) read(ctx context.Context, sp *spool.Spool, tokens chan struct{}, recs chan<- spool.Record) {
	for {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec, err := sp.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			c.log.Error("spool read failed", "err", err)
			<-tokens
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if err := sp.WaitDurable(ctx, rec.LastSeq()); err != nil {
			return
		}
		select {
		case recs <- rec:
		case <-ctx.Done():
			return
		}
	}
}

// dispatch is the dispatcher's state: the records in flight, in order.
type dispatch struct {
	c         *Client
	sp        *spool.Spool
	stream    string
	queue     []*entry // in sequence order; the acknowledged prefix is popped
	byKey     map[entryKey]*entry
	tokens    chan struct{}
	delivered func(uint64)
	hold      func() bool
}

// pick is the member that is up with the least in flight and room.
func (d *dispatch) pick() *member {
	var best *member
	for _, m := range d.c.members {
		if m.conn == nil || m.inflight >= d.c.cfg.Window {
			continue
		}
		if best == nil || m.inflight < best.inflight {
			best = m
		}
	}
	return best
}

func (d *dispatch) assign(e *entry) {
	if d.hold != nil && d.hold() {
		return
	}
	m := d.pick()
	if m == nil {
		return
	}
	if e.stream == "" {
		// One stream per member: the batches of a stream reach a listener
		// in order, which is what its duplicate suppression relies on.
		e.stream = d.stream + "/" + m.Name
	}
	if e.resend {
		d.c.resent.Add(uint64(e.rec.Count))
	}
	e.member, e.sentTo = m.idx, m.idx
	d.byKey[entryKey{e.stream, e.rec.FirstSeq}] = e
	m.inflight++
	m.sent.Add(uint64(e.rec.Count))
	m.conn.send(appendFrame(nil, &frame{typ: typeBatch, stream: e.stream, first: e.rec.FirstSeq,
		count: uint32(e.rec.Count), codec: CodecSpool, payload: e.rec.Payload()}))
}

// assignWaiting sends, in order, what waits for a member.
func (d *dispatch) assignWaiting() {
	for _, e := range d.queue {
		if e.member < 0 && !e.acked {
			d.assign(e)
			if e.member < 0 {
				return // no member has room
			}
		}
	}
}

func (d *dispatch) handle(ev memberEvent) {
	m := ev.m
	switch {
	case ev.up:
		m.conn, m.inflight = ev.c, 0
		d.assignWaiting()
	case ev.ack:
		if m.conn != ev.c {
			return // from a connection already given up
		}
		e := d.byKey[entryKey{ev.stream, ev.first}]
		if e == nil || e.acked || e.member != m.idx || e.rec.LastSeq() != ev.last {
			return
		}
		e.acked = true
		delete(d.byKey, entryKey{ev.stream, ev.first})
		m.inflight--
		m.acked.Add(uint64(e.rec.Count))
		if ev.dup {
			d.c.dups.Add(uint64(e.rec.Count))
		}
		d.advance()
		d.assignWaiting()
	case ev.err != nil:
		if m.conn != ev.c {
			return
		}
		m.conn, m.inflight = nil, 0
		// What it had in flight goes to the other member now, or to it
		// again when it is back; the listener suppresses what it stored.
		for _, e := range d.queue {
			if e.member == m.idx && !e.acked {
				delete(d.byKey, entryKey{e.stream, e.rec.FirstSeq})
				e.member, e.resend = -1, true
			}
		}
		d.assignWaiting()
	}
}

// advance pops the acknowledged prefix and acknowledges it in the spool.
func (d *dispatch) advance() {
	n, events := 0, uint64(0)
	for n < len(d.queue) && d.queue[n].acked {
		events += uint64(d.queue[n].rec.Count)
		n++
	}
	if n == 0 {
		return
	}
	through := d.queue[n-1].rec.LastSeq()
	clear(d.queue[:n])
	d.queue = d.queue[n:]
	for range n {
		<-d.tokens
	}
	if err := d.sp.Ack(through); err != nil {
		d.c.log.Error("spool acknowledge failed", "err", err)
	}
	d.c.acked.Add(events)
	if d.delivered != nil {
		d.delivered(events)
	}
}

// runMember keeps one member connected, backing off with jitter.
func (c *Client) runMember(ctx context.Context, m *member, events chan<- memberEvent) {
	backoff := 100 * time.Millisecond
	tell := func(ev memberEvent) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		cc, err := c.dial(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.failed(m, err)
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, 10*time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		backoff = 100 * time.Millisecond
		m.conns.Add(1)
		m.live.Store(cc)
		m.setState("up", nil)
		if m.errSince != (time.Time{}) {
			c.log.Info("base connected again", "base", m.Name, "addr", m.Addr)
		} else {
			c.log.Info("base connected", "base", m.Name, "addr", m.Addr, "peer", cc.peerGUID)
		}
		m.errSince = time.Time{}
		if !tell(memberEvent{m: m, c: cc, up: true}) {
			cc.close()
			return
		}
		err = cc.run(ctx, m, events)
		m.live.Store(nil)
		if ctx.Err() != nil {
			return
		}
		c.failed(m, err)
		if !tell(memberEvent{m: m, c: cc, err: err}) {
			return
		}
	}
}

// failed records why a member is down and logs it once per kind of error.
func (c *Client) failed(m *member, err error) {
	prev := m.lastErr.Load()
	m.setState("failed: "+err.Error(), err)
	if m.errSince.IsZero() || prev == nil || *prev != err.Error() {
		m.errSince = time.Now()
		c.log.Error("base unreachable: sending to it again once it answers", "base", m.Name, "addr", m.Addr, "err", err.Error())
	}
}

// Start and Shutdown make the client a component; its work is in Ship,
// which the spool's owner runs and stops.
func (c *Client) Start(context.Context) error    { return nil }
func (c *Client) Shutdown(context.Context) error { return nil }

// MemberStats is one base of a client as forwarder.bases shows it.
type MemberStats struct {
	Name      string `json:"name"`
	Addr      string `json:"address"`
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
	Sent      uint64 `json:"sent"`
	Acked     uint64 `json:"acknowledged"`
	Conns     uint64 `json:"connections_made"`
}

// ClientStats is the client's side of forwarder.bases.
type ClientStats struct {
	Members []MemberStats `json:"members"`
	Resent  uint64        `json:"resent"`
	Acked   uint64        `json:"acknowledged"`
	// Suppressed: acknowledged events the base said it had stored before
	// (resends it did not store twice).
	Suppressed uint64 `json:"duplicates_suppressed"`
}

func (c *Client) Stats() ClientStats {
	s := ClientStats{Resent: c.resent.Load(), Acked: c.acked.Load(), Suppressed: c.dups.Load()}
	for _, m := range c.members {
		ms := MemberStats{Name: m.Name, Addr: m.Addr, State: *m.state.Load(), Sent: m.sent.Load(), Acked: m.acked.Load(), Conns: m.conns.Load()}
		if p := m.lastErr.Load(); p != nil {
			ms.LastError = *p
		}
		s.Members = append(s.Members, ms)
	}
	return s
}

// Connection is one line of forwarder.connections.
type Connection struct {
	Base        string `json:"base"`
	Destination string `json:"destination"` // the base itself, or its pair (set by the destination's owner)
	Kind        string `json:"type"`        // base, pair or sentry (set by the destination's owner)
	ID          uint32 `json:"id"`
	PeerGUID    string `json:"peer_guid"`
	PeerName    string `json:"peer_name"`
	Remote      string `json:"remote"`
	Phase       string `json:"phase"`
	PingFailure int64  `json:"ping_failure"`
	InFlight    int64  `json:"in_flight"`
}

// Connections lists the members' live connections.
func (c *Client) Connections() []Connection {
	var out []Connection
	for _, m := range c.members {
		cc := m.live.Load()
		if cc == nil {
			continue
		}
		out = append(out, Connection{Base: m.Name, ID: cc.id, PeerGUID: cc.peerGUID, PeerName: cc.peerName,
			Remote: cc.remote, Phase: "post_hello", PingFailure: cc.pingFail.Load(), InFlight: cc.queued.Load()})
	}
	return out
}

// loadStream reads the stream id kept at path, making one the first time.
func loadStream(path string) (string, error) {
	fresh := func() string {
		b := make([]byte, 12)
		crand.Read(b)
		return hex.EncodeToString(b)
	}
	if path == "" {
		return fresh(), nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 24 {
			if _, err := hex.DecodeString(id); err == nil {
				return id, nil
			}
		}
		return fresh(), fmt.Errorf("%s: not a stream id", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fresh(), err
	}
	id := fresh()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return id, err
	}
	_, err = f.WriteString(id + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = spool.OSFS{}.SyncDir(filepath.Dir(path))
	}
	return id, err
}

package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
)

// Keys is the keystore registry as the relay uses it (certs.Registry):
// looked up at every connection, so a re-registered alias serves the next.
type Keys interface {
	Certificate(alias string) (*tls.Certificate, error)
	TrustPool(alias string) (*x509.CertPool, error)
}

// Router takes a batch at once as the input key (pipeline.Pipeline.Route).
type Router interface {
	Route(key string, b *event.Batch) bool
}

// Identity is what a node says of itself in hello: forwarder.setGuid and
// its host name.
type Identity struct{ GUID, Name string }

// ListenerConfig is what a listener is built from (forwarder.listen).
type ListenerConfig struct {
	Name       string // the input record's name
	Addr       string // host:port
	Key, Trust string // keystore aliases: our certificate, the CA senders' certificates come from
	Keys       Keys
	// Dir holds the intake spool and the duplicate-suppression state.
	Dir string
	// Buffer bounds the intake spool in bytes (default 1 GiB). When it is
	// full the listener stops acknowledging: senders keep their spools.
	Buffer   int64
	Identity func() Identity
	Router   Router
	Via      string // the input name filters and routes see (default "relay")
	Log      *slog.Logger
}

// Listener accepts batches from other Ferry nodes. A batch is acknowledged
// only once it is synced in the intake spool, together with the memory of
// the last sequence number stored per sender stream; a forwarder routes the
// intake into the local pipeline.
type Listener struct {
	cfg ListenerConfig
	log *slog.Logger
	dec *spool.Decoder

	ln    net.Listener
	sp    *spool.Spool
	st    stateStore
	state *dedupState // the committer's
	jobs  chan *job

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex
	conns map[*serverConn]struct{}

	batches, events, dupBatches, dupEvents, stored, routed, corrupt, refused atomic.Uint64
	replayed                                                                 uint64 // set at Start
	lastErr                                                                  atomic.Pointer[string]
}

// job is one batch waiting for the committer.
type job struct {
	c           *serverConn
	stream      string
	first, last uint64
	count       int
	payload     []byte
}

// NewListener validates cfg only.
func NewListener(cfg ListenerConfig) (*Listener, error) {
	switch {
	case cfg.Keys == nil || cfg.Router == nil || cfg.Identity == nil:
		return nil, fmt.Errorf("relay listener %q: no keystores, router or identity", cfg.Name)
	case cfg.Key == "" || cfg.Trust == "":
		return nil, fmt.Errorf("relay listener %q: needs a key alias and a trust alias (mutual TLS)", cfg.Name)
	case !filepath.IsAbs(cfg.Dir):
		return nil, fmt.Errorf("relay listener %q: directory %q is not absolute", cfg.Name, cfg.Dir)
	}
	if _, err := cfg.Keys.Certificate(cfg.Key); err != nil {
		return nil, fmt.Errorf("relay listener %q: key alias: %w", cfg.Name, err)
	}
	if _, err := cfg.Keys.TrustPool(cfg.Trust); err != nil {
		return nil, fmt.Errorf("relay listener %q: trust alias: %w", cfg.Name, err)
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1 << 30
	}
	if cfg.Via == "" {
		cfg.Via = "relay"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dec, err := spool.NewDecoder()
	if err != nil {
		return nil, err
	}
	return &Listener{cfg: cfg, dec: dec, log: cfg.Log.With("component", "relay", "listener", cfg.Name),
		st: stateStore{dir: cfg.Dir}, jobs: make(chan *job, 256), conns: map[*serverConn]struct{}{}}, nil
}

// Start opens the intake spool and the state, binds, and starts accepting.
func (l *Listener) Start(ctx context.Context) error {
	if err := os.MkdirAll(l.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("relay listener %q: %w", l.cfg.Name, err)
	}
	sp, err := spool.Open(spool.Options{Name: "relay-intake-" + l.cfg.Name, Dir: filepath.Join(l.cfg.Dir, "intake"),
		MaxBytes: l.cfg.Buffer, WhenFull: spool.Block, Sync: spool.SyncInterval, Log: l.cfg.Log})
	if err != nil {
		return fmt.Errorf("relay listener %q: intake: %w", l.cfg.Name, err)
	}
	st, err := l.st.load()
	if err != nil {
		sp.Close()
		return fmt.Errorf("relay listener %q: dedup state: %w", l.cfg.Name, err)
	}
	st.resolve(sp.NextSeq())
	if err := l.st.save(st); err != nil {
		sp.Close()
		return fmt.Errorf("relay listener %q: dedup state: %w", l.cfg.Name, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.cfg.Addr)
	if err != nil {
		sp.Close()
		return fmt.Errorf("relay listener %q: %w", l.cfg.Name, err)
	}
	// After an unclean stop, what the intake holds at start may have been
	// routed already (its cursor is synced once a second): counted as
	// possible duplicates of this node's own outputs.
	l.replayed = sp.Stats().Recovery.Replayable
	l.ln, l.sp, l.state = ln, sp, st
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(3)
	go l.accept()
	go l.commitLoop()
	go l.forward()
	l.log.Info("relay listener open", "addr", ln.Addr().String(), "key", l.cfg.Key, "trust", l.cfg.Trust)
	return nil
}

// Addr is where it listens.
func (l *Listener) Addr() string {
	if l.ln == nil {
		return l.cfg.Addr
	}
	return l.ln.Addr().String()
}

// Shutdown stops accepting, closes the connections (what they had not got
// acknowledged, their senders send again), lets the forwarder finish the
// batch it routes, and closes the intake. Idempotent.
func (l *Listener) Shutdown(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		if l.cancel == nil {
			return // never started
		}
		l.cancel()
		l.ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.close()
		}
		l.mu.Unlock()
		done := make(chan struct{})
		go func() {
			l.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
			err = l.sp.Close()
		case <-ctx.Done():
			// The forwarder is held by a destination that blocks (a full
			// spool under --when-full block). What it was routing stays in
			// the intake, unacknowledged, and is routed at the next start.
			err = fmt.Errorf("relay listener %q: still routing at the deadline: %w", l.cfg.Name, ctx.Err())
		}
	})
	return err
}

func (l *Listener) setErr(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.lastErr.Store(&msg)
}

func (l *Listener) accept() {
	defer l.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.log.Error("accept failed", "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		c := &serverConn{l: l, nc: nc, out: make(chan []byte, 1024), pending: make(chan *job, 512), done: make(chan struct{})}
		l.mu.Lock()
		if l.ctx.Err() != nil {
			l.mu.Unlock()
			nc.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go c.serve()
	}
}

// tlsConfig is looked up at each handshake: TLS 1.3, our key alias, and a
// client certificate signed by the trust alias required.
func (l *Listener) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, err := l.cfg.Keys.Certificate(l.cfg.Key)
		if err != nil {
			return nil, err
		}
		pool, err := l.cfg.Keys.TrustPool(l.cfg.Trust)
		if err != nil {
			return nil, err
		}
		return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}, nil
	}}
}

// commitLoop stores batches in groups: dedup, intents saved, appended,
// one sync, then the acknowledgements.
func (l *Listener) commitLoop() {
	defer l.wg.Done()
	var group []*job
	for {
		group = group[:0]
		select {
		case <-l.ctx.Done():
			return
		case j := <-l.jobs:
			group = append(group, j)
		}
		size := len(group[0].payload)
	more:
		for len(group) < 256 && size < 16<<20 {
			select {
			case j := <-l.jobs:
				group = append(group, j)
				size += len(j.payload)
			default:
				break more
			}
		}
		l.commit(group)
	}
}

func (l *Listener) commit(group []*job) {
	st := l.state
	next := l.sp.NextSeq()
	seen := map[string]uint64{} // highest in this group, per stream
	var todo []*job
	for _, j := range group {
		if j.last <= max(st.high[j.stream], seen[j.stream]) {
			// Stored before (a resend after a reconnect or an edge crash):
			// acknowledged again, not stored twice.
			l.dupBatches.Add(1)
			l.dupEvents.Add(uint64(j.count))
			j.c.ack(j, true)
			continue
		}
		end := next + uint64(j.count) - 1
		next = end + 1
		st.pending = append(st.pending, intent{stream: j.stream, last: j.last, end: end})
		seen[j.stream] = j.last
		todo = append(todo, j)
	}
	if len(todo) == 0 {
		return
	}
	fail := func(js []*job, err error) {
		l.setErr("store: %v", err)
		l.log.Error("could not store batches; their connections close and the senders send again", "batches", len(js), "err", err)
		for _, j := range js {
			j.c.close()
		}
	}
	if err := l.st.save(st); err != nil {
		st.pending = nil
		fail(todo, err)
		return
	}
	n := 0
	for _, j := range todo {
		if err := l.sp.AppendPayload(l.ctx, j.payload, j.count); err != nil {
			fail(todo[n:], err)
			break
		}
		n++
	}
	if err := l.sp.Sync(); err != nil {
		st.resolve(0) // nothing is known stored: forget the intents
		fail(todo[:n], err)
		return
	}
	st.resolve(l.sp.NextSeq())
	for _, j := range todo[:n] {
		l.stored.Add(uint64(j.count))
		j.c.ack(j, false)
	}
}

// forward routes the intake into the pipeline in order and acknowledges it
// there once routed.
func (l *Listener) forward() {
	defer l.wg.Done()
	pool := event.NewPool(4096, 4<<20)
	for {
		rec, err := l.sp.Next(l.ctx)
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			l.log.Error("intake read failed", "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		b, err := rec.Decode(pool)
		if err != nil {
			l.corrupt.Add(uint64(rec.Count))
			l.setErr("intake record %d does not decode: %v", rec.FirstSeq, err)
			l.sp.Ack(rec.LastSeq())
			continue
		}
		if !l.cfg.Router.Route(l.cfg.Via, b) {
			b.Release()
			return // the pipeline is stopping; the record stays in the intake
		}
		l.routed.Add(uint64(rec.Count))
		if err := l.sp.Ack(rec.LastSeq()); err != nil {
			l.log.Error("intake acknowledge failed", "err", err)
		}
	}
}

// ListenerStats is what forwarder.listeners shows.
type ListenerStats struct {
	Connections   int     `json:"connections"`
	Batches       uint64  `json:"batches"`
	Events        uint64  `json:"events"`
	Stored        uint64  `json:"stored"`
	Routed        uint64  `json:"routed"`
	DupBatches    uint64  `json:"duplicate_batches"`
	DupEvents     uint64  `json:"duplicates_suppressed"`
	Replayed      uint64  `json:"replayed_at_start"`
	Corrupt       uint64  `json:"corrupt"`
	Refused       uint64  `json:"refused"`
	IntakeBytes   int64   `json:"intake_bytes"`
	IntakeLimit   int64   `json:"intake_limit"`
	IntakeQueued  uint64  `json:"intake_queued"`
	OldestSeconds float64 `json:"intake_oldest_seconds"`
	LastError     string  `json:"last_error,omitempty"`
	Peers         []Peer  `json:"peers,omitempty"`
}

// Peer is one connected sender.
type Peer struct {
	ID     uint32 `json:"id"`
	GUID   string `json:"guid"`
	Name   string `json:"name"`
	Remote string `json:"remote"`
}

// Stats are the listener's counters.
func (l *Listener) Stats() ListenerStats {
	s := ListenerStats{Batches: l.batches.Load(), Events: l.events.Load(), Stored: l.stored.Load(), Routed: l.routed.Load(),
		DupBatches: l.dupBatches.Load(), DupEvents: l.dupEvents.Load(), Replayed: l.replayed, Corrupt: l.corrupt.Load(),
		Refused: l.refused.Load(), IntakeLimit: l.cfg.Buffer}
	if p := l.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	if l.sp != nil {
		st := l.sp.Stats()
		s.IntakeBytes, s.IntakeQueued = st.Bytes, st.Events
		if !st.OldestUnacked.IsZero() {
			s.OldestSeconds = time.Since(st.OldestUnacked).Seconds()
		}
	}
	l.mu.Lock()
	for c := range l.conns {
		if p := c.peer.Load(); p != nil {
			s.Peers = append(s.Peers, *p)
		}
	}
	s.Connections = len(l.conns)
	l.mu.Unlock()
	return s
}

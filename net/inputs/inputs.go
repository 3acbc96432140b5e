// Package inputs owns the receivers the operator opened (syslog.open): their
// records are desired state in the confdb, and Open, Close and boot bring the
// running receivers to it through internal/liveconf, as the HTTP bindings do.
// Each receiver hands its batches to the one sink (the pipeline).
package inputs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/net/snmptrap"
	"github.com/ferry-appliance/ferry/net/syslog"
	"github.com/ferry-appliance/ferry/net/syslog/syslogmsg"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// RecordTable is where receivers persist (store.Table[store.Input]).
type RecordTable interface {
	liveconf.Table[store.Input]
	List() ([]store.Input, map[string]error, error)
}

// Keys is the keystore registry as TLS receivers and relay listeners use it
// (certs.Registry).
type Keys = relay.Keys

// Config is what the manager is built from.
type Config struct {
	Records RecordTable
	Keys    Keys // for tls receivers; nil refuses them
	Sink    event.Sink
	Pool    *event.Pool
	// Relay listeners (forwarder.listen) route what they stored through
	// Router and keep their intake spools under RelayDir/<name>; Identity
	// is this node in the protocol's hello.
	Router   relay.Router
	RelayDir string
	Identity func() relay.Identity
	Status   *status.Model
	Log      *slog.Logger
}

// receiver is a running syslog or SNMP trap receiver.
type receiver interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
	Addr() string
	Counters() Counters
}

// Counters are what every receiver reports.
type Counters struct {
	Received    uint64
	QueueDrops  uint64
	Malformed   uint64
	KernelDrops uint64
	Truncated   uint64 // cut at the size limit (kept, shortened)
	Invalid     uint64 // byte sequences invalid in the charset, replaced by U+FFFD
	Refused     uint64 // tcp: connections over a cap, closed at once
	// snmptrap: traps with the wrong community (dropped), and informs acknowledged.
	BadCommunity, Informs uint64
	RcvBuf                int
	Readers               int
}

// Manager owns the receivers.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // serialises changes
	running  map[string]*input
	view     atomic.Pointer[[]*input] // for readers: lists never wait for a change
	reg      *status.Registration
	trapReg  *status.Registration
	relayReg *status.Registration
	closed   bool
}

// input is one record and what runs for it.
type input struct {
	rec     store.Input
	sources *syslog.Sources
	r       receiver // nil when failed
	err     error    // why it is not running
	since   time.Time
}

// New validates the configuration only.
func New(cfg Config) (*Manager, error) {
	if cfg.Records == nil || cfg.Sink == nil || cfg.Pool == nil {
		return nil, errors.New("inputs: no record table, sink or batch pool")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, log: cfg.Log.With("component", "inputs"), running: map[string]*input{}}, nil
}

// Start opens every stored receiver; one that cannot open is listed as
// failed: <reason> and the rest run.
func (m *Manager) Start(ctx context.Context) error {
	recs, bad, err := m.cfg.Records.List()
	if err != nil {
		return fmt.Errorf("inputs: %w", err)
	}
	if m.cfg.Status != nil {
		if m.reg, err = m.cfg.Status.Register("syslog", nil, m.fields); err != nil {
			return err
		}
		if m.trapReg, err = m.cfg.Status.Register("snmptrap", nil, m.trapFields); err != nil {
			m.reg.Remove()
			return err
		}
		if m.relayReg, err = m.cfg.Status.Register("relay", nil, m.relayFields); err != nil {
			m.reg.Remove()
			m.trapReg.Remove()
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.publish()
	for _, rec := range recs {
		in := &input{rec: rec}
		if err := m.start(ctx, in); err != nil {
			m.log.Error("receiver failed", "input", rec.Name, "err", err)
		}
		m.running[rec.Name] = in
	}
	for key, err := range bad {
		m.running[key] = &input{rec: store.Input{Name: key}, err: err}
	}
	return nil
}

// Shutdown stops every receiver. Idempotent.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.reg.Remove()
	m.trapReg.Remove()
	m.relayReg.Remove()
	var errs []error
	for _, in := range m.running {
		if in.r != nil {
			if err := in.r.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("input %q: %w", in.rec.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) publish() {
	list := make([]*input, 0, len(m.running))
	for _, in := range m.running {
		list = append(list, in)
	}
	slices.SortFunc(list, func(a, b *input) int { return strings.Compare(a.rec.Name, b.rec.Name) })
	m.view.Store(&list)
}

// build makes the receiver rec describes, validating only; it counts per
// source into src.
func (m *Manager) build(rec store.Input, src *syslog.Sources) (receiver, error) {
	addr := net.JoinHostPort(rec.Bind, strconv.Itoa(rec.Port))
	switch rec.Kind {
	case "snmptrap":
		if rec.Proto != "udp" {
			return nil, fmt.Errorf("input %q: snmptrap listens on udp, not %q", rec.Name, rec.Proto)
		}
		r, err := snmptrap.New(snmptrap.Config{Name: rec.Name, Addr: addr, Community: rec.Community, Sources: src,
			Sink: m.cfg.Sink, Pool: m.cfg.Pool, Log: m.cfg.Log})
		if err != nil {
			return nil, err
		}
		return trapReceiver{r}, nil
	case "relay":
		if m.cfg.Router == nil || m.cfg.RelayDir == "" || m.cfg.Identity == nil || m.cfg.Keys == nil {
			return nil, fmt.Errorf("input %q: this node cannot listen for the relay", rec.Name)
		}
		if rec.Proto != "tcp" {
			return nil, fmt.Errorf("input %q: the relay listens on tcp, not %q", rec.Name, rec.Proto)
		}
		l, err := relay.NewListener(relay.ListenerConfig{Name: rec.Name, Addr: addr, Key: rec.Key, Trust: rec.Trust, Keys: m.cfg.Keys,
			Dir: filepath.Join(m.cfg.RelayDir, rec.Name), Identity: m.cfg.Identity, Router: m.cfg.Router, Log: m.cfg.Log})
		if err != nil {
			return nil, err
		}
		return relayReceiver{l}, nil
	case "syslog", "":
	default:
		return nil, fmt.Errorf("input %q: kind %q: use syslog, snmptrap or relay", rec.Name, rec.Kind)
	}
	switch rec.Proto {
	case "udp":
		u, err := syslog.NewUDP(syslog.UDPConfig{Name: rec.Name, Addr: addr, Readers: rec.Readers, RcvBuf: rec.RcvBuf,
			MaxSize: rec.MaxSize, Charset: rec.Charset, Sources: src, Sink: m.cfg.Sink, Pool: m.cfg.Pool, Log: m.cfg.Log})
		if err != nil {
			return nil, err
		}
		return udpReceiver{u}, nil
	case "tcp", "tls":
		cfg := syslog.TCPConfig{Name: rec.Name, Addr: addr, MaxSize: rec.MaxSize, Charset: rec.Charset, Sources: src, Sink: m.cfg.Sink, Pool: m.cfg.Pool, Log: m.cfg.Log}
		if rec.Proto == "tls" {
			tc, err := m.tlsConfig(rec)
			if err != nil {
				return nil, err
			}
			cfg.TLS = tc
		} else if rec.Key != "" || rec.Trust != "" {
			return nil, fmt.Errorf("input %q: --key and --trust are for tls", rec.Name)
		}
		t, err := syslog.NewTCP(cfg)
		if err != nil {
			return nil, err
		}
		return tcpReceiver{t}, nil
	}
	return nil, fmt.Errorf("input %q: protocol %q: use udp, tcp or tls", rec.Name, rec.Proto)
}

// tlsConfig looks rec's key and trust aliases up at every handshake (RFC
// 5425), so a re-registered alias serves the next connection.
func (m *Manager) tlsConfig(rec store.Input) (*tls.Config, error) {
	if m.cfg.Keys == nil {
		return nil, fmt.Errorf("input %q: no keystore registry for tls", rec.Name)
	}
	if rec.Key == "" {
		return nil, fmt.Errorf("input %q: tls needs --key ALIAS", rec.Name)
	}
	if _, err := m.cfg.Keys.Certificate(rec.Key); err != nil {
		return nil, fmt.Errorf("input %q: key alias: %w", rec.Name, err)
	}
	if rec.Trust != "" {
		if _, err := m.cfg.Keys.TrustPool(rec.Trust); err != nil {
			return nil, fmt.Errorf("input %q: trust alias: %w", rec.Name, err)
		}
	}
	keys := m.cfg.Keys
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, err := keys.Certificate(rec.Key)
		if err != nil {
			return nil, err
		}
		c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
		if rec.Trust != "" {
			pool, err := keys.TrustPool(rec.Trust)
			if err != nil {
				return nil, err
			}
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		return c, nil
	}}, nil
}

// start builds and starts in's receiver, recording why when it cannot.
func (m *Manager) start(ctx context.Context, in *input) error {
	if in.sources == nil {
		in.sources = syslog.NewSources(0)
	}
	r, err := m.build(in.rec, in.sources)
	if err == nil {
		err = r.Start(ctx)
	}
	if err != nil {
		in.r, in.err = nil, err
		return err
	}
	in.r, in.err, in.since = r, nil, time.Now()
	return nil
}

// namePattern is what a receiver may be called.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Spec is what syslog.open asks for: the record without its time.
type Spec = store.Input

// Check validates rec, changing nothing.
func (m *Manager) Check(rec store.Input) error {
	if !namePattern.MatchString(rec.Name) {
		return fmt.Errorf("input name %q: use 1-32 letters, digits, '.', '_' or '-'", rec.Name)
	}
	if rec.Port < 1 || rec.Port > 65535 {
		return fmt.Errorf("port %d: must be 1-65535", rec.Port)
	}
	if _, err := syslogmsg.NewDecoder(rec.Charset); err != nil {
		return fmt.Errorf("input %q: charset %q: not known (use %s)", rec.Name, rec.Charset, syslogmsg.KnownCharsets)
	}
	_, err := m.build(rec, nil)
	return err
}

// Sources is the per-source table of the receiver name (syslog.stats).
func (m *Manager) Sources(name string) (*syslog.Sources, error) {
	if v := m.view.Load(); v != nil {
		for _, in := range *v {
			if in.rec.Name == name && in.sources != nil {
				return in.sources, nil
			}
		}
	}
	return nil, fmt.Errorf("input %q: not open (syslog.servers lists them)", name)
}

// Open starts the receiver rec describes, or replaces the one of that name:
// the new one starts first where it can (another port), else the old one
// steps aside and comes back if the new one fails. What fails saves nothing.
func (m *Manager) Open(ctx context.Context, rec store.Input) (Info, *Info, error) {
	if err := m.Check(rec); err != nil {
		return Info{}, nil, err
	}
	rec.Opened = time.Now().UTC()
	if dec, _ := syslogmsg.NewDecoder(rec.Charset); !dec.UTF8() {
		rec.Charset = dec.Name() // as syslog.servers shows it
	} else {
		rec.Charset = ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Info{}, nil, errors.New("inputs: shutting down")
	}
	for _, in := range m.running {
		if in.rec.Name != rec.Name && in.rec.Port == rec.Port && in.rec.Proto == rec.Proto && in.r != nil {
			return Info{}, nil, fmt.Errorf("port %d/%s: already used by input %q", rec.Port, rec.Proto, in.rec.Name)
		}
	}
	old := m.running[rec.Name]
	var replaced *Info
	if old != nil {
		i := old.info()
		replaced = &i
	}
	next := &input{rec: rec}
	if old != nil {
		next.sources = old.sources // reopening keeps what was counted per source
	}
	keep := liveconf.KeepsFailed(ctx)
	_, err := liveconf.Commit(m.cfg.Records, m.log, rec.Name, &rec, func(_, _ *store.Input) error {
		samePort := old != nil && old.r != nil && old.rec.Port == rec.Port && old.rec.Proto == rec.Proto
		if !samePort {
			if err := m.start(ctx, next); err != nil {
				if keep && old == nil {
					m.log.Error("receiver failed; kept as configured", "input", rec.Name, "err", err)
					return nil
				}
				return err
			}
			if old != nil && old.r != nil {
				old.r.Shutdown(ctx)
			}
			return nil
		}
		old.r.Shutdown(ctx)
		if err := m.start(ctx, next); err != nil {
			if rerr := m.start(ctx, old); rerr != nil {
				m.log.Error("receiver not restored", "input", rec.Name, "err", rerr)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return Info{}, nil, fmt.Errorf("input %q: %w", rec.Name, err)
	}
	m.running[rec.Name] = next
	m.publish()
	if next.r != nil {
		m.log.Info("receiver opened", "input", rec.Name, "proto", rec.Proto, "addr", next.r.Addr())
	}
	return next.info(), replaced, nil
}

// Close stops the receiver and forgets it.
func (m *Manager) Close(ctx context.Context, name string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.running[name]
	if in == nil {
		return Info{}, fmt.Errorf("input %q: not open (syslog.servers lists them)", name)
	}
	_, err := liveconf.Commit(m.cfg.Records, m.log, name, nil, func(_, _ *store.Input) error {
		if in.r != nil {
			in.r.Shutdown(ctx)
		}
		return nil
	})
	if err != nil {
		return Info{}, fmt.Errorf("input %q: %w", name, err)
	}
	delete(m.running, name)
	m.publish()
	out := in.info()
	out.State = "closed"
	return out, nil
}

// Info describes a receiver for syslog.servers and the console.
type Info struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // syslog or snmptrap
	Address     string `json:"address"`
	Proto       string `json:"proto"`
	Charset     string `json:"charset"`
	RcvBuf      int    `json:"rx_buf_size"`
	Readers     int    `json:"readers"`
	State       string `json:"state"` // listening, or failed: <reason>
	Received    uint64 `json:"received"`
	Dropped     uint64 `json:"dropped"`
	QueueDrops  uint64 `json:"dropped_queue"`
	Malformed   uint64 `json:"dropped_malformed"`
	KernelDrops uint64 `json:"dropped_kernel"`
	Truncated   uint64 `json:"truncated"`
	Invalid     uint64 `json:"invalid_sequences"`
	Refused     uint64 `json:"refused_connections"`
	// snmptrap
	BadCommunity uint64    `json:"dropped_community,omitempty"`
	Informs      uint64    `json:"informs,omitempty"`
	Since        time.Time `json:"since,omitzero"`
	// relay: the listener's aliases and figures.
	Key   string               `json:"key,omitempty"`
	Trust string               `json:"trust,omitempty"`
	Relay *relay.ListenerStats `json:"relay,omitempty"`
}

func (in *input) info() Info {
	bind := in.rec.Bind
	if bind == "" {
		bind = "0.0.0.0"
	}
	charset := in.rec.Charset
	if charset == "" {
		charset = "UTF-8"
	}
	kind := in.rec.Kind
	if kind == "" {
		kind = "syslog"
	}
	out := Info{Name: in.rec.Name, Kind: kind, Address: net.JoinHostPort(bind, strconv.Itoa(in.rec.Port)), Proto: in.rec.Proto,
		Charset: charset, State: "listening", Since: in.since}
	if in.r == nil {
		out.State = "failed: " + in.err.Error()
		return out
	}
	c := in.r.Counters()
	out.RcvBuf, out.Readers, out.Received = c.RcvBuf, c.Readers, c.Received
	out.QueueDrops, out.Malformed, out.KernelDrops = c.QueueDrops, c.Malformed, c.KernelDrops
	out.Truncated, out.Refused, out.Invalid = c.Truncated, c.Refused, c.Invalid
	out.BadCommunity, out.Informs = c.BadCommunity, c.Informs
	out.Dropped = c.QueueDrops + c.Malformed + c.KernelDrops + c.BadCommunity
	if r, ok := in.r.(relayReceiver); ok {
		st := r.Stats()
		out.Relay, out.Key, out.Trust = &st, in.rec.Key, in.rec.Trust
	}
	return out
}

// List describes every receiver, by name.
func (m *Manager) List() []Info {
	v := m.view.Load()
	if v == nil {
		return nil
	}
	out := make([]Info, 0, len(*v))
	for _, in := range *v {
		out = append(out, in.info())
	}
	return out
}

// The syslog section's fields (ferry_syslog_*), by listener.
var (
	inUp       = status.NewGauge("up", "", "1 if the receiver is listening", "listener")
	inReceived = status.NewCounter("received_total", "Messages received", "listener")
	inDropped  = status.NewCounter("dropped_total", "Messages dropped, by reason (queue: the pipeline was full; malformed; kernel: the socket buffer was full)", "listener", "reason")
	inCut      = status.NewCounter("truncated_total", "Messages cut at the size limit and passed on shortened", "listener")
	inInvalid  = status.NewCounter("invalid_sequences_total", "Byte sequences invalid in the receiver's charset, replaced by U+FFFD", "listener")
	inRefused  = status.NewCounter("refused_connections_total", "TCP connections refused over the per-listener or per-source cap", "listener")
)

func (m *Manager) fields() []status.Field {
	var out []status.Field
	for _, in := range m.List() {
		if in.Kind != "syslog" {
			continue
		}
		out = append(out, inUp.Field(in.State == "listening", in.Name), inReceived.Field(in.Received, in.Name),
			inDropped.Field(in.QueueDrops, in.Name, "queue"), inDropped.Field(in.Malformed, in.Name, "malformed"),
			inDropped.Field(in.KernelDrops, in.Name, "kernel"), inCut.Field(in.Truncated, in.Name), inInvalid.Field(in.Invalid, in.Name), inRefused.Field(in.Refused, in.Name))
	}
	return out
}

// The relay section's fields (ferry_relay_*), by listener (forwarder.listen).
var (
	relayUp       = status.NewGauge("up", "", "1 if the relay listener is listening", "listener")
	relayConns    = status.NewGauge("connections", "", "Senders connected", "listener")
	relayStored   = status.NewCounter("stored_total", "Events stored in the intake spool and acknowledged", "listener")
	relayRouted   = status.NewCounter("routed_total", "Events routed from the intake spool into the pipeline", "listener")
	relayDups     = status.NewCounter("duplicates_suppressed_total", "Events a sender sent again that were already stored: acknowledged, not stored twice", "listener")
	relayReplayed = status.NewGauge("replayed_at_start", "", "Events the intake may have routed before an unclean stop and routes again (possible duplicates)", "listener")
	relayCorrupt  = status.NewCounter("corrupt_total", "Events in batches that did not decode (their connection was closed)", "listener")
	relayRefused  = status.NewCounter("refused_total", "Connections refused: TLS handshake or hello failed", "listener")
	relayQueued   = status.NewGauge("intake_events", "", "Events in the intake spool not yet routed", "listener")
)

func (m *Manager) relayFields() []status.Field {
	var out []status.Field
	for _, in := range m.List() {
		if in.Kind != "relay" {
			continue
		}
		out = append(out, relayUp.Field(in.State == "listening", in.Name))
		if r := in.Relay; r != nil {
			out = append(out, relayConns.Field(r.Connections, in.Name), relayStored.Field(r.Stored, in.Name), relayRouted.Field(r.Routed, in.Name),
				relayDups.Field(r.DupEvents, in.Name), relayReplayed.Field(r.Replayed, in.Name), relayCorrupt.Field(r.Corrupt, in.Name),
				relayRefused.Field(r.Refused, in.Name), relayQueued.Field(r.IntakeQueued, in.Name))
		}
	}
	return out
}

// The snmptrap section's fields (ferry_snmptrap_*), by listener.
var (
	trapUp       = status.NewGauge("up", "", "1 if the receiver is listening", "listener")
	trapReceived = status.NewCounter("received_total", "Traps received", "listener")
	trapDropped  = status.NewCounter("dropped_total", "Traps dropped, by reason (queue: the pipeline was full; malformed; community: not the configured one; kernel: the socket buffer was full)", "listener", "reason")
	trapInforms  = status.NewCounter("informs_total", "SNMPv2c informs received and acknowledged", "listener")
)

func (m *Manager) trapFields() []status.Field {
	var out []status.Field
	for _, in := range m.List() {
		if in.Kind != "snmptrap" {
			continue
		}
		out = append(out, trapUp.Field(in.State == "listening", in.Name), trapReceived.Field(in.Received, in.Name),
			trapDropped.Field(in.QueueDrops, in.Name, "queue"), trapDropped.Field(in.Malformed, in.Name, "malformed"),
			trapDropped.Field(in.BadCommunity, in.Name, "community"), trapDropped.Field(in.KernelDrops, in.Name, "kernel"),
			trapInforms.Field(in.Informs, in.Name))
	}
	return out
}

// trapReceiver adapts snmptrap.Receiver.
type trapReceiver struct{ *snmptrap.Receiver }

func (r trapReceiver) Counters() Counters {
	s := r.Stats()
	return Counters{Received: s.Received, QueueDrops: s.QueueDrops, Malformed: s.Malformed, BadCommunity: s.BadCommunity, Informs: s.Informs, Readers: 1}
}

// tcpReceiver adapts syslog.TCP.
// relayReceiver is a relay listener (forwarder.listen).
type relayReceiver struct{ *relay.Listener }

func (r relayReceiver) Counters() Counters {
	s := r.Stats()
	return Counters{Received: s.Events, Malformed: s.Corrupt, Refused: s.Refused, Readers: s.Connections}
}

type tcpReceiver struct{ *syslog.TCP }

func (t tcpReceiver) Counters() Counters {
	s := t.Stats()
	return Counters{Received: s.Received, QueueDrops: s.QueueDrops, Malformed: s.Framing, Truncated: s.Truncated, Invalid: s.Invalid, Refused: s.Refused, Readers: int(s.Conns)}
}

// udpReceiver adapts syslog.UDP.
type udpReceiver struct{ *syslog.UDP }

func (u udpReceiver) Counters() Counters {
	s := u.Stats()
	return Counters{Received: s.Received, QueueDrops: s.QueueDrops, Malformed: s.Malformed, Invalid: s.Invalid, KernelDrops: s.KernelDrops, Truncated: s.Truncated, RcvBuf: s.RcvBuf, Readers: s.Readers}
}

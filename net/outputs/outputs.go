// Package outputs owns the destinations and the routes the operator set
// (forwarder.addOutput, route.add): records in the confdb, brought to running
// destinations through internal/liveconf, and handed to the pipeline as one
// table each time they change.
package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/net/output/file"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// OutputTable and RouteTable are where they persist (store.Table).
type (
	OutputTable interface {
		liveconf.Table[store.Output]
		List() ([]store.Output, map[string]error, error)
	}
	RouteTable interface {
		liveconf.Table[store.Route]
		List() ([]store.Route, map[string]error, error)
	}
	FilterTable interface {
		liveconf.Table[store.Filter]
		List() ([]store.Filter, map[string]error, error)
	}
)

// Router takes the route table (pipeline.Pipeline).
type Router interface{ SetTable(*pipeline.Table) }

// Config is what the manager is built from.
type Config struct {
	Outputs OutputTable
	Routes  RouteTable
	Filters FilterTable
	Router  Router
	// SpoolDir holds one spool per destination (<data-dir>/spool).
	SpoolDir string
	// Relay is what bases and pairs need (nil Keys: none can be added).
	Relay  RelayDeps
	Status *status.Model
	Log    *slog.Logger
}

// destination is a running output.
type destination interface {
	pipeline.Destination
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
	Counters() Counters
}

// Counters are what every destination reports.
type Counters struct {
	EventsIn, Written, Errors uint64
	LastError                 string
}

// Manager owns the destinations and routes.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	outs    map[string]*output
	routes  []store.Route
	filters []*filterRule // in the order they were added
	reg     *status.Registration
	freg    *status.Registration
	closed  bool
	started bool
	// sentries are the running sentry bases (Sentry reads them without mu).
	sentries atomic.Pointer[[]destination]
}

type output struct {
	rec    store.Output
	d      destination // nil when failed, or a base in a pair
	err    error
	member string // the pair this base is in: the pair carries its traffic
}

// New validates the configuration only.
func New(cfg Config) (*Manager, error) {
	if cfg.Outputs == nil || cfg.Routes == nil || cfg.Filters == nil || cfg.Router == nil {
		return nil, errors.New("outputs: no output table, route table, filter table or router")
	}
	if !filepath.IsAbs(cfg.SpoolDir) {
		return nil, fmt.Errorf("outputs: spool directory %q is not absolute", cfg.SpoolDir)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, log: cfg.Log.With("component", "outputs"), outs: map[string]*output{}}, nil
}

// Start starts every stored destination (one that cannot is failed: <reason>)
// and hands the routes to the pipeline.
func (m *Manager) Start(ctx context.Context) error {
	recs, _, err := m.cfg.Outputs.List()
	if err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	routes, _, err := m.cfg.Routes.List()
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	filters, bad, err := m.cfg.Filters.List()
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	for name, err := range bad {
		m.log.Error("filter record unreadable; it is not applied", "filter", name, "err", err)
	}
	if m.cfg.Status != nil {
		if m.reg, err = m.cfg.Status.Register("output", nil, m.fields); err != nil {
			return err
		}
		if m.freg, err = m.cfg.Status.Register("filter", nil, m.filterFields); err != nil {
			m.reg.Remove()
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started = true
	for _, rec := range recs {
		m.outs[rec.Name] = &output{rec: rec}
	}
	for _, rec := range recs {
		if rec.Type == "pair" {
			for _, name := range rec.Members {
				if o := m.outs[name]; o != nil && o.rec.Type == "base" {
					o.member = rec.Name
				}
			}
		}
	}
	// Pairs last: they are built from their bases' records.
	for _, pairs := range []bool{false, true} {
		for _, rec := range recs {
			o := m.outs[rec.Name]
			if (rec.Type == "pair") != pairs || o.member != "" {
				continue
			}
			if o.d, o.err = m.start(ctx, rec); o.err != nil {
				m.log.Error("destination failed", "output", rec.Name, "err", o.err)
			}
		}
	}
	m.routes = routes
	slices.SortFunc(filters, func(a, b store.Filter) int { return a.Added.Compare(b.Added) })
	for _, rec := range filters {
		f, err := compileFilter(rec)
		if err != nil {
			// A record the confdb holds was valid when added; one that no
			// longer compiles (a newer release's syntax) shows as failed.
			m.log.Error("filter failed", "filter", rec.Name, "err", err)
			f = &filterRule{rec: rec, err: err}
		}
		m.filters = append(m.filters, f)
	}
	m.publish()
	return nil
}

// Shutdown stops routing to them, then stops every destination. Idempotent.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.reg.Remove()
	m.freg.Remove()
	// A blocking spool that is full must not hold the table swap up.
	for _, o := range m.outs {
		abandon(o.d)
	}
	m.cfg.Router.SetTable(&pipeline.Table{})
	var errs []error
	for _, o := range m.outs {
		if o.d != nil {
			if err := o.d.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("output %q: %w", o.rec.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Spec is what forwarder.addOutput asks for; Route is one route.
type (
	Spec  = store.Output
	Route = store.Route
)

// Types lists the destination types this release has.
func Types() []string { return []string{"discard", "file"} }

// build makes the destination rec describes, validating only.
func (m *Manager) build(rec store.Output) (destination, error) {
	name := rec.Name
	if rec.Sentry {
		// Sentry bases have a namespace of their own (the guide names one
		// "control" beside the forwarder's pair "control").
		var ok bool
		if name, ok = strings.CutPrefix(name, SentryPrefix); !ok || rec.Type != "base" {
			return nil, fmt.Errorf("sentry base %q: not in the sentry namespace", rec.Name)
		}
	}
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("output name %q: use 1-32 letters, digits, '.', '_' or '-'", name)
	}
	switch rec.Type {
	case "discard":
		if rec.Target != "" {
			return nil, fmt.Errorf("output %q: discard takes no target", rec.Name)
		}
		if rec.Buffer != 0 || rec.Memory || rec.Sync != "" || rec.WhenFull != "" || rec.MaxAge != 0 {
			return nil, fmt.Errorf("output %q: discard has no spool (it measures ingest alone): --buffer, --sync, --when-full and --max-age do not apply", rec.Name)
		}
		return &discard{Discard: pipeline.NewDiscard(rec.Name)}, nil
	}
	ep, err := m.endpoint(rec)
	if err != nil {
		return nil, err
	}
	opts, err := m.spoolOptions(rec)
	if err != nil {
		return nil, err
	}
	return newSpooled(rec.Name, ep, opts, rec.Paused, m.log), nil
}

// endpoint makes what a spooled destination delivers to (validation only).
func (m *Manager) endpoint(rec store.Output) (endpoint, error) {
	switch rec.Type {
	case "base", "pair":
		return m.buildRelay(rec)
	case "file":
		if !filepath.IsAbs(rec.Target) {
			return nil, fmt.Errorf("output %q: file needs an absolute directory, not %q", rec.Name, rec.Target)
		}
		return file.New(file.Config{Name: rec.Name, Dir: rec.Target, MaxSize: rec.MaxSize, Compress: rec.Compress, Log: m.cfg.Log})
	}
	return nil, fmt.Errorf("output %q: type %q: use %s", rec.Name, rec.Type, strings.Join(Types(), " or "))
}

func (m *Manager) start(ctx context.Context, rec store.Output) (destination, error) {
	d, err := m.build(rec)
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		d.Shutdown(ctx) // what a failed Start set up (contexts, a half-opened spool)
		return nil, err
	}
	return d, nil
}

// publish hands the pipeline the table for the filters, routes and running destinations. Callers hold mu.
func (m *Manager) publish() {
	t := &pipeline.Table{Routes: map[string][]pipeline.Destination{}}
	for _, f := range m.filters {
		if f.err == nil {
			t.Filters = append(t.Filters, f.f)
		}
	}
	starSet := false
	for _, r := range m.routes {
		starSet = starSet || r.Input == "*"
		if o := m.outs[r.Destination]; o != nil && o.d != nil {
			t.Routes[r.Input] = append(t.Routes[r.Input], o.d)
		}
	}
	if !starSet {
		for _, o := range m.defaultRoutes() {
			t.Routes["*"] = append(t.Routes["*"], o.d)
		}
	}
	var sentries []destination
	for _, o := range m.outs {
		if o.rec.Sentry && o.d != nil {
			sentries = append(sentries, o.d)
		}
	}
	m.sentries.Store(&sentries)
	m.cfg.Router.SetTable(t)
}

// AddOutput starts the destination rec describes, or replaces the one of
// that name (the new one starts, the routes move to it, then the old stops).
func (m *Manager) AddOutput(ctx context.Context, rec store.Output) (Info, *Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Info{}, nil, errors.New("outputs: shutting down")
	}
	if err := m.pairing(rec); err != nil {
		return Info{}, nil, err
	}
	if _, err := m.build(rec); err != nil {
		return Info{}, nil, err
	}
	rec.Added = time.Now().UTC()
	old := m.outs[rec.Name]
	var replaced *Info
	if old != nil {
		i := old.info()
		replaced = &i
		rec.Paused = old.rec.Paused && usesSpool(rec) // a change during a maintenance window keeps it paused
	}
	next := &output{rec: rec}
	_, err := liveconf.Commit(m.cfg.Outputs, m.log, rec.Name, &rec, func(_, _ *store.Output) error {
		if old != nil && old.d != nil && usesSpool(old.rec) && usesSpool(rec) {
			return m.replaceSpooled(ctx, old, next)
		}
		d, err := m.start(ctx, rec)
		if err != nil {
			return err
		}
		next.d = d
		m.outs[rec.Name] = next
		m.publish()
		if old != nil && old.d != nil {
			old.d.Shutdown(ctx)
		}
		return nil
	})
	if err != nil {
		return Info{}, nil, fmt.Errorf("output %q: %w", rec.Name, err)
	}
	if rec.Type == "pair" {
		m.leavePair(ctx, rec.Name, rec.Members) // a replaced pair's bases it no longer has
		m.joinPair(ctx, rec)
	}
	m.log.Info("destination added", "output", rec.Name, "type", rec.Type, "target", rec.Target)
	return next.info(), replaced, nil
}

// RemoveOutput stops a destination no route uses. One whose spool still
// holds events is refused unless discardSpool: removing it would lose them.
// The spool's directory goes with the destination.
func (m *Manager) RemoveOutput(ctx context.Context, name string, discardSpool bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outs[name]
	if o == nil {
		return fmt.Errorf("output %q: not found (forwarder.outputs lists them)", name)
	}
	if o.member != "" {
		return fmt.Errorf("base %q is in pair %q: forwarder.removeBasePair it first", name, o.member)
	}
	var users []string
	for _, r := range m.routes {
		if r.Destination == name {
			users = append(users, r.Input)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("output %q: routes from %s use it; route.remove them first", name, strings.Join(users, ", "))
	}
	if !discardSpool && usesSpool(o.rec) && !o.rec.Memory {
		if sp, ok := o.d.(*spooled); ok {
			if q := sp.spoolInfo().Queued; q > 0 {
				return fmt.Errorf("output %q: %d events are still spooled; let it drain (forwarder.resume), or add --discard-spool to drop them", name, q)
			}
		} else if segs, _ := filepath.Glob(filepath.Join(m.cfg.SpoolDir, name, "*.seg")); len(segs) > 0 {
			// Not running (failed): its spool may still hold a backlog nobody can count now.
			return fmt.Errorf("output %q: not running, and its spool holds %d segment files; fix it so it drains, or add --discard-spool to drop them", name, len(segs))
		}
	}
	_, err := liveconf.Commit(m.cfg.Outputs, m.log, name, nil, func(_, _ *store.Output) error {
		delete(m.outs, name)
		if o.d != nil {
			o.d.Shutdown(ctx)
		}
		if usesSpool(o.rec) && !o.rec.Memory {
			if err := os.RemoveAll(filepath.Join(m.cfg.SpoolDir, name)); err != nil {
				m.log.Error("spool directory not removed", "output", name, "err", err)
			}
		}
		m.publish()
		return nil
	})
	if err != nil {
		return fmt.Errorf("output %q: %w", name, err)
	}
	if o.rec.Type == "pair" {
		m.leavePair(ctx, name, nil)
		m.publish()
	}
	return nil
}

// AddRoute sends input's events ("*": inputs without a route of their own) to dest.
func (m *Manager) AddRoute(input, dest string) error {
	if input != "*" && !namePattern.MatchString(input) {
		return fmt.Errorf("input name %q: use 1-32 letters, digits, '.', '_' or '-', or * for every input", input)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outs[dest] == nil {
		return fmt.Errorf("output %q: not found (forwarder.outputs lists them)", dest)
	}
	for _, r := range m.routes {
		if r.Input == input && r.Destination == dest {
			return fmt.Errorf("route %s -> %s: already exists", input, dest)
		}
	}
	rec := store.Route{Input: input, Destination: dest, Added: time.Now().UTC()}
	_, err := liveconf.Commit(m.cfg.Routes, m.log, store.RouteKey(input, dest), &rec, func(_, _ *store.Route) error {
		m.routes = append(m.routes, rec)
		m.publish()
		return nil
	})
	return err
}

// RemoveRoute removes one route.
func (m *Manager) RemoveRoute(input, dest string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.routes, func(r store.Route) bool { return r.Input == input && r.Destination == dest })
	if i < 0 {
		return fmt.Errorf("route %s -> %s: not found (route.list lists them)", input, dest)
	}
	_, err := liveconf.Commit(m.cfg.Routes, m.log, store.RouteKey(input, dest), nil, func(_, _ *store.Route) error {
		m.routes = slices.Delete(m.routes, i, i+1)
		m.publish()
		return nil
	})
	return err
}

// Routes lists the routes, by input.
func (m *Manager) Routes() []store.Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.routes)
	slices.SortFunc(out, func(a, b store.Route) int {
		return strings.Compare(a.Input+"\x00"+a.Destination, b.Input+"\x00"+b.Destination)
	})
	return out
}

// Info describes a destination for forwarder.outputs.
type Info struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Target    string `json:"target,omitempty"`
	State     string `json:"state"` // running, or failed: <reason>
	EventsIn  uint64 `json:"events_in"`
	Written   uint64 `json:"events_written"`
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// Spool is the destination's spool, for those that have one.
	Spool *SpoolInfo `json:"spool,omitempty"`
	// Bases and pairs: the aliases, a pair's bases, and the relay's figures.
	Key     string             `json:"key,omitempty"`
	Trust   string             `json:"trust,omitempty"`
	Members []string           `json:"members,omitempty"`
	Sentry  bool               `json:"sentry,omitempty"`
	Relay   *relay.ClientStats `json:"relay,omitempty"`
	client  *relay.Client
}

func (o *output) info() Info {
	in := Info{Name: o.rec.Name, Type: o.rec.Type, Target: o.rec.Target, State: "running",
		Key: o.rec.Key, Trust: o.rec.Trust, Members: o.rec.Members, Sentry: o.rec.Sentry}
	if o.member != "" {
		in.State = "in pair " + o.member
		return in
	}
	if o.d == nil {
		in.State = "failed: " + o.err.Error()
		return in
	}
	if sp, ok := o.d.(*spooled); ok {
		if ep, ok := sp.w.(relayEndpoint); ok {
			st := ep.Stats()
			in.Relay, in.client = &st, ep.Client
		}
	}
	c := o.d.Counters()
	in.EventsIn, in.Written, in.Errors, in.LastError = c.EventsIn, c.Written, c.Errors, c.LastError
	if sp, ok := o.d.(*spooled); ok {
		si := sp.spoolInfo()
		in.Spool = &si
		if si.Paused {
			in.State = "paused"
		}
	}
	return in
}

// Outputs lists the destinations, by name.
func (m *Manager) Outputs() []Info {
	m.mu.Lock()
	list := make([]*output, 0, len(m.outs))
	for _, o := range m.outs {
		list = append(list, o)
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *output) int { return strings.Compare(a.rec.Name, b.rec.Name) })
	out := make([]Info, 0, len(list))
	for _, o := range list {
		out = append(out, o.info())
	}
	return out
}

// The output section's fields (ferry_output_*), by destination.
var (
	outIn      = status.NewCounter("events_in_total", "Events handed to the destination", "destination")
	outWritten = status.NewCounter("events_written_total", "Events the destination wrote", "destination")
	outErrors  = status.NewCounter("errors_total", "Events the destination failed to write", "destination")

	spoolBytes   = status.NewGauge("spool_bytes", "bytes", "Bytes the destination's spool holds on disk", "destination")
	spoolLimit   = status.NewGauge("spool_limit_bytes", "bytes", "The destination's spool bound (--buffer)", "destination")
	spoolQueued  = status.NewGauge("spool_events", "", "Events spooled and not yet acknowledged", "destination")
	spoolOldest  = status.NewGauge("spool_oldest_unacked_seconds", "seconds", "Age of the oldest unacknowledged event", "destination")
	spoolInRate  = status.NewGauge("spool_in_rate", "", "Events per second into the spool", "destination")
	spoolOutRate = status.NewGauge("spool_out_rate", "", "Events per second delivered out of the spool", "destination")
	spoolDropped = status.NewCounter("spool_dropped_total", "Events the spool shed, by reason (full, age, disk_full, corrupt)", "destination", "reason")
	spoolPaused  = status.NewGauge("paused", "", "1 while forwarder.pause holds the destination", "destination")
	spoolReplay  = status.NewGauge("spool_replayed_at_start", "", "Events an unclean start may deliver again (possible duplicates)", "destination")

	relayAcked  = status.NewCounter("relay_acknowledged_total", "Events the base acknowledged (stored at its end)", "destination")
	relayResent = status.NewCounter("relay_resent_total", "Events sent again after a connection was lost (the base suppresses what it stored)", "destination")
	relayUp     = status.NewGauge("relay_up", "", "1 while the connection to the base is up", "destination", "base")
)

func (m *Manager) fields() []status.Field {
	var out []status.Field
	for _, in := range m.Outputs() {
		out = append(out, outIn.Field(in.EventsIn, in.Name), outWritten.Field(in.Written, in.Name), outErrors.Field(in.Errors, in.Name))
		if sp := in.Spool; sp != nil {
			out = append(out, spoolBytes.Field(sp.Bytes, in.Name), spoolLimit.Field(sp.Limit, in.Name), spoolQueued.Field(sp.Queued, in.Name),
				spoolOldest.Field(sp.OldestAge, in.Name), spoolInRate.Field(sp.InRate, in.Name), spoolOutRate.Field(sp.OutRate, in.Name),
				spoolDropped.Field(sp.DropFull, in.Name, "full"), spoolDropped.Field(sp.DropAge, in.Name, "age"),
				spoolDropped.Field(sp.DropDisk, in.Name, "disk_full"), spoolDropped.Field(sp.DropCorrup, in.Name, "corrupt"),
				spoolPaused.Field(sp.Paused, in.Name), spoolReplay.Field(sp.Replayed, in.Name))
		}
		if r := in.Relay; r != nil {
			out = append(out, relayAcked.Field(r.Acked, in.Name), relayResent.Field(r.Resent, in.Name))
			for _, b := range r.Members {
				out = append(out, relayUp.Field(b.State == "up", in.Name, b.Name))
			}
		}
	}
	return out
}

var filterDropped = status.NewCounter("dropped_total", "Events the filter dropped", "filter")

func (m *Manager) filterFields() []status.Field {
	var out []status.Field
	for _, f := range m.Filters() {
		out = append(out, filterDropped.Field(f.Dropped, f.Name))
	}
	return out
}

// discard adapts pipeline.Discard.
type discard struct{ *pipeline.Discard }

func (discard) Start(context.Context) error    { return nil }
func (discard) Shutdown(context.Context) error { return nil }
func (d discard) Counters() Counters {
	n, _ := d.Counts()
	return Counters{EventsIn: n, Written: n}
}

package status

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrDuplicate is returned when a section with the same name and labels is
// already registered.
var ErrDuplicate = errors.New("already registered")

// Section is what one instance of a component reports.
type Section struct {
	Name   string
	Labels Labels
	Fields []Field
}

// ID returns the name and labels that identify the section, e.g.
// syslog{listener="udp1"}.
func (s Section) ID() string { return s.Name + s.Labels.String() }

// MetricName returns the Prometheus name of f in s: ferry_<section>_<field>.
func (s Section) MetricName(f Field) string { return "ferry_" + s.Name + "_" + f.Desc.name }

// Provider reports the current fields of a section. It is called on every
// snapshot, so it must be cheap and must not block; it may be called once more
// just after its Remove returns.
type Provider func() []Field

// Model holds the registered sections. The zero value is not usable; call New.
type Model struct {
	mu   sync.Mutex
	regs []*Registration // in registration order
}

// Registration is one registered section; Remove takes it out again.
type Registration struct {
	m      *Model
	name   string
	labels Labels
	key    string // ID with the labels sorted: label order must not make a second series
	p      Provider
}

// New returns an empty model.
func New() *Model { return &Model{} }

// Register adds the section name with labels, reported by p. It refuses an
// invalid name or label name, a nil p, and a section with the same name and
// labels as one already registered (ErrDuplicate), so two instances can never
// silently overwrite each other's figures.
func (m *Model) Register(name string, labels Labels, p Provider) (*Registration, error) {
	labels = slices.Clone(labels) // the caller may reuse its slice
	id := Section{Name: name, Labels: labels}.ID()
	if !validName(name) {
		return nil, fmt.Errorf("status section %q: name must match [a-z_][a-z0-9_]*", id)
	}
	if err := checkLabelNames(labels.names()); err != nil {
		return nil, fmt.Errorf("status section %q: %w", id, err)
	}
	if p == nil {
		return nil, fmt.Errorf("status section %q: nil provider", id)
	}
	sorted := slices.SortedFunc(slices.Values(labels), func(a, b Label) int { return cmp.Compare(a.Name, b.Name) })
	r := &Registration{m: m, name: name, labels: labels, key: Section{Name: name, Labels: sorted}.ID(), p: p}

	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.ContainsFunc(m.regs, func(o *Registration) bool { return o.key == r.key }) {
		return nil, fmt.Errorf("status section %q: %w", id, ErrDuplicate)
	}
	m.regs = append(m.regs, r)
	return r, nil
}

// Remove takes the section out of later snapshots, so its ID may be registered
// again. It is idempotent and does nothing on a nil Registration, so a
// component's Close may call it unconditionally, even after a failed Start.
func (r *Registration) Remove() {
	if r == nil {
		return
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.m.regs = slices.DeleteFunc(r.m.regs, func(o *Registration) bool { return o == r })
}

// Snapshot calls every provider once and returns the sections in registration
// order. Providers run outside the lock, so one may Register or Remove.
func (m *Model) Snapshot() []Section {
	m.mu.Lock()
	regs := slices.Clone(m.regs)
	m.mu.Unlock()

	out := make([]Section, len(regs))
	for i, r := range regs {
		out[i] = Section{Name: r.name, Labels: slices.Clone(r.labels), Fields: r.p()}
	}
	return out
}

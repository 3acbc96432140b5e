// Package status is the one status model of the appliance: each subsystem
// registers a section, and the shell, the web console and /metrics all read
// the same snapshot.
package status

import (
	"slices"
	"sync"
)

// Field is one named value of a section.
type Field struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Section is what one subsystem reports.
type Section struct {
	Name   string  `json:"name"`
	Fields []Field `json:"fields"`
}

// Provider reports a subsystem's current state. It must be cheap and must not block.
type Provider func() []Field

// Model collects the providers.
type Model struct {
	mu        sync.RWMutex
	order     []string
	providers map[string]Provider
}

// New returns an empty model.
func New() *Model { return &Model{providers: map[string]Provider{}} }

// Register adds (or replaces) the section name.
func (m *Model) Register(name string, p Provider) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.providers[name]; !ok {
		m.order = append(m.order, name)
	}
	m.providers[name] = p
}

// Snapshot asks every provider, in registration order.
func (m *Model) Snapshot() []Section {
	m.mu.RLock()
	names := slices.Clone(m.order)
	providers := make([]Provider, len(names))
	for i, n := range names {
		providers[i] = m.providers[n]
	}
	m.mu.RUnlock()
	out := make([]Section, len(names))
	for i, n := range names {
		out[i] = Section{Name: n, Fields: providers[i]()}
	}
	return out
}

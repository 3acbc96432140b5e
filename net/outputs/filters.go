package outputs

import (
	"fmt"
	"slices"
	"time"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/filter"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/store"
)

// FilterSpec is what filter.add asks for.
type FilterSpec = store.Filter

// filterRule is a stored filter and, when it compiles, the pipeline's filter.
type filterRule struct {
	rec store.Filter
	f   *pipeline.Filter // nil when err is set
	err error
}

// FilterInfo describes a filter for filter.list.
type FilterInfo struct {
	Name    string `json:"name"`
	Input   string `json:"input"`
	Action  string `json:"action"`
	Expr    string `json:"expr"`
	State   string `json:"state"` // active, or failed: <reason>
	Dropped uint64 `json:"dropped"`
}

// compileFilter validates rec and compiles its expression once.
func compileFilter(rec store.Filter) (*filterRule, error) {
	if !namePattern.MatchString(rec.Name) {
		return nil, fmt.Errorf("filter name %q: use 1-32 letters, digits, '.', '_' or '-'", rec.Name)
	}
	if rec.Input != "*" && !namePattern.MatchString(rec.Input) {
		return nil, fmt.Errorf("filter %q: input name %q: use 1-32 letters, digits, '.', '_' or '-', or * for every input", rec.Name, rec.Input)
	}
	c, err := filter.Compile(rec.Expr)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", rec.Name, err)
	}
	var drop func(b *event.Batch, i int) bool
	switch rec.Action {
	case "drop":
		drop = c.Match
	case "keep":
		drop = func(b *event.Batch, i int) bool { return !c.Match(b, i) }
	default:
		return nil, fmt.Errorf("filter %q: action %q: use keep or drop", rec.Name, rec.Action)
	}
	return &filterRule{rec: rec, f: &pipeline.Filter{Name: rec.Name, Input: rec.Input, Drop: drop}}, nil
}

// AddFilter compiles and stores a filter; it applies from the next batch,
// after the filters added before it. A filter of the same name is replaced in
// place (its position and its count start afresh).
func (m *Manager) AddFilter(rec store.Filter) (FilterInfo, error) {
	rec.Added = time.Now().UTC()
	f, err := compileFilter(rec)
	if err != nil {
		return FilterInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.filters, func(o *filterRule) bool { return o.rec.Name == rec.Name })
	if i >= 0 {
		f.rec.Added = m.filters[i].rec.Added // keeps its place in the order
	}
	_, err = liveconf.Commit(m.cfg.Filters, m.log, rec.Name, &f.rec, func(_, _ *store.Filter) error {
		if i >= 0 {
			m.filters[i] = f
		} else {
			m.filters = append(m.filters, f)
		}
		m.publish()
		return nil
	})
	if err != nil {
		return FilterInfo{}, fmt.Errorf("filter %q: %w", rec.Name, err)
	}
	m.log.Info("filter added", "filter", rec.Name, "input", rec.Input, "action", rec.Action)
	return f.info(), nil
}

// RemoveFilter removes one filter.
func (m *Manager) RemoveFilter(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.filters, func(o *filterRule) bool { return o.rec.Name == name })
	if i < 0 {
		return fmt.Errorf("filter %q: not found (filter.list lists them)", name)
	}
	_, err := liveconf.Commit(m.cfg.Filters, m.log, name, nil, func(_, _ *store.Filter) error {
		m.filters = slices.Delete(m.filters, i, i+1)
		m.publish()
		return nil
	})
	if err != nil {
		return fmt.Errorf("filter %q: %w", name, err)
	}
	return nil
}

// Filters lists the filters in the order they apply.
func (m *Manager) Filters() []FilterInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]FilterInfo, 0, len(m.filters))
	for _, f := range m.filters {
		out = append(out, f.info())
	}
	return out
}

func (f *filterRule) info() FilterInfo {
	in := FilterInfo{Name: f.rec.Name, Input: f.rec.Input, Action: f.rec.Action, Expr: f.rec.Expr, State: "active"}
	if f.err != nil {
		in.State = "failed: " + f.err.Error()
		return in
	}
	in.Dropped = f.f.Dropped()
	return in
}

package status

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kind is what a field measures, in Prometheus terms.
type Kind string

// The kinds of field.
const (
	Counter Kind = "counter" // only goes up, until the process restarts
	Gauge   Kind = "gauge"   // goes up and down
	Info    Kind = "info"    // a string, such as a version or an address
)

// Desc defines one field: its name, help, unit and kind, and the names of the
// labels that tell its values apart. It does not change once built, so
// components share theirs as package-level variables.
type Desc struct {
	name, help, unit string
	kind             Kind
	labelNames       []string
}

// NewCounter defines a counter; its name must end in _total.
func NewCounter(name, help string, labelNames ...string) *Desc {
	return newDesc(Counter, name, "", help, labelNames)
}

// NewGauge defines a gauge. unit is "" or a base unit such as "seconds" or
// "bytes", and then the name must end in "_"+unit.
func NewGauge(name, unit, help string, labelNames ...string) *Desc {
	return newDesc(Gauge, name, unit, help, labelNames)
}

// NewInfo defines a field whose value is a string (a version, an address).
func NewInfo(name, help string) *Desc {
	return newDesc(Info, name, "", help, nil)
}

// newDesc panics on a malformed definition: Descs are built at init from
// constants, so a bad one is a programmer error that must not reach /metrics.
func newDesc(kind Kind, name, unit, help string, labelNames []string) *Desc {
	if err := checkDesc(kind, name, unit, labelNames); err != nil {
		panic(fmt.Sprintf("status: field %q: %v", name, err))
	}
	return &Desc{name: name, help: help, unit: unit, kind: kind, labelNames: slices.Clone(labelNames)}
}

func checkDesc(kind Kind, name, unit string, labelNames []string) error {
	switch {
	case !validName(name):
		return errors.New("name must match [a-z_][a-z0-9_]*")
	case kind == Counter && !strings.HasSuffix(name, "_total"):
		return errors.New("counter name must end in _total")
	case kind != Counter && strings.HasSuffix(name, "_total"):
		// Prometheus reserves _total for counters.
		return fmt.Errorf("%s name must not end in _total", kind)
	case unit != "" && !strings.HasSuffix(name, "_"+unit):
		return fmt.Errorf("name must end in _%s", unit)
	}
	return checkLabelNames(labelNames)
}

// Name returns the field's name within its section.
func (d *Desc) Name() string { return d.name }

// Help returns the one-line description.
func (d *Desc) Help() string { return d.help }

// Unit returns the base unit, or "".
func (d *Desc) Unit() string { return d.unit }

// Kind returns the kind of field.
func (d *Desc) Kind() Kind { return d.kind }

// LabelNames returns a copy of the label names, in declared order.
func (d *Desc) LabelNames() []string { return slices.Clone(d.labelNames) }

// validName reports whether s matches [a-z_][a-z0-9_]*, which is a valid
// Prometheus metric and label name.
func validName(s string) bool {
	for i, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// checkLabelNames refuses names Prometheus would reject or give another meaning.
func checkLabelNames(names []string) error {
	for i, n := range names {
		switch {
		case !validName(n):
			return fmt.Errorf("label name %q must match [a-z_][a-z0-9_]*", n)
		case n == "le" || n == "quantile" || strings.HasPrefix(n, "__"):
			return fmt.Errorf("label name %q is reserved", n)
		case slices.Contains(names[:i], n):
			return fmt.Errorf("label name %q given twice", n)
		}
	}
	return nil
}

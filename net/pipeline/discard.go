package pipeline

import (
	"sync/atomic"

	"github.com/ferry-appliance/ferry/net/event"
)

// Discard counts what it is given and keeps nothing: the benchmark's sink
// (Vector's blackhole).
type Discard struct {
	name          string
	events, bytes atomic.Uint64
}

// NewDiscard makes a discard destination.
func NewDiscard(name string) *Discard { return &Discard{name: name} }

func (d *Discard) Name() string { return d.name }

// Accept counts the batch's events and bytes.
func (d *Discard) Accept(b *event.Batch) {
	d.events.Add(uint64(b.Len()))
	d.bytes.Add(uint64(b.Bytes()))
}

// Counts returns the events and bytes discarded.
func (d *Discard) Counts() (events, bytes uint64) { return d.events.Load(), d.bytes.Load() }

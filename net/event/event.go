// Package event is what receivers hand the pipeline: events in batches.
//
// A batch owns one byte buffer that holds every event's raw message, so a
// receiver fills it with copies of what it read (one append each, no
// allocation once the buffer has grown) and hands the whole batch on. Batches
// come from a Pool and go back to it when the last stage is done, so the hot
// path allocates nothing in steady state. Ferry forwards the raw message
// unchanged; parsing (net/syslog/syslogmsg) happens only where a filter, the
// trace or the stats ask for it.
package event

import (
	"net/netip"
	"time"
)

// Event is one received message. Its raw bytes live in its batch.
type Event struct {
	Received time.Time
	Source   netip.AddrPort
	off, n   int32 // the raw message in the batch's buffer
}

// Batch is a run of events from one input, with their bytes.
type Batch struct {
	// Input is the receiver's name (syslog.open NAME): filters and routes select on it.
	Input  string
	Events []Event
	buf    []byte
	size   int // bytes of the events kept
	pool   *Pool
}

// Add appends an event holding a copy of raw. It reports false, adding
// nothing, when the batch is full (by events or bytes): hand it on and start
// another.
func (b *Batch) Add(received time.Time, src netip.AddrPort, raw []byte) bool {
	if b.pool != nil && (len(b.Events) >= b.pool.maxEvents || len(b.buf)+len(raw) > b.pool.maxBytes && len(b.Events) > 0) {
		// Bounded by the buffer, not by what is kept: dropped events' bytes stay in it.
		return false
	}
	off := len(b.buf)
	b.buf = append(b.buf, raw...)
	b.Events = append(b.Events, Event{Received: received, Source: src, off: int32(off), n: int32(len(raw))})
	b.size += len(raw)
	return true
}

// Raw is event i's message as received. It is valid until the batch is released.
func (b *Batch) Raw(i int) []byte {
	e := b.Events[i]
	return b.buf[e.off : e.off+e.n : e.off+e.n]
}

// Len is the number of events.
func (b *Batch) Len() int { return len(b.Events) }

// Bytes is the size of the raw messages together.
func (b *Batch) Bytes() int { return b.size }

// Keep keeps only the events keep reports true for, in order (a filter's
// drop). It returns how many it removed. Their bytes stay in the buffer until
// the batch is released.
func (b *Batch) Keep(keep func(i int) bool) int {
	n := 0
	for i := range b.Events {
		if keep(i) {
			b.Events[n] = b.Events[i]
			n++
		} else {
			b.size -= int(b.Events[i].n)
		}
	}
	removed := len(b.Events) - n
	b.Events = b.Events[:n]
	return removed
}

// Reset empties the batch for reuse, keeping its capacity.
func (b *Batch) Reset() {
	b.Input = ""
	b.Events = b.Events[:0]
	b.buf = b.buf[:0]
	b.size = 0
}

// Release gives the batch back to its pool; the batch must not be used after.
func (b *Batch) Release() {
	if b.pool == nil {
		return
	}
	b.Reset()
	select {
	case b.pool.free <- b:
	default: // the free list is full: let the collector have it
	}
}

// Pool recycles batches of a bounded size through a bounded free list (a
// sync.Pool would hand the garbage collector the batches it keeps warm).
type Pool struct {
	maxEvents, maxBytes int
	free                chan *Batch
}

// NewPool makes batches of at most maxEvents events and maxBytes bytes of
// messages (a single message larger than maxBytes still fits an empty batch).
func NewPool(maxEvents, maxBytes int) *Pool {
	if maxEvents <= 0 {
		maxEvents = 256
	}
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	return &Pool{maxEvents: maxEvents, maxBytes: maxBytes, free: make(chan *Batch, freeBatches)}
}

// freeBatches is how many released batches a pool keeps for reuse.
const freeBatches = 256

// Get returns an empty batch for input.
func (p *Pool) Get(input string) *Batch {
	var b *Batch
	select {
	case b = <-p.free:
	default:
		b = &Batch{pool: p, Events: make([]Event, 0, p.maxEvents), buf: make([]byte, 0, min(p.maxBytes, p.maxEvents*512))}
	}
	b.Input = input
	return b
}

// Sink takes batches without blocking: false means it did not (its queue is
// full), the batch is still the caller's, and the caller counts the drop.
type Sink interface {
	TryPut(b *Batch) bool
}

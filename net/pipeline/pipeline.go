// Package pipeline is the router between receivers and destinations: one
// bounded queue of batches in, filters applied, each batch handed to the
// destinations its input routes to. Data flows one way; nothing here calls a
// receiver back. The filter and route table is swapped whole (an atomic
// pointer), so a change takes effect at the next batch and the hot path takes
// no lock.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ferry-appliance/ferry/net/event"
)

// Destination takes a batch synchronously and copies what it keeps (a spool
// appends it, a file output writes it): once Accept returns, the pipeline
// releases the batch. A destination whose policy is to block applies
// backpressure by returning late; the pipeline's queue then fills and
// receivers count what they cannot hand over.
type Destination interface {
	Name() string
	Accept(b *event.Batch)
}

// Flusher is a destination that may hold a batch back briefly to gather
// it with the next (a spool's linger); Route flushes it.
type Flusher interface{ Flush() }

// Abandoner is a destination whose Accept may wait (a full spool that
// blocks): Abandon makes it return, and later ones fail fast, counted by the
// destination. Shutdown calls it when its deadline passes, so the router
// never waits for ever on a destination nobody drains.
type Abandoner interface {
	Abandon()
}

// Filter keeps or drops events of one input ("*": every input).
type Filter struct {
	Name  string
	Input string
	// Drop reports whether event i of b is dropped.
	Drop    func(b *event.Batch, i int) bool
	dropped atomic.Uint64
}

// Dropped is how many events the filter dropped.
func (f *Filter) Dropped() uint64 { return f.dropped.Load() }

// Table is the filters, in order, and the routes: input name -> destinations.
// Routes["*"] serves inputs with no route of their own.
type Table struct {
	Filters []*Filter
	Routes  map[string][]Destination
}

// Stats are the pipeline's counters.
type Stats struct {
	Batches, Events uint64
	Filtered        uint64 // dropped by a filter
	Unrouted        uint64 // events of an input routed nowhere
	QueueFull       uint64 // batches refused because the queue was full
	Abandoned       uint64 // events still queued when Shutdown's deadline passed
}

// Pipeline routes batches from its queue.
type Pipeline struct {
	log   *slog.Logger
	in    chan *event.Batch
	table atomic.Pointer[Table]

	batches, events, filtered, unrouted, queueFull, abandoned atomic.Uint64

	// routing is held (read) while a batch is routed, so SetTable can wait
	// for the batch in flight under the old table. One router: uncontended.
	routing sync.RWMutex
	abandon atomic.Bool // Shutdown's deadline passed: count what is left, route nothing

	tapMu sync.Mutex // serialises tap changes
	taps  atomic.Pointer[[]*Tap]

	mu      sync.Mutex // guards closing against TryPut
	closed  bool
	started bool
	done    chan struct{}
}

// New makes a pipeline with room for queue batches (default 1024).
func New(queue int, log *slog.Logger) *Pipeline {
	if queue <= 0 {
		queue = 1024
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{log: log.With("component", "pipeline"), in: make(chan *event.Batch, queue), done: make(chan struct{})}
	p.table.Store(&Table{})
	return p
}

// SetTable swaps the filters and routes; the next batch sees the new table.
// It returns once no batch is being routed under the old one, so the caller
// may then stop the destinations only the old table named (a replaced
// output) without a batch arriving at a stopped destination.
func (p *Pipeline) SetTable(t *Table) {
	p.table.Store(t)
	p.routing.Lock()
	p.routing.Unlock() // an empty critical section: a barrier
}

// TryPut queues b without blocking. false: the queue is full (or the pipeline
// stopped), b is still the caller's, and the caller counts the drop.
func (p *Pipeline) TryPut(b *event.Batch) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	select {
	case p.in <- b:
		return true
	default:
		p.queueFull.Add(1)
		return false
	}
}

// Start runs the router until Shutdown.
func (p *Pipeline) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("pipeline: already started")
	}
	p.started = true
	go p.run()
	return nil
}

// Shutdown stops intake, routes what is queued, and waits until ctx ends; what
// is left then is released and counted as abandoned (the batch being routed
// finishes first). Idempotent.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.in)
	}
	started := p.started
	p.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.abandon.Store(true)
		for _, dests := range p.table.Load().Routes {
			for _, d := range dests {
				if a, ok := d.(Abandoner); ok {
					a.Abandon()
				}
			}
		}
		<-p.done
		return ctx.Err()
	}
}

func (p *Pipeline) run() {
	defer close(p.done)
	for b := range p.in {
		if p.abandon.Load() {
			p.abandoned.Add(uint64(b.Len()))
			b.Release()
			continue
		}
		p.route(b.Input, b, false)
	}
}

// Route applies the table to b at once, in the caller's goroutine, as the
// input named key (filters and routes select on it; the events keep their
// own input name), and releases b. When it returns, every destination has
// taken b (a spool has appended it): a source that holds its events durably
// until they are routed (the relay listener's intake spool) acknowledges
// them only then. It does not wait for the queue, and is refused (false,
// b still the caller's) once the pipeline is shutting down.
func (p *Pipeline) Route(key string, b *event.Batch) bool {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return false
	}
	p.route(key, b, true)
	return true
}

// route applies the table to one batch and hands it on; with flush, the
// destinations have it in their spools when it returns (Flusher).
func (p *Pipeline) route(key string, b *event.Batch, flush bool) {
	defer b.Release()
	p.routing.RLock()
	defer p.routing.RUnlock()
	t := p.table.Load()
	p.batches.Add(1)
	p.events.Add(uint64(b.Len()))
	p.feed(b) // the trace shows what arrived, before filters
	for _, f := range t.Filters {
		if f.Input != "*" && f.Input != key {
			continue
		}
		if n := b.Keep(func(i int) bool { return !f.Drop(b, i) }); n > 0 {
			f.dropped.Add(uint64(n))
			p.filtered.Add(uint64(n))
		}
		if b.Len() == 0 {
			return
		}
	}
	dests, ok := t.Routes[key]
	if !ok {
		dests = t.Routes["*"]
	}
	if len(dests) == 0 {
		p.unrouted.Add(uint64(b.Len()))
		return
	}
	for _, d := range dests {
		d.Accept(b)
		if f, ok := d.(Flusher); ok && flush {
			f.Flush()
		}
	}
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{Batches: p.batches.Load(), Events: p.events.Load(), Filtered: p.filtered.Load(),
		Unrouted: p.unrouted.Load(), QueueFull: p.queueFull.Load(), Abandoned: p.abandoned.Load()}
}

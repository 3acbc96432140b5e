package pipeline

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// TraceLine is one message a tap copied.
type TraceLine struct {
	Received time.Time
	Source   netip.AddrPort
	Input    string
	Raw      []byte
}

// Tap copies the messages of one input that match to a bounded channel, for
// syslog.trace. It never slows the pipeline: when the reader falls behind,
// lines are skipped and counted.
type Tap struct {
	p       *Pipeline
	input   string
	match   func(b *event.Batch, i int) bool
	c       chan TraceLine
	skipped atomic.Uint64
}

// Tap starts copying input's messages that match (nil: all) into a channel of
// size buf (default 256). Close it when done.
func (p *Pipeline) Tap(input string, match func(b *event.Batch, i int) bool, buf int) *Tap {
	if buf <= 0 {
		buf = 256
	}
	t := &Tap{p: p, input: input, match: match, c: make(chan TraceLine, buf)}
	p.tapMu.Lock()
	cur := p.taps.Load()
	var next []*Tap
	if cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, t)
	p.taps.Store(&next)
	p.tapMu.Unlock()
	return t
}

// C is where the lines arrive.
func (t *Tap) C() <-chan TraceLine { return t.c }

// Skipped is how many lines the reader missed.
func (t *Tap) Skipped() uint64 { return t.skipped.Load() }

// Close stops the copying.
func (t *Tap) Close() {
	p := t.p
	p.tapMu.Lock()
	defer p.tapMu.Unlock()
	cur := p.taps.Load()
	if cur == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(o *Tap) bool { return o == t })
	if len(next) == 0 {
		p.taps.Store(nil)
		return
	}
	p.taps.Store(&next)
}

// feed offers b's matching messages to every tap on its input.
func (p *Pipeline) feed(b *event.Batch) {
	taps := p.taps.Load()
	if taps == nil {
		return
	}
	for _, t := range *taps {
		if t.input != b.Input {
			continue
		}
		for i := range b.Len() {
			if t.match != nil && !t.match(b, i) {
				continue
			}
			line := TraceLine{Received: b.Events[i].Received, Source: b.Events[i].Source, Input: b.Input, Raw: slices.Clone(b.Raw(i))}
			select {
			case t.c <- line:
			default:
				t.skipped.Add(1)
			}
		}
	}
}

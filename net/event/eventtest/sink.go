// Package eventtest has what tests of receivers share: a sink that keeps
// copies of the events it is given.
package eventtest

import (
	"net/netip"
	"sync"

	"github.com/ferry-appliance/ferry/net/event"
)

// Sink collects what it is given (and releases the batch), or refuses
// everything when Refuse is set before use.
type Sink struct {
	Refuse bool

	mu    sync.Mutex
	msgs  []string
	srcs  []netip.AddrPort
	input string
}

// TryPut keeps copies of b's events.
func (s *Sink) TryPut(b *event.Batch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Refuse {
		return false
	}
	for i := range b.Len() {
		s.msgs = append(s.msgs, string(b.Raw(i)))
		s.srcs = append(s.srcs, b.Events[i].Source)
	}
	s.input = b.Input
	b.Release()
	return true
}

// Count is how many events it kept.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Messages are the kept events' raw messages, in arrival order.
func (s *Sink) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// Sources are the kept events' source addresses, in arrival order.
func (s *Sink) Sources() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.srcs...)
}

// Input is the input name of the last batch kept.
func (s *Sink) Input() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.input
}

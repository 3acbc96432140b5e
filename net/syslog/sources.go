package syslog

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// DefaultMaxSources bounds a receiver's per-source table: spoofed source
// addresses must not exhaust memory.
const DefaultMaxSources = 4096

// Sources counts messages per source address for syslog.stats. It takes its
// lock once per batch, not per message. When the table is full, new sources
// are folded into one count rather than evicting the ones it knows: a flood of
// spoofed addresses cannot push out the firewalls an operator looks for.
type Sources struct {
	max int

	mu sync.Mutex
	m  map[netip.Addr]*SourceCount
	// foldedEvents counts messages from sources the full table could not take.
	// (Counting those sources exactly would need the memory the bound saves.)
	foldedEvents uint64
}

// SourceCount is one source's tally.
type SourceCount struct {
	Addr        netip.Addr `json:"address"`
	Count       uint64     `json:"count"`
	First, Last time.Time  `json:"-"`
	FirstSeen   string     `json:"first_seen"`
	LastSeen    string     `json:"last_seen"`
}

// NewSources makes a table of at most max sources (default DefaultMaxSources).
func NewSources(max int) *Sources {
	if max <= 0 {
		max = DefaultMaxSources
	}
	return &Sources{max: max, m: map[netip.Addr]*SourceCount{}}
}

// AddBatch counts b's events by source.
func (s *Sources) AddBatch(b *event.Batch) {
	if s == nil || b.Len() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var last netip.Addr
	var cur *SourceCount
	for i := range b.Events {
		e := &b.Events[i]
		a := e.Source.Addr()
		if cur == nil || a != last {
			last, cur = a, s.m[a]
			if cur == nil {
				if len(s.m) >= s.max {
					s.foldedEvents++
					cur = nil
					continue
				}
				cur = &SourceCount{Addr: a, First: e.Received}
				s.m[a] = cur
			}
		}
		cur.Count++
		cur.Last = e.Received
	}
}

// Top returns the busiest sources first (at most n; n <= 0: all), how many
// sources the table holds, and how many messages came from sources it had no
// room for.
func (s *Sources) Top(n int) (list []SourceCount, tracked int, foldedEvents uint64) {
	s.mu.Lock()
	list = make([]SourceCount, 0, len(s.m))
	for _, c := range s.m {
		list = append(list, *c)
	}
	tracked, foldedEvents = len(s.m), s.foldedEvents
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b SourceCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
	if n > 0 && len(list) > n {
		list = list[:n]
	}
	for i := range list {
		list[i].FirstSeen = list[i].First.Local().Format(time.DateTime)
		list[i].LastSeen = list[i].Last.Local().Format(time.DateTime)
	}
	return list, tracked, foldedEvents
}

// Max is the table's bound.
func (s *Sources) Max() int { return s.max }

package syslog

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

func TestSourcesBoundedAndOrdered(t *testing.T) {
	s := NewSources(3)
	pool := event.NewPool(256, 1<<20)
	b := pool.Get("udp1")
	t0 := time.Unix(1700000000, 0)
	add := func(addr string, n int, at time.Time) {
		for range n {
			b.Add(at, netip.MustParseAddrPort(addr+":514"), []byte("m"))
		}
	}
	add("10.0.0.1", 5, t0)
	add("10.0.0.2", 9, t0.Add(time.Second))
	add("10.0.0.1", 1, t0.Add(2*time.Second))
	add("10.0.0.3", 2, t0.Add(3*time.Second))
	for i := range 50 { // spoofed: the table is full
		add("192.0.2."+strconv.Itoa(i), 1, t0)
	}
	s.AddBatch(b)
	list, tracked, events := s.Top(0)
	if len(list) != 3 || list[0].Addr.String() != "10.0.0.2" || list[0].Count != 9 || list[1].Count != 6 || list[2].Count != 2 {
		t.Fatalf("top = %+v", list)
	}
	if !list[1].First.Equal(t0) || !list[1].Last.Equal(t0.Add(2*time.Second)) {
		t.Errorf("10.0.0.1 first %v last %v", list[1].First, list[1].Last)
	}
	if tracked != 3 || events != 50 {
		t.Errorf("tracked %d sources, folded %d events; want 3, 50", tracked, events)
	}
	if top, _, _ := s.Top(1); len(top) != 1 {
		t.Errorf("Top(1) = %d entries", len(top))
	}
}

func TestSourcesAddBatchAllocatesNothingForKnownSources(t *testing.T) {
	s := NewSources(0)
	pool := event.NewPool(64, 1<<20)
	b := pool.Get("udp1")
	for i := range 64 {
		b.Add(time.Now(), netip.MustParseAddrPort("10.0.0."+strconv.Itoa(i%8)+":514"), []byte("m"))
	}
	s.AddBatch(b)
	if n := testing.AllocsPerRun(100, func() { s.AddBatch(b) }); n > 0 {
		t.Errorf("AddBatch of known sources: %.1f allocations", n)
	}
}

package event

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestBatchAddRawKeep(t *testing.T) {
	p := NewPool(4, 64)
	b := p.Get("udp1")
	src := netip.MustParseAddrPort("10.0.0.1:514")
	now := time.Unix(1700000000, 0)
	msgs := []string{"<13>one", "<13>two", "<13>three"}
	for _, m := range msgs {
		if !b.Add(now, src, []byte(m)) {
			t.Fatalf("Add(%q) refused", m)
		}
	}
	if b.Input != "udp1" || b.Len() != 3 || b.Bytes() != len("<13>one<13>two<13>three") {
		t.Fatalf("batch = %q, %d events, %d bytes", b.Input, b.Len(), b.Bytes())
	}
	for i, m := range msgs {
		if got := string(b.Raw(i)); got != m || b.Events[i].Source != src || !b.Events[i].Received.Equal(now) {
			t.Errorf("event %d = %q from %v", i, got, b.Events[i].Source)
		}
	}
	// Raw's capacity ends with the message: appending to it cannot overwrite the next one.
	_ = append(b.Raw(0), 'X')
	if string(b.Raw(1)) != "<13>two" {
		t.Errorf("appending to Raw(0) changed Raw(1) to %q", b.Raw(1))
	}
	if removed := b.Keep(func(i int) bool { return !bytes.Contains(b.Raw(i), []byte("two")) }); removed != 1 {
		t.Errorf("Keep removed %d", removed)
	}
	if b.Len() != 2 || string(b.Raw(0)) != "<13>one" || string(b.Raw(1)) != "<13>three" || b.Bytes() != len("<13>one<13>three") {
		t.Errorf("after Keep: %d events, %q %q", b.Len(), b.Raw(0), b.Raw(1))
	}
}

func TestBatchBounds(t *testing.T) {
	p := NewPool(3, 10)
	b := p.Get("x")
	big := bytes.Repeat([]byte("a"), 25)
	if !b.Add(time.Now(), netip.AddrPort{}, big) {
		t.Fatal("an empty batch refused a message larger than its byte bound")
	}
	if b.Add(time.Now(), netip.AddrPort{}, []byte("b")) {
		t.Error("a batch over its byte bound took more")
	}
	b.Release()
	b = p.Get("y")
	for i := range 3 {
		if !b.Add(time.Now(), netip.AddrPort{}, []byte{byte('0' + i)}) {
			t.Fatalf("Add %d refused", i)
		}
	}
	if b.Add(time.Now(), netip.AddrPort{}, []byte("4")) {
		t.Error("a batch with maxEvents events took another")
	}
	if b.Input != "y" {
		t.Errorf("a released batch kept input %q", b.Input)
	}
}

// In steady state filling a batch and releasing it allocates nothing.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	p := NewPool(64, 64*600)
	msg := bytes.Repeat([]byte("m"), 500)
	src := netip.MustParseAddrPort("192.0.2.1:5000")
	now := time.Now()
	fill := func() {
		b := p.Get("udp")
		for b.Add(now, src, msg) {
		}
		b.Release()
	}
	fill()
	if n := testing.AllocsPerRun(200, fill); n > 0 {
		t.Errorf("fill and release: %.1f allocations per batch, want 0", n)
	}
}

func BenchmarkBatchAdd(b *testing.B) {
	p := NewPool(256, 256*512)
	msg := []byte(fmt.Sprintf("%500s", "x"))
	src := netip.MustParseAddrPort("192.0.2.1:5000")
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	batch := p.Get("udp")
	for b.Loop() {
		if !batch.Add(now, src, msg) {
			batch.Release()
			batch = p.Get("udp")
			batch.Add(now, src, msg)
		}
	}
}

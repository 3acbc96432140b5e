package file

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// benchBatch is 64 messages of 500 bytes, as a busy syslog input hands them on.
func benchBatch() *event.Batch {
	b := event.NewPool(64, 64*500).Get("in")
	// Varied payloads (a fixed xorshift sequence in hex), so zstd is not
	// measured on 64 copies of one line.
	x := uint64(88172645463325252)
	for i := range 64 {
		msg := []byte(fmt.Sprintf("<134>1 2026-03-01T12:00:%02dZ host app %d - - ", i%60, i))
		for len(msg) < 500 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			msg = fmt.Appendf(msg, "%x ", x%4096)
		}
		b.Add(day1, src, msg[:500])
	}
	return b
}

// TestAcceptAllocs: once warm, Accept allocates nothing per message (and
// next to nothing per batch) while no file is opened or rotated.
func TestAcceptAllocs(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "zstd"}[compress], func(t *testing.T) {
			o := start(t, Config{Compress: compress, MaxSize: 1 << 40})
			b := benchBatch()
			b.Events[3].Received = day1.Add(time.Second) // same day
			for range 10 {
				o.Accept(b)
			}
			allocs := testing.AllocsPerRun(200, func() { o.Accept(b) })
			if allocs > 0.5 {
				t.Fatalf("Accept of 64 events allocates %.1f times a call, want ~0", allocs)
			}
			if st := o.Stats(); st.Errors != 0 || st.EventsWritten != 64*211 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestNoGoroutineLeft: Shutdown ends every goroutine the output started
// (the fsync loop; the zstd encoder, at concurrency 1, runs none).
func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	o := start(t, Config{Compress: true, Sync: time.Millisecond})
	accept(o, "a", day1, msgs("g", 100, 300)...)
	accept(o, "b", day1, msgs("g", 100, 300)...)
	shutdown(t, o)
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Shutdown, %d before", n, before)
	}
}

func BenchmarkAccept(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "zstd"}[compress], func(b *testing.B) {
			o := start(b, Config{Compress: compress})
			batch := benchBatch()
			b.SetBytes(int64(batch.Bytes()))
			b.ReportAllocs()
			for b.Loop() {
				o.Accept(batch)
			}
			b.StopTimer()
			if st := o.Stats(); st.Errors != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

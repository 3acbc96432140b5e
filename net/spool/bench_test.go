package spool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// benchBatch is 256 messages of 500 bytes, varied (a fixed xorshift
// sequence in hex) so zstd is not measured on copies of one line.
func benchBatch() *event.Batch {
	b := event.NewPool(256, 256*500).Get("in")
	x := uint64(88172645463325252)
	for i := range 256 {
		m := fmt.Appendf(nil, "<134>1 2026-03-01T12:00:%02dZ host app %d - - ", i%60, i)
		for len(m) < 500 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			m = fmt.Appendf(m, "%x ", x%4096)
		}
		b.Add(t0, srcs[0], m[:500])
	}
	return b
}

// BenchmarkAppend measures Append on the real filesystem under each sync
// policy; MB/s is of the events' raw bytes.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		b.Run(policy.String(), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 2 << 30, Sync: policy, SyncInterval: time.Second, Log: discard()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := benchBatch()
			b.SetBytes(int64(batch.Bytes()))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Append(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(st.Bytes)/float64(st.AppendedEvents), "disk-B/event")
		})
	}
}

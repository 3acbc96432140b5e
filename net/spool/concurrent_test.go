package spool

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// batchNumber recovers k from a record made by mkBatch(k, n).
func batchNumber(b []byte) int {
	_, rest, _ := bytes.Cut(b, []byte("batch "))
	digits, _, _ := bytes.Cut(rest, []byte(" "))
	k, _ := strconv.Atoi(string(digits))
	return k
}

// TestConcurrent runs the pipeline (Append), a sender (Next, Ack, Rewind)
// and commands (Stats, Verify, Peek, Sync) at once on the real filesystem,
// with a fast background sync, and checks every batch arrives, in order.
func TestConcurrent(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncInterval, SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			o := Options{Dir: t.TempDir(), SegmentSize: 8 << 10, MaxBytes: 1 << 30, Sync: policy,
				SyncInterval: 2 * time.Millisecond, Log: discard()}
			s := mustOpen(t, o)
			const batches = 600
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			wg.Add(1)
			go func() { // the pipeline
				defer wg.Done()
				for k := range batches {
					b := mkBatch(k, 1+k%5)
					if err := s.Append(ctx, b); err != nil {
						errs <- err
						return
					}
					b.Release()
				}
			}()
			stop := make(chan struct{})
			wg.Add(1)
			go func() { // the commands
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s.Stats()
					if rep, err := s.Verify(); err != nil || len(rep.Bad) > 0 {
						errs <- errors.Join(err, errors.New("verify found problems"))
						return
					}
					bs, _ := s.Peek(10, pool)
					for _, b := range bs {
						b.Release()
					}
					s.Sync()
				}
			}()
			// The sender: in order, acknowledging as it goes, rewinding now and then.
			next, acked, got := 0, -1, 0
			for next < batches {
				r, err := s.Next(ctx)
				if err != nil {
					t.Fatalf("Next: %v (at batch %d)", err, next)
				}
				b, err := r.Decode(pool)
				if err != nil {
					t.Fatal(err)
				}
				k := batchNumber(b.Raw(0))
				want := mkBatch(k, 1+k%5)
				if k != next {
					t.Fatalf("batch %d, want %d", k, next)
				}
				if d := sameBatch(b, want); d != "" {
					t.Fatalf("batch %d: %s", k, d)
				}
				b.Release()
				want.Release()
				next++
				got++
				if got%7 == 0 {
					if err := s.Ack(r.LastSeq()); err != nil {
						t.Fatal(err)
					}
					acked = k
				}
				if got%97 == 0 {
					s.Rewind()
					next = acked + 1
				}
			}
			close(stop)
			wg.Wait()
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, o)
			recs := drain(t, s)
			if len(recs) != batches-1-acked {
				t.Fatalf("after restart %d records, want %d", len(recs), batches-1-acked)
			}
		})
	}
}

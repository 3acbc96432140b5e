package spool

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

func segFiles(disk *crashfs.FS) []string {
	var out []string
	for _, p := range disk.Names() {
		if _, ok := parseSegName(filepath.Base(p)); ok {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// TestAppendNextAck: records come back in order across segment rolls;
// acknowledged segments are removed once the cursor is durable (at once
// under SyncAlways, at the next sync otherwise); the figures follow.
func TestAppendNextAck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sync    SyncPolicy
		segSize int64
		batches int
		events  int
		ackAt   int // batches acknowledged
	}{
		{"one segment", SyncAlways, 0, 10, 5, 4},
		{"rolls always", SyncAlways, 600, 40, 3, 25},
		{"rolls interval", SyncInterval, 600, 40, 3, 25},
		{"rolls never", SyncNever, 600, 40, 3, 25},
		{"record per segment", SyncInterval, minSegmentSize, 12, 8, 12},
		{"ack everything", SyncAlways, 600, 30, 2, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := crashfs.New()
			o := simOpts(disk)
			o.Sync, o.SegmentSize = tc.sync, tc.segSize
			s := mustOpen(t, o)
			appendN(t, s, 0, tc.batches, tc.events)
			recs := drain(t, s)
			checkRecords(t, recs, seqs(0, tc.batches), tc.events)
			for i, r := range recs {
				if r.FirstSeq != uint64(i*tc.events+1) || r.Count != tc.events {
					t.Fatalf("record %d: seq %d count %d", i, r.FirstSeq, r.Count)
				}
			}
			before := len(segFiles(disk))
			if err := s.Ack(recs[tc.ackAt-1].LastSeq()); err != nil {
				t.Fatal(err)
			}
			if tc.sync != SyncAlways {
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			left := tc.batches - tc.ackAt
			st := s.Stats()
			if st.Events != uint64(left*tc.events) || st.Records != uint64(left) || st.AckedEvents != uint64(tc.ackAt*tc.events) ||
				st.AppendedEvents != uint64(tc.batches*tc.events) {
				t.Fatalf("stats %+v, want %d events in %d records left", st, left*tc.events, left)
			}
			after := segFiles(disk)
			if tc.segSize > 0 && len(after) >= before {
				t.Fatalf("%d segments before the ack, %d after: none removed", before, len(after))
			}
			if st.Segments != len(after) {
				t.Fatalf("stats say %d segments, %d on disk", st.Segments, len(after))
			}
			if left > 0 && !st.OldestUnacked.Equal(recs[tc.ackAt].Appended) {
				t.Fatalf("oldest unacked %v, want %v", st.OldestUnacked, recs[tc.ackAt].Appended)
			}
			if len(drain(t, s)) != 0 {
				t.Fatal("records again without a rewind")
			}
			appendN(t, s, tc.batches, 3, tc.events)
			checkRecords(t, drain(t, s), seqs(tc.batches, 3), tc.events)
		})
	}
}

// TestRewind: after Rewind, reading starts again at the first
// unacknowledged record, including one only partly acknowledged.
func TestRewind(t *testing.T) {
	o := simOpts(crashfs.New())
	o.SegmentSize = 600
	s := mustOpen(t, o)
	appendN(t, s, 0, 10, 4)
	recs := drain(t, s)
	s.Rewind()
	checkRecords(t, drain(t, s), seqs(0, 10), 4)
	if err := s.Ack(recs[2].LastSeq()); err != nil {
		t.Fatal(err)
	}
	s.Rewind()
	checkRecords(t, drain(t, s), seqs(3, 7), 4)
	if err := s.Ack(recs[5].FirstSeq + 1); err != nil { // half of record 5
		t.Fatal(err)
	}
	s.Rewind()
	checkRecords(t, drain(t, s), seqs(5, 5), 4)
	if st := s.Stats(); st.Events != 4*4+2 || st.Records != 5 {
		t.Fatalf("stats %+v, want 18 events in 5 records", st)
	}
	// Rewind wakes a Next that waits.
	got := make(chan Record)
	go func() {
		r, _ := s.Next(context.Background())
		got <- r
	}()
	time.Sleep(10 * time.Millisecond)
	s.Rewind()
	select {
	case r := <-got:
		if r.FirstSeq != recs[5].FirstSeq {
			t.Fatalf("after rewind, record at %d, want %d", r.FirstSeq, recs[5].FirstSeq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Rewind did not wake Next")
	}
}

// TestRestartKeepsUnacked: a clean restart keeps exactly the
// unacknowledged records, with the figures, under every policy.
func TestRestartKeepsUnacked(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			disk := crashfs.New()
			o := simOpts(disk)
			o.Sync, o.SegmentSize = policy, 700
			s := mustOpen(t, o)
			appendN(t, s, 0, 30, 3)
			recs := drain(t, s)
			if err := s.Ack(recs[11].LastSeq()); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, o)
			st := s.Stats()
			if st.Events != 18*3 || st.Records != 18 || st.Bytes == 0 || st.Recovery != (Recovery{}) {
				t.Fatalf("after restart: %+v", st)
			}
			checkRecords(t, drain(t, s), seqs(12, 18), 3)
			appendN(t, s, 30, 2, 3)
			got := drain(t, s)
			if len(got) != 2 || got[0].FirstSeq != 30*3+1 {
				t.Fatalf("after restart, new records at %v", got)
			}
		})
	}
}

// TestDropOldest: at MaxBytes the oldest records are dropped whole and
// counted exactly; the newest stay, in order.
func TestDropOldest(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			disk := crashfs.New()
			o := simOpts(disk)
			o.Sync, o.MaxBytes, o.SegmentSize = policy, 8000, 1000
			s := mustOpen(t, o)
			const batches, events = 200, 3
			appendN(t, s, 0, batches, events)
			st := s.Stats()
			if st.Bytes > o.MaxBytes {
				t.Fatalf("%d bytes on disk, bound %d", st.Bytes, o.MaxBytes)
			}
			if st.Dropped.Full == 0 || st.Dropped.Full+st.Events != batches*events {
				t.Fatalf("dropped %d + queued %d != appended %d", st.Dropped.Full, st.Events, batches*events)
			}
			recs := drain(t, s)
			kept := len(recs)
			if uint64(kept*events) != st.Events || st.Records != uint64(kept) {
				t.Fatalf("%d records delivered, stats say %d events in %d", kept, st.Events, st.Records)
			}
			checkRecords(t, recs, seqs(batches-kept, kept), events)
			if rep, err := s.Verify(); err != nil || len(rep.Bad) != 0 || rep.Bytes > o.MaxBytes {
				t.Fatalf("verify: %+v %v", rep, err)
			}
			// What was dropped stays dropped across a restart.
			s.Close()
			s = mustOpen(t, o)
			checkRecords(t, drain(t, s), seqs(batches-kept, kept), events)
		})
	}
}

// TestDropOldestInFlight: records the sender has but not acknowledged may
// be dropped; its late Ack is harmless and reading goes on at the head.
func TestDropOldestInFlight(t *testing.T) {
	o := simOpts(crashfs.New())
	o.MaxBytes, o.SegmentSize = 6000, 800
	s := mustOpen(t, o)
	appendN(t, s, 0, 5, 3)
	inflight := drain(t, s)
	appendN(t, s, 5, 100, 3)
	if err := s.Ack(inflight[len(inflight)-1].LastSeq()); err != nil {
		t.Fatal(err)
	}
	recs := drain(t, s)
	if len(recs) == 0 || recs[0].FirstSeq <= inflight[len(inflight)-1].LastSeq() {
		t.Fatalf("after the drop, reading starts at %v", recs[0].FirstSeq)
	}
	checkRecords(t, recs, seqs(105-len(recs), len(recs)), 3)
}

// TestTooLarge: a record that could never fit is refused and counted.
func TestTooLarge(t *testing.T) {
	o := simOpts(crashfs.New())
	o.MaxBytes = 2000
	s := mustOpen(t, o)
	b := pool.Get("in")
	x := uint64(88172645463325252)
	for range 50 {
		m := make([]byte, 100)
		for j := range m { // random: it does not compress
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			m[j] = byte(x)
		}
		b.Add(t0, srcs[0], m)
	}
	if err := s.Append(context.Background(), b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of a huge batch: %v, want ErrTooLarge", err)
	}
	if st := s.Stats(); st.Dropped.Full != 50 || st.Events != 0 {
		t.Fatalf("stats %+v", st)
	}
	appendN(t, s, 0, 2, 2) // the spool goes on
	if len(drain(t, s)) != 2 {
		t.Fatal("no records after a refused one")
	}
}

// TestBlock: under Block, Append waits for room and returns ErrFull when
// its context ends; an Ack makes room.
func TestBlock(t *testing.T) {
	disk := crashfs.New()
	o := simOpts(disk)
	o.MaxBytes, o.SegmentSize, o.WhenFull = 5000, 600, Block
	s := mustOpen(t, o)
	n := 0
	for ; n < 1000; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		b := mkBatch(n, 3)
		err := s.Append(ctx, b)
		b.Release()
		cancel()
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 1000 || n == 0 {
		t.Fatalf("%d batches fit under 5000 bytes", n)
	}
	st := s.Stats()
	if st.Dropped.Full != 0 || st.Events != uint64(n*3) {
		t.Fatalf("stats %+v: the caller counts ErrFull, nothing may be dropped", st)
	}
	done := make(chan error, 1)
	go func() {
		b := mkBatch(n, 3)
		done <- s.Append(context.Background(), b)
		b.Release()
	}()
	select {
	case err := <-done:
		t.Fatalf("Append returned %v while full", err)
	case <-time.After(30 * time.Millisecond):
	}
	recs := drain(t, s)
	if err := s.Ack(recs[len(recs)/2].LastSeq()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Append still blocked after an Ack made room")
	}
	checkRecords(t, drain(t, s), []int{n}, 3)
	// Close wakes a blocked Append.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		b := mkBatch(0, 3)
		err := s.Append(ctx, b)
		b.Release()
		cancel()
		if errors.Is(err, ErrFull) {
			break
		}
	}
	go func() {
		b := mkBatch(0, 3)
		done <- s.Append(context.Background(), b)
	}()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Append after Close: %v", err)
	}
}

// TestMaxAge: records older than MaxAge are dropped from the head and
// counted "age".
func TestMaxAge(t *testing.T) {
	clk := newClock()
	o := simOpts(crashfs.New())
	o.SegmentSize, o.MaxAge, o.Now = 600, 10*time.Minute, clk.now
	s := mustOpen(t, o)
	appendN(t, s, 0, 8, 3)
	clk.add(6 * time.Minute)
	appendN(t, s, 8, 5, 3)
	clk.add(5 * time.Minute) // the first 8 are 11 minutes old
	st := s.Stats()
	if st.Dropped.Age != 8*3 || st.Events != 5*3 || st.Records != 5 || !st.OldestUnacked.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("stats %+v, want 24 dropped for age, 15 left", st)
	}
	checkRecords(t, drain(t, s), seqs(8, 5), 3)
	clk.add(10 * time.Minute)
	if r, err := s.Next(ctxDone); err != context.Canceled {
		t.Fatalf("Next after everything expired: %v %v", r, err)
	}
	if st := s.Stats(); st.Dropped.Age != 13*3 || st.Events != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAckErrors: acknowledging what was never appended is an error; less
// than before is nothing.
func TestAckErrors(t *testing.T) {
	s := mustOpen(t, simOpts(crashfs.New()))
	appendN(t, s, 0, 2, 3)
	if err := s.Ack(7); err == nil || !strings.Contains(err.Error(), "only 6 appended") {
		t.Fatalf("Ack past the end: %v", err)
	}
	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Events != 2 || st.AckedEvents != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestClose: idempotent, final sync, ErrClosed after, no goroutine left.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	disk := crashfs.New()
	o := simOpts(disk)
	o.SyncInterval = time.Millisecond
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 3, 3)
	waiting := make(chan error)
	go func() {
		drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			if _, err := s.Next(drainCtx); err != nil {
				waiting <- err
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next waiting at Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	b := mkBatch(0, 1)
	if err := s.Append(context.Background(), b); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := s.Ack(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ack after Close: %v", err)
	}
	// Close synced everything: a power loss now loses nothing.
	s = mustOpen(t, simOptsOn(o, disk.Recover(nil, crashfs.DropAll)))
	if st := s.Stats(); st.Events != 9 {
		t.Fatalf("after Close and a power loss, %d events, want 9", st.Events)
	}
	s.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

func simOptsOn(o Options, disk *crashfs.FS) Options {
	o.FS = simFS{disk}
	return o
}

// TestPeek decodes the oldest unacknowledged events, changing nothing.
func TestPeek(t *testing.T) {
	o := simOpts(crashfs.New())
	o.SegmentSize = 600
	s := mustOpen(t, o)
	appendN(t, s, 0, 10, 4)
	recs := drain(t, s)
	if err := s.Ack(recs[1].FirstSeq + 1); err != nil { // 2 events of batch 1
		t.Fatal(err)
	}
	small := event.NewPool(3, 1<<16)
	batches, err := s.Peek(9, small)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range batches {
		for i := range b.Len() {
			got = append(got, string(b.Raw(i)))
		}
		b.Release()
	}
	var want []string
	for k := 1; len(want) < 9; k++ {
		for i := range 4 {
			if k == 1 && i < 2 {
				continue
			}
			if len(want) < 9 {
				want = append(want, string(msg(k, i)))
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Peek: %d events\n%s\nwant\n%s", len(got), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st := s.Stats(); st.Events != 8*4+2 {
		t.Fatalf("Peek changed the figures: %+v", st)
	}
}

// TestCursorSlots: a torn write of the newest slot leaves the previous one.
func TestCursorSlots(t *testing.T) {
	disk := crashfs.New()
	o := simOpts(disk)
	o.Sync = SyncAlways
	s := mustOpen(t, o)
	appendN(t, s, 0, 6, 2)
	recs := drain(t, s)
	for _, i := range []int{0, 1, 2} {
		if err := s.Ack(recs[i].LastSeq()); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	path := filepath.Join(dir, cursorName)
	data, _ := disk.ReadFile(path)
	gen, acked, _ := readSlots(data)
	off := int(gen%2) * slotStride
	data[off+12] ^= 0xff // the newest slot, torn
	disk.WriteFile(path, data)
	s = mustOpen(t, o)
	if st := s.Stats(); st.Recovery.CursorLost || st.Events != 8 {
		t.Fatalf("acked %d in the newest slot; after tearing it: %+v", acked, st)
	}
	checkRecords(t, drain(t, s), seqs(2, 4), 2)
}

// TestDecodeSmallPool: a record larger than the pool's batches fails to
// decode with a clear error, and Peek spreads it over several batches.
func TestDecodeSmallPool(t *testing.T) {
	s := mustOpen(t, simOpts(crashfs.New()))
	appendN(t, s, 0, 1, 10)
	recs := drain(t, s)
	if _, err := recs[0].Decode(event.NewPool(4, 1<<16)); !errors.Is(err, errBatchFull) {
		t.Fatalf("Decode into a small pool: %v", err)
	}
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(recs[0].Payload(), recs[0].Count, pool)
	if err != nil {
		t.Fatal(err)
	}
	want := mkBatch(0, 10)
	if diff := sameBatch(b, want); diff != "" {
		t.Fatal(diff)
	}
}

// TestAppendAllocs: Append allocates nothing per event and next to nothing
// per batch once warm.
func TestAppendAllocs(t *testing.T) {
	o := Options{Dir: t.TempDir(), MaxBytes: 1 << 40, Sync: SyncNever, SyncInterval: time.Hour, Log: discard()}
	s := mustOpen(t, o)
	b := mkBatch(1, 200)
	for range 20 {
		s.Append(context.Background(), b)
	}
	allocs := testing.AllocsPerRun(200, func() { s.Append(context.Background(), b) })
	if allocs > 2 {
		t.Fatalf("Append of 200 events allocates %.1f times a call", allocs)
	}
}

// TestWaitDurable: under interval the wait ends at the next sync; under
// always at once; a closed spool ends it with ErrClosed.
func TestWaitDurable(t *testing.T) {
	s := mustOpen(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20, Sync: SyncInterval, SyncInterval: 30 * time.Millisecond, Log: discard()})
	appendN(t, s, 0, 3, 5)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitDurable(ctx, 15); err != nil {
		t.Fatal(err)
	}
	if d := s.Durable(); d < 15 {
		t.Fatalf("Durable %d after WaitDurable(15)", d)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.WaitDurable(ctx, 99) }() // never appended
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitDurable on a closing spool: %v", err)
	}

	a := mustOpen(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20, Sync: SyncAlways, Log: discard()})
	appendN(t, a, 0, 1, 4)
	if d := a.Durable(); d != 4 {
		t.Fatalf("SyncAlways: Durable %d after 4 events, want 4", d)
	}
}

// TestCleanMark: a spool closed cleanly reopens clean; one that was not
// (the process died) says so and how many events it may replay.
func TestCleanMark(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 1 << 20, Log: discard()}
	s := mustOpen(t, o)
	if st := s.Stats(); st.Recovery.Unclean {
		t.Fatal("a new spool is not unclean")
	}
	appendN(t, s, 0, 4, 5)
	if err := s.Ack(5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, o)
	if st := s.Stats(); st.Recovery.Unclean || st.Recovery.Replayable != 0 {
		t.Fatalf("after Close: %+v", st.Recovery)
	}
	// Not closed: the mark Open removed is not written again.
	s2 := mustOpen(t, Options{Dir: dir, MaxBytes: 1 << 20, Log: discard()})
	if st := s2.Stats(); !st.Recovery.Unclean || st.Recovery.Replayable != 15 {
		t.Fatalf("opened without a Close: %+v", st.Recovery)
	}
}

package spool

import (
	"testing"
	"time"
)

// A spool on MemFS (a destination's --buffer 0) keeps order, acknowledgement
// across a reopen on the same MemFS, and the full policy's exact counts.
func TestSpoolOnMemFS(t *testing.T) {
	mem := NewMemFS()
	o := Options{Dir: "/mem/arch", FS: mem, MaxBytes: 1 << 20, SyncInterval: time.Hour, Log: discard()}
	s := mustOpen(t, o)
	appendN(t, s, 0, 5, 3)
	recs := drain(t, s)
	checkRecords(t, recs, []int{0, 1, 2, 3, 4}, 3)
	if err := s.Ack(recs[1].LastSeq()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, o)
	checkRecords(t, drain(t, s), []int{2, 3, 4}, 3)
	if st := s.Stats(); st.Events != 9 || st.Records != 3 {
		t.Errorf("after a reopen: %d events in %d records, want 9 in 3", st.Events, st.Records)
	}
	s.Close()

	// A small bound: drop-oldest sheds whole records, and counts every event.
	o.Dir, o.MaxBytes, o.SegmentSize = "/mem/small", 16<<10, 2<<10
	s = mustOpen(t, o)
	defer s.Close()
	appendN(t, s, 0, 200, 3)
	st := s.Stats()
	if st.Dropped.Full == 0 || st.Dropped.Full+st.Events != 600 || st.Bytes > o.MaxBytes {
		t.Errorf("drop-oldest on MemFS: dropped %d + queued %d != 600 appended, or %d bytes over %d", st.Dropped.Full, st.Events, st.Bytes, o.MaxBytes)
	}
}

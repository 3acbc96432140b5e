package spool

import (
	"path/filepath"
	"testing"

	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// TestOpenReadsOnlyTheLastSegment: recovery of a long backlog reads the
// seal of each segment (a few bytes) and scans only the last one; the
// figures are exact anyway. Stats then indexes the head segment (heads
// only), and nothing else.
func TestOpenReadsOnlyTheLastSegment(t *testing.T) {
	disk := crashfs.New()
	o := simOpts(disk)
	o.SegmentSize = minSegmentSize // a record or two per segment
	s := mustOpen(t, o)
	const batches = 400
	appendN(t, s, 0, batches, 2)
	recs := drain(t, s)
	if err := s.Ack(recs[0].LastSeq()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs := segFiles(disk)
	if len(segs) < 200 {
		t.Fatalf("%d segments, want 200 or more", len(segs))
	}

	disk.ResetReads()
	s = mustOpen(t, o)
	last := segs[len(segs)-1]
	for _, name := range segs {
		rc := disk.Reads(filepath.Join(dir, name))
		size, _ := disk.Stat(filepath.Join(dir, name))
		switch {
		case name == last && rc.Bytes < size:
			t.Fatalf("the last segment: %d of %d bytes read", rc.Bytes, size)
		case name != last && (rc.Bytes > sealLen || rc.Calls > 1):
			t.Fatalf("segment %s: %d bytes in %d reads at Open, want only its seal", name, rc.Bytes, rc.Calls)
		}
	}
	st := s.Stats()
	if st.Events != (batches-1)*2 || st.Records != batches-1 || !st.OldestUnacked.Equal(recs[1].Appended) {
		t.Fatalf("stats %+v", st)
	}
	read := 0
	for _, name := range segs[1 : len(segs)-1] {
		if rc := disk.Reads(filepath.Join(dir, name)); rc.Bytes > sealLen {
			read++
		}
	}
	if read > 1 {
		t.Fatalf("Stats read %d segments beyond their seals, want at most the head", read)
	}
	checkRecords(t, drain(t, s), seqs(1, batches-1), 2)
}

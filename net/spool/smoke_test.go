package spool

import (
	"testing"

	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

func TestSmoke(t *testing.T) {
	disk := crashfs.New()
	o := simOpts(disk)
	o.SegmentSize = 1024
	s := mustOpen(t, o)
	appendN(t, s, 0, 20, 3)
	recs := drain(t, s)
	checkRecords(t, recs, seqs(0, 20), 3)
	if err := s.Ack(recs[9].LastSeq()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("%+v", st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Log(disk.Names())
	s2 := mustOpen(t, o)
	st = s2.Stats()
	t.Logf("%+v", st)
	recs = drain(t, s2)
	checkRecords(t, recs, seqs(10, 10), 3)
	rep, err := s2.Verify()
	t.Logf("%+v %v", rep, err)
}

package spool

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// TestDiskFull runs the disk out of space at many points (inside a record,
// a seal, a new segment's header): Append returns ErrDiskFull, counts it,
// logs it once, leaves nothing torn (Verify and a fresh Open are clean),
// and works again, without reopening, once there is space.
func TestDiskFull(t *testing.T) {
	for budget := int64(0); budget < 3000; budget += 97 {
		for _, policy := range []SyncPolicy{SyncInterval, SyncAlways} {
			disk := crashfs.New()
			var logs logBuf
			o := simOpts(disk)
			o.Sync, o.SegmentSize, o.Log = policy, 600, logs.logger()
			s := mustOpen(t, o)
			appendN(t, s, 0, 3, 3)
			disk.SetSpace(disk.Used() + budget)
			var ok []int
			failed := 0
			for k := 3; failed < 4; k++ {
				b := mkBatch(k, 3)
				err := s.Append(context.Background(), b)
				b.Release()
				switch {
				case err == nil:
					ok = append(ok, k)
				case errors.Is(err, ErrDiskFull):
					failed++
					if !strings.Contains(err.Error(), `spool "arch": disk full`) {
						t.Fatalf("error reads %q", err)
					}
				default:
					t.Fatalf("budget %d: Append: %v", budget, err)
				}
			}
			st := s.Stats()
			if st.Dropped.DiskFull != uint64(failed*3) {
				t.Fatalf("budget %d: %d events counted disk full, want %d", budget, st.Dropped.DiskFull, failed*3)
			}
			if n := strings.Count(logs.String(), "disk full"); n != 1 {
				t.Fatalf("budget %d: logged %d times, want once:\n%s", budget, n, logs.String())
			}
			if rep, err := s.Verify(); err != nil || len(rep.Bad) != 0 {
				t.Fatalf("budget %d: Verify while full: %v %v", budget, rep.Bad, err)
			}
			// What is on disk now opens clean: no torn bytes were left.
			other := o
			other.FS, other.Log = simFS{disk.Recover(nil, crashfs.ProcessCrash)}, discard()
			s2 := mustOpen(t, other)
			st2 := s2.Stats()
			if r := st2.Recovery; r.TornBytes != 0 || r.CursorLost || r.CursorAhead != 0 || r.Missing != 0 || !r.Unclean || st2.Quarantined != 0 {
				t.Fatalf("budget %d: the full disk reopens with %+v", budget, st2)
			}
			s2.Close()

			disk.SetSpace(-1)
			appendN(t, s, 1000, 3, 3)
			if !strings.Contains(logs.String(), "space is back") {
				t.Fatalf("budget %d: no log of space coming back", budget)
			}
			want := append(append([]int{0, 1, 2}, ok...), 1000, 1001, 1002)
			checkRecords(t, drain(t, s), want, 3)
			s.Close()
			s = mustOpen(t, o)
			if rep, err := s.Verify(); err != nil || len(rep.Bad) != 0 {
				t.Fatalf("budget %d: Verify after reopening: %v %v", budget, rep.Bad, err)
			}
			checkRecords(t, drain(t, s), want, 3)
			s.Close()
		}
	}
}

// TestDiskFullFreesAcknowledgedSpace: the spool's own acknowledged data is
// what fills the disk (one segment, never rolled): once the sender has
// acknowledged everything, the next Append lets that segment go and
// spooling resumes, with no space coming from anywhere else.
func TestDiskFullFreesAcknowledgedSpace(t *testing.T) {
	disk := crashfs.New()
	o := simOpts(disk)
	o.SegmentSize = 1 << 20
	s := mustOpen(t, o)
	defer s.Close()
	appendN(t, s, 0, 2, 3)
	disk.SetSpace(disk.Used() + 2000)
	k := 2
	for ; ; k++ {
		b := mkBatch(k, 3)
		err := s.Append(context.Background(), b)
		b.Release()
		if errors.Is(err, ErrDiskFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := drain(t, s)
	if err := s.Ack(recs[len(recs)-1].LastSeq()); err != nil {
		t.Fatal(err)
	}
	b := mkBatch(5000, 3)
	err := s.Append(context.Background(), b)
	b.Release()
	if err != nil {
		t.Fatalf("Append after everything was acknowledged, the disk still full of it: %v", err)
	}
	checkRecords(t, drain(t, s), []int{5000}, 3)
}

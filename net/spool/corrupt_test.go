package spool

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

const corruptEvents = 3 // events per batch in these tests

// corruptSetup is a closed spool of several sealed segments and a last one.
type corruptSetup struct {
	disk    *crashfs.FS
	opts    Options
	names   []string             // segment file names, in order
	recs    map[string][]recMeta // each segment's records, from a scan
	batches int
}

func newCorruptSetup(t *testing.T) *corruptSetup {
	t.Helper()
	disk := crashfs.New()
	o := simOpts(disk)
	o.SegmentSize = 700
	s := mustOpen(t, o)
	const batches = 20
	appendN(t, s, 0, 16, corruptEvents)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	big := o
	big.SegmentSize = 1 << 20 // the last segment gets several records
	s = mustOpen(t, big)
	appendN(t, s, 16, batches-16, corruptEvents)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := &corruptSetup{disk: disk, opts: o, recs: map[string][]recMeta{}, batches: batches}
	for _, p := range disk.Names() {
		name := filepath.Base(p)
		first, ok := parseSegName(name)
		if !ok {
			continue
		}
		data, _ := disk.ReadFile(p)
		res := scanFull(newReadAhead(bytes.NewReader(data), int64(len(data)), 4096), segHeaderLen, int64(len(data)), first,
			func(m recMeta, _ []byte) string { c.recs[name] = append(c.recs[name], m); return "" })
		if res.bad != nil {
			t.Fatalf("setup: %s: %s", name, res.bad.reason)
		}
		c.names = append(c.names, name)
	}
	if len(c.names) < 4 {
		t.Fatalf("setup made %d segments, want at least 4", len(c.names))
	}
	for _, n := range c.names[:len(c.names)-1] {
		if len(c.recs[n]) < 2 {
			t.Fatalf("setup: segment %s has %d records, want 2 or more", n, len(c.recs[n]))
		}
	}
	return c
}

func (c *corruptSetup) path(name string) string { return filepath.Join(dir, name) }

func (c *corruptSetup) edit(t *testing.T, name string, fn func([]byte) []byte) {
	t.Helper()
	data, err := c.disk.ReadFile(c.path(name))
	if err != nil {
		t.Fatal(err)
	}
	c.disk.WriteFile(c.path(name), fn(data))
}

// batchOf is the batch number a record is (appendN: batch k holds seqs 3k+1...).
func batchOf(m recMeta) int { return int(m.first-1) / corruptEvents }

// TestCorruption damages the middle segment (which Open does not read) in
// each named way; Open must succeed, Verify must report the damage with
// segment and offset, Repair must set it aside, and every good record
// must still be delivered (before and after a restart), with the figures
// right. The same damage found by Next instead of Verify must give the same
// records.
func TestCorruption(t *testing.T) {
	type damage struct {
		name     string
		lostFrom int // first record of the middle segment lost: the rest of the segment goes
		atHeader bool
		reason   string
		apply    func(b []byte, recs []recMeta) []byte
	}
	cases := []damage{
		{"flipped byte mid-segment", 1, false, "crc mismatch", func(b []byte, r []recMeta) []byte { b[r[1].off+headLen+3] ^= 0x40; return b }},
		{"flipped sequence number", 1, false, "record starts at sequence", func(b []byte, r []recMeta) []byte { b[r[1].off+8] ^= 0x01; return b }},
		{"flipped length", 1, false, "", func(b []byte, r []recMeta) []byte { b[r[1].off+1] ^= 0x10; return b }},
		{"truncated segment", 1, false, "past the end", func(b []byte, r []recMeta) []byte { return b[:r[1].off+headLen+5] }},
		{"truncated in a record head", 1, false, "cut short", func(b []byte, r []recMeta) []byte { return b[:r[1].off+10] }},
		{"empty segment file", 0, true, "without a seal", func(b []byte, _ []recMeta) []byte { return b[:segHeaderLen] }},
		{"zero-length file", 0, true, "shorter than its header", func([]byte, []recMeta) []byte { return nil }},
		{"header wrong magic", 0, true, "bad magic", func(b []byte, _ []recMeta) []byte { b[0] = 'X'; return b }},
		{"header wrong version", 0, true, "unknown format version", func(b []byte, _ []recMeta) []byte {
			binary.LittleEndian.PutUint16(b[4:], 9)
			return b
		}},
	}
	for _, tc := range cases {
		for _, path := range []string{"repair", "next"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				c := newCorruptSetup(t)
				mid := c.names[1]
				recs := c.recs[mid]
				c.edit(t, mid, func(b []byte) []byte { return tc.apply(b, recs) })
				lost := map[int]bool{}
				for _, m := range recs[tc.lostFrom:] {
					lost[batchOf(m)] = true
				}
				var want []int
				for k := range c.batches {
					if !lost[k] {
						want = append(want, k)
					}
				}
				lostEvents := uint64(len(lost) * corruptEvents)

				s := mustOpen(t, c.opts)
				if path == "repair" {
					rep, err := s.Verify()
					if err != nil {
						t.Fatal(err)
					}
					wantOff := recs[tc.lostFrom].off
					if tc.atHeader {
						wantOff = 0
						if tc.name == "empty segment file" {
							wantOff = segHeaderLen
						}
					}
					if len(rep.Bad) != 1 || rep.Bad[0].Segment != mid || rep.Bad[0].Offset != wantOff || !strings.Contains(rep.Bad[0].Reason, tc.reason) {
						t.Fatalf("Verify: %v, want one problem in %s at offset %d (%q)", rep.Bad, mid, wantOff, tc.reason)
					}
					if msg := rep.Bad[0].Error(); !strings.Contains(msg, `spool "arch": segment `+mid+" offset ") {
						t.Errorf("error reads %q", msg)
					}
					rep, err = s.Repair()
					if err != nil {
						t.Fatal(err)
					}
					if len(rep.SetAside) != 1 || !strings.HasSuffix(rep.SetAside[0], ".bad") {
						t.Fatalf("Repair set aside %v", rep.SetAside)
					}
					if again, _ := s.Verify(); len(again.Bad) != 0 {
						t.Fatalf("Verify after Repair: %v", again.Bad)
					}
				}
				checkRecords(t, drain(t, s), want, corruptEvents)
				st := s.Stats()
				if st.Events != uint64(len(want)*corruptEvents) || st.Records != uint64(len(want)) || st.Dropped.Corrupt != lostEvents {
					t.Fatalf("stats: %d events in %d records, %d corrupt; want %d in %d, %d corrupt",
						st.Events, st.Records, st.Dropped.Corrupt, len(want)*corruptEvents, len(want), lostEvents)
				}
				if rep, _ := s.Verify(); len(rep.Bad) != 0 {
					t.Fatalf("Verify after reading: %v", rep.Bad)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// The good records survive a restart, and nothing bad comes back.
				s = mustOpen(t, c.opts)
				checkRecords(t, drain(t, s), want, corruptEvents)
				if st := s.Stats(); st.Events != uint64(len(want)*corruptEvents) {
					t.Fatalf("after restart: %d events, want %d", st.Events, len(want)*corruptEvents)
				}
			})
		}
	}
}

// TestCorruptCursor: a cursor with no valid slot opens as "nothing
// acknowledged before the first segment" and is reported, then set aside.
func TestCorruptCursor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply func([]byte) []byte
	}{
		{"garbage cursor file", func(b []byte) []byte { return bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, 300) }},
		{"both cursor slots bad", func(b []byte) []byte {
			b[slotStride+20] ^= 1
			b[20] ^= 1
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCorruptSetup(t)
			s := mustOpen(t, c.opts)
			first := drain(t, s)
			if err := s.Ack(first[0].LastSeq()); err != nil { // one batch, in the first segment
				t.Fatal(err)
			}
			s.Close()
			c.edit(t, cursorName, tc.apply)

			s = mustOpen(t, c.opts)
			if st := s.Stats(); !st.Recovery.CursorLost || st.Events != uint64(c.batches*corruptEvents) {
				t.Fatalf("stats after open: %+v", st)
			}
			rep, err := s.Verify()
			if err != nil || len(rep.Bad) != 1 || rep.Bad[0].Segment != cursorName || rep.Bad[0].Offset != 0 {
				t.Fatalf("Verify: %v %v, want the cursor reported", rep.Bad, err)
			}
			if !strings.HasPrefix(rep.Bad[0].Error(), `spool "arch": cursor offset 0:`) {
				t.Errorf("error reads %q", rep.Bad[0].Error())
			}
			rep, err = s.Repair()
			if err != nil || !slices.Equal(rep.SetAside, []string{"cursor.bad"}) {
				t.Fatalf("Repair: %v %v", rep.SetAside, err)
			}
			// Delivered again from the first segment: at least once, never lost.
			checkRecords(t, drain(t, s), seqs(0, c.batches), corruptEvents)
			if rep, _ := s.Verify(); len(rep.Bad) != 0 {
				t.Fatalf("Verify after Repair: %v", rep.Bad)
			}
			if err := s.Ack(first[1].LastSeq()); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = mustOpen(t, c.opts)
			if st := s.Stats(); st.Recovery.CursorLost || st.Events != uint64((c.batches-2)*corruptEvents) {
				t.Fatalf("after restart: %+v", st)
			}
			checkRecords(t, drain(t, s), seqs(2, c.batches-2), corruptEvents)
		})
	}
}

// TestCorruptLastSegment: damage in the segment Open scans. A torn tail is
// cut silently; damage with good records after it is set aside at Open.
func TestCorruptLastSegment(t *testing.T) {
	for _, tc := range []struct {
		name        string
		apply       func(b []byte, r []recMeta) []byte
		keep        func(n int) int // how many of the segment's n records stay
		quarantined int
	}{
		{"torn tail", func(b []byte, r []recMeta) []byte { return b[:r[len(r)-1].off+7] }, func(n int) int { return n - 1 }, 0},
		{"torn tail with garbage", func(b []byte, r []recMeta) []byte {
			b = b[:r[len(r)-1].off+40]
			copy(b[len(b)-9:], "\xde\xad\xbe\xef\x00\x01\x02\x03\x04")
			return b
		}, func(n int) int { return n - 1 }, 0},
		{"zeros after the last record", func(b []byte, _ []recMeta) []byte { return append(b, make([]byte, 300)...) }, func(n int) int { return n }, 0},
		{"flipped byte before good records", func(b []byte, r []recMeta) []byte { b[r[0].off+headLen+2] ^= 0x80; return b }, func(int) int { return 0 }, 1},
		{"flipped byte in the middle", func(b []byte, r []recMeta) []byte { b[r[1].off+headLen+2] ^= 0x80; return b }, func(int) int { return 1 }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCorruptSetup(t)
			last := c.names[len(c.names)-1]
			recs := c.recs[last]
			if len(recs) < 3 {
				t.Fatalf("last segment has %d records, the table needs 3", len(recs))
			}
			c.edit(t, last, func(b []byte) []byte { return tc.apply(b, recs) })
			keep := tc.keep(len(recs))
			want := seqs(0, batchOf(recs[0])+keep)
			s := mustOpen(t, c.opts)
			st := s.Stats()
			if st.Quarantined != tc.quarantined || st.Events != uint64(len(want)*corruptEvents) {
				t.Fatalf("stats after open: %+v, want %d quarantined, %d events", st, tc.quarantined, len(want)*corruptEvents)
			}
			if tc.quarantined == 0 && st.Recovery.TornBytes == 0 {
				t.Errorf("no torn bytes counted")
			}
			if rep, err := s.Verify(); err != nil || len(rep.Bad) != 0 {
				t.Fatalf("Verify after open: %v %v", rep.Bad, err)
			}
			checkRecords(t, drain(t, s), want, corruptEvents)
			appendN(t, s, 100, 2, corruptEvents) // and it goes on
			if got := drain(t, s); len(got) != 2 {
				t.Fatalf("after the damage, %d new records, want 2", len(got))
			}
		})
	}
}

// TestNeverPanicsOnGarbage opens spools whose every file is random bytes.
func TestNeverPanicsOnGarbage(t *testing.T) {
	for seed := range 50 {
		disk := crashfs.New()
		disk.MkdirAll(dir)
		x := uint32(seed*2654435761 + 1)
		rnd := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				b[i] = byte(x)
			}
			return b
		}
		for i := range 4 {
			data := rnd(int(x % 3000))
			if i == 0 && seed%2 == 0 {
				data = append(appendSegHeader(nil, 1, 0), data...)
			}
			disk.WriteFile(filepath.Join(dir, segName(uint64(1+i*100))), data)
		}
		disk.WriteFile(filepath.Join(dir, cursorName), rnd(600))
		s, err := Open(simOpts(disk))
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		drain(t, s)
		s.Stats()
		s.Verify()
		s.Repair()
		drain(t, s)
		appendN(t, s, 0, 3, 2)
		if got := drain(t, s); len(got) != 3 {
			t.Fatalf("seed %d: %d records after garbage, want 3", seed, len(got))
		}
		s.Close()
	}
}

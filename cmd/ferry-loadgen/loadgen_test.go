package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMessageSizeAndScan(t *testing.T) {
	min := minSize("s")
	for _, tc := range []struct {
		size    int
		id      string
		wantErr bool
	}{
		{min - 1, "s", true},
		{0, "s", true},
		{min, "s", false},
		{min + 1, "s", false},
		{min + 2, "s", false},
		{500, "s", false},
		{500, "bench-3", false},
		{1400, "x.y_z", false},
		{maxUDPSize, "s", false},
		{500, "has space", true},
		{500, "", true},
	} {
		t.Run(fmt.Sprintf("%d/%s", tc.size, tc.id), func(t *testing.T) {
			for _, f := range []framing{frameNone, frameNewline, frameOctet} {
				fr, err := newFrame(tc.size, tc.id, f)
				if tc.wantErr {
					if err == nil {
						t.Fatalf("size %d id %q: want refusal", tc.size, tc.id)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				bb := newBatchBuf(fr, 3)
				for _, first := range []uint64{0, 1234567890, maxSeq - 2} {
					bb.fill(first, 3)
					for i := range 3 {
						b := bb.buf[i*bb.frameLen : (i+1)*bb.frameLen]
						msg := b
						switch f {
						case frameNewline:
							if b[len(b)-1] != '\n' {
								t.Fatalf("newline frame %q", b)
							}
							msg = b[:len(b)-1]
						case frameOctet:
							want := fmt.Sprintf("%d ", tc.size)
							if !strings.HasPrefix(string(b), want) {
								t.Fatalf("octet frame starts %q, want %q", b[:10], want)
							}
							msg = b[len(want):]
						}
						if len(msg) != tc.size {
							t.Fatalf("message is %d bytes, want %d", len(msg), tc.size)
						}
						if !strings.HasPrefix(string(msg), "<134>1 2026-12-01T00:00:00.000Z loadgen ferry-loadgen - - - seq=") {
							t.Fatalf("message %q", msg)
						}
						seq, id, ok := parseSeq(msg)
						if !ok || seq != first+uint64(i) || string(id) != tc.id {
							t.Fatalf("parsed (%d, %q, %v) from %q, want (%d, %q)", seq, id, ok, msg[:min], first+uint64(i), tc.id)
						}
					}
				}
			}
		})
	}
}

func TestParseSeqRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"no sequence here",
		"seq=123 stream=s",
		"seq=000000000x stream=s",
		"seq=0000000001 stream=",
		"seq=0000000001 strm=s",
	} {
		if _, _, ok := parseSeq([]byte(s)); ok {
			t.Errorf("parseSeq(%q) accepted", s)
		}
	}
	seq, id, ok := parseSeq([]byte("x seq=0000000042 stream=abc\r"))
	if !ok || seq != 42 || string(id) != "abc" {
		t.Errorf("got %d %q %v", seq, id, ok)
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	fr, err := newFrame(500, "s", frameNone)
	if err != nil {
		t.Fatal(err)
	}
	bb := newBatchBuf(fr, 64)
	seq := uint64(0)
	if n := testing.AllocsPerRun(1000, func() { bb.fill(seq, 64); seq += 64 }); n != 0 {
		t.Fatalf("fill allocates %v times per batch", n)
	}
}

// The whole UDP batch path (fill + sendmmsg), with and without GSO, must not
// allocate either: the sender runs it up to a million times a second.
func TestUDPSendDoesNotAllocate(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close() // never read: the kernel drops what does not fit, sendmmsg still succeeds
	for _, gso := range []bool{false, true} {
		s, err := newSender(sendConfig{network: "udp", addr: rx.LocalAddr().String(), size: 500, batch: 64, gso: gso}, "s")
		if err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(200, func() {
			s.bb.fill(s.next, 64)
			sent, err := s.write(64)
			if err != nil || sent != 64 {
				t.Fatalf("gso=%v: sent %d: %v", gso, sent, err)
			}
			s.next += uint64(sent)
		})
		s.close()
		if n != 0 {
			t.Fatalf("gso=%v: send path allocates %v times per batch", gso, n)
		}
	}
}

func BenchmarkFill(b *testing.B) {
	fr, err := newFrame(500, "s", frameNone)
	if err != nil {
		b.Fatal(err)
	}
	bb := newBatchBuf(fr, 64)
	b.SetBytes(int64(64 * len(fr.b)))
	seq := uint64(0)
	for b.Loop() {
		bb.fill(seq, 64)
		seq += 64
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/msg")
}

// loopback starts a checker on 127.0.0.1 (a port picked now), runs send
// against it and returns both results.
func loopback(t *testing.T, cc checkConfig, sc sendConfig) (sendResult, checkReport) {
	t.Helper()
	cc.addr, cc.idle, cc.batch, cc.rcvbuf = "127.0.0.1:0", 300*time.Millisecond, 64, 64<<20
	srv, err := listenCheck(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type out struct {
		rep any
		err error
	}
	done := make(chan out, 1)
	go func() { r, err := srv.run(ctx); done <- out{r, err} }()
	sc.network, sc.addr = cc.network, srv.addr()
	res, err := runSend(ctx, sc)
	if err != nil {
		srv.stop()
		t.Fatalf("send: %v", err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("check: %v", o.err)
	}
	rep, ok := o.rep.(checkReport)
	if !ok {
		t.Fatalf("report %T", o.rep)
	}
	return res, rep
}

func wantClean(t *testing.T, res sendResult, rep checkReport, n uint64) {
	t.Helper()
	if res.Sent != n || rep.Received != n || rep.Missing != 0 || rep.Duplicates != 0 || rep.Unparsed != 0 {
		t.Fatalf("sent %d, received %d, missing %d, duplicates %d, unparsed %d; want %d clean\nsend %+v\ncheck %+v",
			res.Sent, rep.Received, rep.Missing, rep.Duplicates, rep.Unparsed, n, res, rep)
	}
}

func TestUDPLoopback(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) {
			// Paced (200k/s), so a receiver slowed by -race keeps up; the
			// buffer holds the rest.
			res, rep := loopback(t, checkConfig{network: "udp", expect: 10000},
				sendConfig{rate: 200000, count: 10000, size: 500, batch: 64, gso: gso, senders: 1, stream: "u"})
			wantClean(t, res, rep, 10000)
			if res.FirstSeq != 0 || res.LastSeq != 9999 || rep.MaxSeq != 9999 || rep.Streams["u"].Unique != 10000 {
				t.Fatalf("send %+v check %+v", res, rep)
			}
			if rep.Drops == nil || *rep.Drops != 0 || rep.Rcvbuf <= 0 {
				t.Fatalf("drops %v rcvbuf %d: want a read counter of 0 and a granted buffer", rep.Drops, rep.Rcvbuf)
			}
		})
	}
}

func TestTCPLoopback(t *testing.T) {
	for _, octet := range []bool{false, true} {
		t.Run(fmt.Sprintf("octet=%v", octet), func(t *testing.T) {
			res, rep := loopback(t, checkConfig{network: "tcp", expect: 10000},
				sendConfig{rate: 0, count: 10000, size: 500, batch: 100, octet: octet, senders: 2, stream: "t"})
			wantClean(t, res, rep, 10000)
			for _, id := range []string{"t-0", "t-1"} {
				if s := rep.Streams[id]; s.Unique != 5000 || s.MaxSeq != 4999 || res.Streams[id].Sent != 5000 {
					t.Fatalf("stream %s: check %+v send %+v", id, s, res.Streams[id])
				}
			}
		})
	}
}

func TestCountOnly(t *testing.T) {
	srv, err := listenCheck(checkConfig{network: "udp", addr: "127.0.0.1:0", idle: 200 * time.Millisecond, countOnly: true, batch: 64, rcvbuf: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan any, 1)
	go func() { r, _ := srv.run(context.Background()); done <- r }()
	if _, err := runSend(context.Background(), sendConfig{network: "udp", addr: srv.addr(), rate: 200000, count: 5000, size: 500, batch: 64, senders: 1, stream: "s"}); err != nil {
		t.Fatal(err)
	}
	r := (<-done).(countReport)
	if r.Received+*r.Drops != 5000 || r.Bytes != 500*r.Received || !r.CountOnly {
		t.Fatalf("count-only report %+v (drops %d)", r, *r.Drops)
	}
}

func TestFileCheck(t *testing.T) {
	fr, err := newFrame(200, "f", frameNewline)
	if err != nil {
		t.Fatal(err)
	}
	bb := newBatchBuf(fr, 1)
	var b strings.Builder
	for _, seq := range []uint64{0, 1, 2, 4, 5, 5, 6, 7, 8, 9, 70, 200} { // 3 missing, 5 twice, 10-69 and 71-199 missing
		bb.fill(seq, 1)
		b.Write(bb.buf)
	}
	b.WriteString("a line without a sequence number\n\n")
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	if err := os.WriteFile(p1, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bb.fill(9, 1) // the second file repeats 9 and ends without a newline
	if err := os.WriteFile(p2, bb.buf[:len(bb.buf)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := listenCheck(checkConfig{files: []string{p1, p2}, expect: 250})
	if err != nil {
		t.Fatal(err)
	}
	v, err := srv.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep := v.(checkReport)
	want := streamReport{Received: 13, Unique: 11, Missing: 1 + 60 + 129, Duplicates: 2, MaxSeq: 200,
		MissingRanges: []string{"3", "10-69", "71-199"}}
	if !reflect.DeepEqual(rep.Streams["f"], want) {
		t.Fatalf("stream f: got %+v\nwant %+v", rep.Streams["f"], want)
	}
	// expect 250 over 11 distinct seen: 239 missing, which exceeds the gaps (190).
	if rep.Received != 14 || rep.Unparsed != 1 || rep.Duplicates != 2 || rep.Missing != 239 || rep.MaxSeq != 200 {
		t.Fatalf("report %+v", rep)
	}
}

func TestMissingRangesWordBoundaries(t *testing.T) {
	s := &streamState{maxSeq: -1}
	for seq := uint64(0); seq < 1000; seq++ {
		if seq == 63 || seq == 64 || (seq >= 128 && seq < 320) || seq == 998 {
			continue
		}
		s.add(seq)
	}
	got := s.missingRanges()
	want := []string{"63-64", "128-319", "998"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestCLIErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"send"},
		{"send", "--udp", "127.0.0.1:1", "--tcp", "127.0.0.1:1"},
		{"send", "--udp", "127.0.0.1:1", "--octet-count"},
		{"send", "--udp", "127.0.0.1:1", "--size", "50"},
		{"check"},
		{"check", "--udp", "127.0.0.1:0", "--file", "x"},
	} {
		var out, errb strings.Builder
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
}

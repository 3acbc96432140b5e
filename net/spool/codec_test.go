package spool

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ferry-appliance/ferry/net/event"
)

// TestCompressFrames checks the split payload: a large encoding is cut into
// up to chunks frames that decompress, back to back, to the same bytes;
// damage to any frame boundary is refused, never decoded short.
func TestCompressFrames(t *testing.T) {
	cd, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	cd.chunks = maxChunks // whatever GOMAXPROCS is here
	r := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 5*minChunk+123)
	for i := range raw {
		raw[i] = "abcdefgh ="[r.IntN(10)]
	}
	for _, tc := range []struct {
		size, frames int
	}{
		{minChunk - 1, 1},
		{2*minChunk - 1, 1},
		{2 * minChunk, 2},
		{3*minChunk + 7, 3},
		{len(raw), maxChunks},
	} {
		in := raw[:tc.size]
		payload := cd.compress(nil, in)
		if got := countFrames(t, payload); got != tc.frames {
			t.Errorf("%d bytes: %d frames, want %d", tc.size, got, tc.frames)
		}
		out, err := cd.decompress(payload)
		if err != nil {
			t.Fatalf("%d bytes: %v", tc.size, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("%d bytes: decompressed to %d different bytes", tc.size, len(out))
		}
		cd.release(out)
	}

	payload := cd.compress(nil, raw)
	bad := map[string][]byte{
		"cut short":          payload[:len(payload)-1],
		"a byte too many":    append(append([]byte(nil), payload...), 0),
		"a frame too many":   append(append([]byte(nil), payload...), cd.enc.EncodeAll(raw[:10], nil)...),
		"a skippable frame":  append(append([]byte(nil), payload...), 0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0),
		"empty":              nil,
		"first frame only":   payload[:firstFrameLen(t, payload)],
		"first frame missed": payload[firstFrameLen(t, payload):],
	}
	for name, p := range bad {
		out, err := cd.decompress(p)
		if name == "first frame only" || name == "first frame missed" {
			// These are well formed on their own: they decode to a part of
			// raw, and the event count (checked above this) catches them.
			if err != nil || len(out) >= len(raw) {
				t.Errorf("%s: %d bytes, %v", name, len(out), err)
			}
			continue
		}
		if !errors.Is(err, errPayload) {
			t.Errorf("%s: %d bytes, %v; want a payload error", name, len(out), err)
		}
	}
}

func countFrames(t *testing.T, p []byte) int {
	n := 0
	for len(p) > 0 {
		p = p[firstFrameLen(t, p):]
		n++
	}
	return n
}

func firstFrameLen(t *testing.T, p []byte) int {
	t.Helper()
	_, err := contentSize(p) // the whole payload is well formed
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= len(p); n++ {
		if _, err := contentSize(p[:n]); err == nil {
			return n
		}
	}
	t.Fatal("no frame ends in the payload")
	return 0
}

// TestLargeBatchRoundTrip appends batches large enough to be split and reads
// them back through the spool, across a reopen.
func TestLargeBatchRoundTrip(t *testing.T) {
	big := event.NewPool(4096, 4<<20)
	o := Options{Dir: t.TempDir(), MaxBytes: 64 << 20, Log: discard()}
	s := mustOpen(t, o)
	s.codec.chunks = maxChunks
	for k := range 3 {
		b := mkBatchFrom(big, k, 2000)
		if err := s.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, o)
	recs := drain(t, s)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for k, r := range recs {
		if n := countFrames(t, r.Payload()); n < 2 {
			t.Errorf("record %d: %d frame(s); a batch of %d bytes should be split", k, n, mkBatchFrom(big, k, 2000).Bytes())
		}
		got, err := r.Decode(big)
		if err != nil {
			t.Fatalf("record %d: %v", k, err)
		}
		want := mkBatchFrom(big, k, 2000)
		if d := sameBatch(got, want); d != "" {
			t.Fatalf("record %d: %s", k, d)
		}
		got.Release()
		want.Release()
	}
}

package spool

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// fuzzSeeds are real spool bytes: a whole segment (records and seal), one
// record, one encoded batch.
func fuzzSeeds(t testing.TB) [][]byte {
	disk := crashfs.New()
	s, err := Open(simOpts(disk))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4 {
		b := mkBatch(k, 1+k)
		s.Append(t.Context(), b)
		b.Release()
	}
	s.Close()
	seg, _ := disk.ReadFile(filepath.Join(dir, segName(1)))
	rec := seg[segHeaderLen : segHeaderLen+frameLen+binary.LittleEndian.Uint32(seg[segHeaderLen:])]
	sealed := appendSeal(append([]byte(nil), seg...), 11, 11, 4, 0)
	// A record whose payload is two frames, as compress writes for a large batch.
	cd, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	raw := encodeBatch(nil, mkBatch(5, 3))
	split := cd.enc.EncodeAll(raw[:len(raw)/2], make([]byte, headLen))
	split = cd.enc.EncodeAll(raw[len(raw)/2:], split)
	putHead(split, 1, 3, 0)
	return [][]byte{seg, sealed, rec, split, encodeBatch(nil, mkBatch(7, 3)), nil, []byte("FSEG")}
}

// FuzzRecordDecode feeds bytes to the segment scanner, the record decoder
// (as found, and with the crc fixed so the payload decoder is reached) and
// the batch decoder. None may panic; a record the scanner accepts must
// frame back to the same bytes, and a payload that decodes must re-encode
// to one that decodes to the same batch.
func FuzzRecordDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	cd, err := newCodec()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSegment(t, cd, data)
		if len(data) >= headLen && len(data) <= maxBodyLen { // the same bytes as one record, crc made right
			rec := append([]byte(nil), data...)
			binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-frameLen))
			binary.LittleEndian.PutUint32(rec[4:], crc(rec[frameLen:]))
			fuzzRecord(t, cd, rec)
		}
		fuzzEncoded(t, data)
		readSlots(data)
		if len(data) >= sealLen {
			parseSeal(data[len(data)-sealLen:])
		}
	})
}

func fuzzSegment(t *testing.T, cd *codec, data []byte) {
	first := uint64(1)
	if len(data) >= 16 {
		first = binary.LittleEndian.Uint64(data[8:]) // whatever the header says
	}
	findRecords(data, 0)
	if checkSegHeader(data, first) != "" || first >= maxSeq {
		return
	}
	size := int64(len(data))
	scanHeads(newReadAhead(bytes.NewReader(data), size, 64), segHeaderLen, size, first)
	scanFull(newReadAhead(bytes.NewReader(data), size, 64), segHeaderLen, size, first, func(m recMeta, rec []byte) string {
		if m.size != uint32(len(rec)) || m.last() < m.first {
			t.Fatalf("record at %d: meta %+v for %d bytes", m.off, m, len(rec))
		}
		fuzzRecord(t, cd, rec)
		return ""
	})
}

// fuzzRecord checks a record whose crc is right.
func fuzzRecord(t *testing.T, cd *codec, rec []byte) {
	h := parseHead(rec)
	again := make([]byte, headLen, len(rec))
	again = append(again, rec[headLen:]...)
	putHead(again, h.first, h.count, h.appended)
	if !bytes.Equal(again, rec) {
		t.Fatalf("a record with a good crc frames back differently")
	}
	if h.count == 0 || h.count > 4096 {
		return // a seal, or more events than is worth building here
	}
	b, ok := decodeFuzz(cd, rec[headLen:], int(h.count))
	if !ok {
		return
	}
	// Accepted: it re-encodes to a payload that decodes to the same batch.
	payload := cd.compress(nil, encodeBatch(nil, b))
	b2, ok := decodeFuzz(cd, payload, int(h.count))
	if !ok {
		t.Fatalf("a decoded batch re-encodes to something that does not decode")
	}
	if d := sameBatch(b, b2); d != "" {
		t.Fatalf("decode, encode, decode: %s", d)
	}
}

// decodeFuzz decodes into a pool sized for the payload, so that Add never refuses.
func decodeFuzz(cd *codec, payload []byte, count int) (*event.Batch, bool) {
	var b *event.Batch
	err := cd.walk(payload, count, func(input []byte, _ int, recv time.Time, src netip.AddrPort, raw []byte) error {
		if b == nil {
			b = event.NewPool(count, 1<<20).Get(string(input))
		}
		if !b.Add(recv, src, raw) {
			b = nil // larger than the pool's bytes: not worth checking here
			return errBatchFull
		}
		return nil
	})
	return b, err == nil && b != nil
}

// fuzzEncoded walks data as a decompressed batch encoding.
func fuzzEncoded(t *testing.T, data []byte) {
	if len(data) < 2 {
		return
	}
	p := &payloadReader{b: data[1:]}
	if _, err := p.bytes(maxInputLen, "input"); err != nil {
		return
	}
	n, err := p.uvarint("count")
	if err != nil || n == 0 || n > maxCount {
		return
	}
	r, err := readPayload(data, int(n))
	if err != nil {
		return
	}
	for range n {
		if _, _, _, err := r.event(); err != nil {
			return
		}
	}
}

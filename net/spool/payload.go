package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/klauspost/compress/zstd"
)

// A record's payload is its batch, encoded (below) and then compressed as
// one zstd frame. The encoding, version 1:
//
//	byte    version (1)
//	uvarint len(input), input
//	uvarint event count
//	per event: int64 receive time (unix nanos; math.MinInt64: none),
//	           uvarint len(source), source (netip.AddrPort binary),
//	           uvarint len(raw), raw
const payloadVersion = 1

const (
	maxInputLen  = 1 << 16
	maxSourceLen = 64
	// maxDecoded bounds what one payload may decompress to, and
	// maxRatio how much larger than its compressed size (zstd cannot do
	// better than about 32000:1), so that damaged or hostile bytes cannot
	// make the decoder allocate or work without limit.
	maxDecoded = 256 << 20
	maxRatio   = 1 << 16
	freeBufs   = 4 // decompression buffers kept for reuse
)

// codec compresses payloads (for the writer, one at a time) and
// decompresses them (for anyone, concurrently).
type codec struct {
	enc  *zstd.Encoder
	dec  *zstd.Decoder
	free chan []byte
}

// newCodec makes the spool's codec. Neither the encoder (concurrency 1) nor
// the decoder (DecodeAll only) runs goroutines, so there is nothing to stop
// and records stay decodable after the spool is closed.
func newCodec() (*codec, error) {
	// Single segment: the frame always declares its content size, which
	// bounds what decoding it may produce.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), // the record's crc covers the payload
		zstd.WithSingleSegment(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(maxDecoded),
		zstd.WithDecoderMaxWindow(maxDecoded), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, err
	}
	return &codec{enc: enc, dec: dec, free: make(chan []byte, freeBufs)}, nil
}

// encodeBatch appends b's encoding to dst; it allocates nothing once dst
// has grown.
func encodeBatch(dst []byte, b *event.Batch) []byte {
	dst = append(dst, payloadVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.Input)))
	dst = append(dst, b.Input...)
	dst = binary.AppendUvarint(dst, uint64(b.Len()))
	for i := range b.Events {
		e := &b.Events[i]
		dst = binary.LittleEndian.AppendUint64(dst, uint64(unixNanos(e.Received)))
		dst = binary.AppendUvarint(dst, uint64(addrPortLen(e.Source)))
		dst, _ = e.Source.AppendBinary(dst) // never fails
		raw := b.Raw(i)
		dst = binary.AppendUvarint(dst, uint64(len(raw)))
		dst = append(dst, raw...)
	}
	return dst
}

// addrPortLen is the length of p's binary form: address, zone, port.
func addrPortLen(p netip.AddrPort) int {
	a := p.Addr()
	switch {
	case a.Is4():
		return 4 + 2
	case a.Is6():
		return 16 + len(a.Zone()) + 2
	}
	return 2
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// payloadReader walks an encoded (decompressed) batch.
type payloadReader struct {
	b     []byte
	input []byte
	n     int // events announced
	read  int // events returned
}

var errPayload = errors.New("bad payload")

func payloadErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errPayload}, args...)...)
}

// readPayload checks the encoding's start; want is the record's event count.
func readPayload(b []byte, want int) (*payloadReader, error) {
	if len(b) == 0 || b[0] != payloadVersion {
		return nil, payloadErr("unknown encoding")
	}
	p := &payloadReader{b: b[1:]}
	in, err := p.bytes(maxInputLen, "input name")
	if err != nil {
		return nil, err
	}
	n, err := p.uvarint("event count")
	if err != nil {
		return nil, err
	}
	if n != uint64(want) {
		return nil, payloadErr("%d events, record says %d", n, want)
	}
	p.input, p.n = in, want
	return p, nil
}

func (p *payloadReader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		return 0, payloadErr("bad %s", what)
	}
	p.b = p.b[n:]
	return v, nil
}

func (p *payloadReader) bytes(limit uint64, what string) ([]byte, error) {
	n, err := p.uvarint(what + " length")
	if err != nil {
		return nil, err
	}
	if n > limit || n > uint64(len(p.b)) {
		return nil, payloadErr("%s of %d bytes", what, n)
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v, nil
}

// event returns the next event; the raw bytes alias the payload.
func (p *payloadReader) event() (time.Time, netip.AddrPort, []byte, error) {
	var src netip.AddrPort
	if p.read >= p.n {
		return time.Time{}, src, nil, payloadErr("past the last event")
	}
	if len(p.b) < 8 {
		return time.Time{}, src, nil, payloadErr("event %d cut short", p.read)
	}
	recv := fromUnixNanos(int64(binary.LittleEndian.Uint64(p.b)))
	p.b = p.b[8:]
	sb, err := p.bytes(maxSourceLen, "source")
	if err != nil {
		return time.Time{}, src, nil, err
	}
	if err := src.UnmarshalBinary(sb); err != nil {
		return time.Time{}, src, nil, payloadErr("event %d source: %v", p.read, err)
	}
	raw, err := p.bytes(math.MaxUint32, "message")
	if err != nil {
		return time.Time{}, src, nil, err
	}
	p.read++
	if p.read == p.n && len(p.b) != 0 {
		return time.Time{}, src, nil, payloadErr("%d bytes after the last event", len(p.b))
	}
	return recv, src, raw, nil
}

// decompress returns the payload's encoding in a buffer to give back with
// release. The payload must be what the encoder writes: one frame that
// declares its content size; the output is capped at that size.
func (c *codec) decompress(payload []byte) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(payload); err != nil || h.Skippable || !h.HasFCS {
		return nil, payloadErr("not a zstd frame with a content size")
	}
	n := h.FrameContentSize
	if n == 0 || n > maxDecoded || n > max(1<<20, uint64(len(payload))*maxRatio) {
		return nil, payloadErr("zstd frame of %d bytes claims %d", len(payload), n)
	}
	var buf []byte
	select {
	case buf = <-c.free:
	default:
	}
	if uint64(cap(buf)) < n {
		c.release(buf)
		buf = make([]byte, 0, n)
	}
	out, err := c.dec.DecodeAll(payload, buf[:0:n])
	if err == nil && uint64(len(out)) != n {
		err = fmt.Errorf("%d bytes, the frame says %d", len(out), n)
	}
	if err != nil {
		c.release(buf)
		return nil, payloadErr("zstd: %v", err)
	}
	return out, nil
}

func (c *codec) release(buf []byte) {
	if cap(buf) == 0 || cap(buf) > 4<<20 {
		return // keep only buffers worth keeping and not huge
	}
	select {
	case c.free <- buf:
	default:
	}
}

// walk decodes a payload of count events and calls fn with each; the raw
// bytes are valid only during the call.
func (c *codec) walk(payload []byte, count int, fn func(input []byte, i int, recv time.Time, src netip.AddrPort, raw []byte) error) error {
	buf, err := c.decompress(payload)
	if err != nil {
		return err
	}
	defer c.release(buf)
	p, err := readPayload(buf, count)
	if err != nil {
		return err
	}
	for i := range count {
		recv, src, raw, err := p.event()
		if err != nil {
			return err
		}
		if err := fn(p.input, i, recv, src, raw); err != nil {
			return err
		}
	}
	return nil
}

// errBatchFull says a pool's batches are too small for a record.
var errBatchFull = errors.New("record does not fit one batch of the pool")

// batch decodes a payload into one batch from pool.
func (c *codec) batch(payload []byte, count int, pool *event.Pool) (*event.Batch, error) {
	var b *event.Batch
	err := c.walk(payload, count, func(input []byte, _ int, recv time.Time, src netip.AddrPort, raw []byte) error {
		if b == nil {
			b = pool.Get(string(input))
		}
		if !b.Add(recv, src, raw) {
			return fmt.Errorf("%w (%d events)", errBatchFull, count)
		}
		return nil
	})
	if err != nil {
		if b != nil {
			b.Release()
		}
		return nil, err
	}
	return b, nil
}

// batches decodes events [from, to) of a payload into batches from pool,
// appended to out, taking a new batch whenever one is full.
func (c *codec) batches(out []*event.Batch, payload []byte, count, from, to int, pool *event.Pool) ([]*event.Batch, error) {
	var b *event.Batch
	err := c.walk(payload, count, func(input []byte, i int, recv time.Time, src netip.AddrPort, raw []byte) error {
		if i < from || i >= to {
			return nil
		}
		if b == nil || !b.Add(recv, src, raw) {
			b = pool.Get(string(input))
			b.Add(recv, src, raw) // an empty batch takes any one message
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

package spool

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/klauspost/compress/zstd"
)

// codec compresses payloads (for the writer) and decompresses them (for
// anyone, concurrently).
type codec struct {
	enc    *zstd.Encoder
	chunks int // at most this many frames, compressed in parallel
	dec    *zstd.Decoder
	free   chan []byte
}

const (
	// minChunk is the least a frame of a split payload holds: below it
	// the goroutine and the lost matches cost more than they save.
	minChunk = 32 << 10
	// maxChunks bounds the frames of one payload.
	maxChunks = 4
)

// newCodec makes the spool's codec. Neither the encoder (EncodeAll only)
// nor the decoder (DecodeAll only) runs goroutines of its own, so there is
// nothing to stop and records stay decodable after the spool is closed.
func newCodec() (*codec, error) {
	// Compression is what bounds the append rate (one core does about half
	// the disk's sequential rate), so a large payload is cut into up to
	// one frame per core, compressed at once.
	chunks := min(runtime.GOMAXPROCS(0), maxChunks)
	// Single segment: the frame always declares its content size, which
	// bounds what decoding it may produce.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(chunks),
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
	return &codec{enc: enc, chunks: chunks, dec: dec, free: make(chan []byte, freeBufs)}, nil
}

// compress appends raw's compression to dst: one zstd frame, or for a
// large raw up to c.chunks frames back to back (a valid zstd stream: their
// contents concatenated are raw), the first compressed by the caller and
// the others by goroutines it waits for.
func (c *codec) compress(dst, raw []byte) []byte {
	k := min(c.chunks, len(raw)/minChunk)
	if k <= 1 {
		return c.enc.EncodeAll(raw, dst)
	}
	size := (len(raw) + k - 1) / k
	parts := make([][]byte, k-1)
	var wg sync.WaitGroup
	for i := range parts {
		lo := (i + 1) * size
		chunk := raw[lo:min(lo+size, len(raw))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i] = c.enc.EncodeAll(chunk, make([]byte, 0, len(chunk)/2))
		}()
	}
	dst = c.enc.EncodeAll(raw[:size], dst)
	wg.Wait()
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

// contentSize walks the zstd frames of payload and returns the sum of
// their declared content sizes. Every frame must declare one, none may be
// skippable, and the frames must end exactly where payload does.
func contentSize(payload []byte) (uint64, error) {
	var total uint64
	for frames := 0; len(payload) > 0; frames++ {
		if frames == maxChunks {
			return 0, payloadErr("more than %d zstd frames", maxChunks)
		}
		var h zstd.Header
		if err := h.Decode(payload); err != nil || h.Skippable || !h.HasFCS || h.FrameContentSize == 0 {
			return 0, payloadErr("not a zstd frame with a content size")
		}
		n, err := zstdFrameLen(payload, h.HeaderSize, h.HasCheckSum)
		if err != nil {
			return 0, err
		}
		total += h.FrameContentSize
		if total > maxDecoded {
			return 0, payloadErr("zstd frames claim more than %d bytes", maxDecoded)
		}
		payload = payload[n:]
	}
	if total == 0 {
		return 0, payloadErr("no zstd frame")
	}
	return total, nil
}

// zstdFrameLen is the length of the zstd frame at the start of p whose header
// is hdr bytes long: the header, its blocks (RFC 8878 3.1.1.2) and the
// checksum if it has one.
func zstdFrameLen(p []byte, hdr int, checksum bool) (int, error) {
	off := hdr
	for {
		if off+3 > len(p) {
			return 0, payloadErr("zstd frame cut short")
		}
		bh := uint32(p[off]) | uint32(p[off+1])<<8 | uint32(p[off+2])<<16
		off += 3
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case 0, 2: // raw, compressed
		case 1: // RLE: one byte, repeated size times
			size = 1
		default:
			return 0, payloadErr("zstd block of reserved type")
		}
		if size > len(p)-off {
			return 0, payloadErr("zstd frame cut short")
		}
		off += size
		if bh&1 != 0 {
			break
		}
	}
	if checksum {
		off += 4
		if off > len(p) {
			return 0, payloadErr("zstd frame cut short")
		}
	}
	return off, nil
}

// decompress returns the payload's encoding in a buffer to give back with
// release. The payload must be what compress writes: frames that declare
// their content size; the output is capped at their sum.
func (c *codec) decompress(payload []byte) ([]byte, error) {
	n, err := contentSize(payload)
	if err != nil {
		return nil, err
	}
	if n > max(1<<20, uint64(len(payload))*maxRatio) {
		return nil, payloadErr("zstd frames of %d bytes claim %d", len(payload), n)
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

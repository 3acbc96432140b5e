package spool

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/klauspost/compress/zstd"
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

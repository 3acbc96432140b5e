package spool

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// Record is one appended batch as Next delivers it.
type Record struct {
	FirstSeq uint64 // sequence number of its first event
	Count    int    // events
	Appended time.Time
	Segment  string // file and offset it was read from (troubleshooting)
	Offset   int64

	payload []byte
	codec   *codec
}

// LastSeq is the sequence number of the record's last event: Ack(r.LastSeq())
// acknowledges it.
func (r Record) LastSeq() uint64 { return r.FirstSeq + uint64(r.Count) - 1 }

// Payload is the batch as stored: its encoding, zstd-compressed. It is the
// record's own copy; the relay ships it unchanged.
func (r Record) Payload() []byte { return r.payload }

// Decode decompresses the payload into a batch from pool. The pool's
// batches must be large enough for the record (batches appended from that
// pool are); the caller releases the batch.
func (r Record) Decode(pool *event.Pool) (*event.Batch, error) {
	if r.codec == nil {
		return nil, errors.New("spool: decode of an empty record")
	}
	b, err := r.codec.batch(r.payload, r.Count, pool)
	if err != nil {
		return nil, fmt.Errorf("spool: record %d-%d (segment %s offset %d): %w", r.FirstSeq, r.LastSeq(), r.Segment, r.Offset, err)
	}
	return b, nil
}

// Decoder decodes payloads shipped as-is (Record.Payload) on the receiving
// side. It is safe for concurrent use and runs no goroutines.
type Decoder struct{ c *codec }

// NewDecoder makes a Decoder.
func NewDecoder() (*Decoder, error) {
	c, err := newCodec()
	if err != nil {
		return nil, fmt.Errorf("spool: decoder: %w", err)
	}
	return &Decoder{c: c}, nil
}

// Decode decodes a payload of count events into a batch from pool.
func (d *Decoder) Decode(payload []byte, count int, pool *event.Pool) (*event.Batch, error) {
	if count <= 0 || count > maxCount {
		return nil, fmt.Errorf("spool: decode: %w: count %d", errPayload, count)
	}
	return d.c.batch(payload, count, pool)
}

// Check reports whether payload decodes to count events, building nothing.
func (d *Decoder) Check(payload []byte, count int) error {
	if count <= 0 || count > maxCount {
		return fmt.Errorf("spool: decode: %w: count %d", errPayload, count)
	}
	return d.c.walk(payload, count, func([]byte, int, time.Time, netip.AddrPort, []byte) error { return nil })
}

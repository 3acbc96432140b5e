package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
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

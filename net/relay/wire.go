// Package relay is Ferry's node-to-node transport: a sender that ships a
// destination's spool records to one base or a pair of bases over mutual
// TLS, and a listener that stores what it receives in its own spool before
// acknowledging it, suppressing what a sender resends. docs/protocol.md is
// the wire format; this file is its codec.
package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this release speaks.
const Version = 1

// magic opens every hello: a peer that is not Ferry fails on it at once.
const magic = "FERRY-RELAY"

// Frame types.
const (
	typeHello   byte = 1 // sender -> listener: magic, version, guid, name
	typeWelcome byte = 2 // listener -> sender: magic, version, guid, name
	typeBatch   byte = 3 // stream, first, count, codec, payload
	typeAck     byte = 4 // stream, first, last, flags (ackDuplicate)
	typePing    byte = 5 // nonce
	typePong    byte = 6 // nonce
	typeError   byte = 7 // message; the connection closes after it
)

const (
	// MaxFrame bounds a frame's length field: a spool record is at most
	// 64 MiB, and a peer that is not Ferry shows as a length past it.
	MaxFrame = 64<<20 + 4096
	maxStr   = 1024
	// CodecSpool is the payload as the spool stores it (net/spool FORMAT.md).
	CodecSpool byte = 1
)

// ErrNotFerry: the peer's bytes are not this protocol.
var ErrNotFerry = errors.New("peer does not speak the Ferry relay protocol")

// frame is one decoded frame; which fields are set depends on typ.
type frame struct {
	typ     byte
	version uint16
	guid    string
	name    string
	stream  string
	first   uint64
	last    uint64 // ack
	count   uint32 // batch
	codec   byte
	payload []byte
	nonce   uint64
	msg     string
	flags   byte // ack
}

// ackDuplicate: the listener had stored the batch before (a resend).
const ackDuplicate byte = 1

// appendFrame appends f's encoding: a 4-byte length (of everything after
// it), the type, the body.
func appendFrame(dst []byte, f *frame) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, f.typ)
	switch f.typ {
	case typeHello, typeWelcome:
		dst = append(dst, magic...)
		dst = binary.BigEndian.AppendUint16(dst, f.version)
		dst = appendStr(dst, f.guid)
		dst = appendStr(dst, f.name)
	case typeBatch:
		dst = appendStr(dst, f.stream)
		dst = binary.BigEndian.AppendUint64(dst, f.first)
		dst = binary.BigEndian.AppendUint32(dst, f.count)
		dst = append(dst, f.codec)
		dst = append(dst, f.payload...)
	case typeAck:
		dst = appendStr(dst, f.stream)
		dst = binary.BigEndian.AppendUint64(dst, f.first)
		dst = binary.BigEndian.AppendUint64(dst, f.last)
		dst = append(dst, f.flags)
	case typePing, typePong:
		dst = binary.BigEndian.AppendUint64(dst, f.nonce)
	case typeError:
		dst = appendStr(dst, f.msg)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendStr(dst []byte, s string) []byte {
	if len(s) > maxStr {
		s = s[:maxStr]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// reader decodes frames from a connection. A batch's payload is its own
// copy: it outlives the next read.
type reader struct {
	r   *bufio.Reader
	buf []byte
}

func newReader(r io.Reader) *reader { return &reader{r: bufio.NewReaderSize(r, 64<<10)} }

// next reads one frame. A frame that does not parse is ErrNotFerry (on a
// first frame) or a protocol error; either way the connection is done.
func (r *reader) next() (*frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > MaxFrame {
		return nil, fmt.Errorf("%w: frame length %d", ErrNotFerry, n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("frame cut short: %w", err)
	}
	return decodeFrame(body)
}

// decodeFrame parses a frame's type and body (everything after the length).
func decodeFrame(b []byte) (*frame, error) {
	if len(b) < 1 {
		return nil, errFrame("empty frame")
	}
	f := &frame{typ: b[0]}
	d := decoder{b: b[1:]}
	switch f.typ {
	case typeHello, typeWelcome:
		if string(d.bytes(len(magic))) != magic {
			return nil, fmt.Errorf("%w: no %s greeting", ErrNotFerry, magic)
		}
		f.version = d.u16()
		f.guid = d.str()
		f.name = d.str()
	case typeBatch:
		f.stream = d.str()
		f.first = d.u64()
		f.count = d.u32()
		f.codec = d.byte()
		if d.err == nil {
			f.payload = append([]byte(nil), d.b...)
			d.b = nil
		}
		if d.err == nil && (f.count == 0 || f.first == 0 || f.first+uint64(f.count) < f.first) {
			return nil, errFrame("batch of %d events from %d", f.count, f.first)
		}
	case typeAck:
		f.stream = d.str()
		f.first = d.u64()
		f.last = d.u64()
		f.flags = d.byte()
	case typePing, typePong:
		f.nonce = d.u64()
	case typeError:
		f.msg = d.str()
	default:
		return nil, errFrame("unknown frame type %d", f.typ)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errFrame("%d bytes after a frame of type %d", len(d.b), f.typ)
	}
	return f, nil
}

// errProto is a frame that breaks the protocol.
var errProto = errors.New("relay protocol error")

func errFrame(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProto, fmt.Sprintf(format, args...))
}

// decoder reads big-endian fields, remembering the first shortfall.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = errFrame("frame cut short")
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str() string {
	n := int(d.u16())
	if n > maxStr {
		d.err = errFrame("string of %d bytes", n)
		return ""
	}
	return string(d.bytes(n))
}

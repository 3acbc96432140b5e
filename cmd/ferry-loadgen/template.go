package main

import (
	"errors"
	"fmt"
)

// The message is one fixed RFC 5424 line; only its ten sequence digits change
// from message to message, so the sender never formats anything per message.
const (
	msgPrefix  = "<134>1 2026-12-01T00:00:00.000Z loadgen ferry-loadgen - - - seq="
	seqDigits  = 10
	streamKey  = " stream="
	maxSeq     = 9_999_999_999 // the largest value ten digits hold
	maxUDPSize = 65507         // the largest IPv4 UDP payload
	maxIDLen   = 64
)

// minSize is the shortest message that carries stream id: prefix, digits and
// the stream field, with no padding.
func minSize(id string) int { return len(msgPrefix) + seqDigits + len(streamKey) + len(id) }

// validStreamID keeps ids to characters the checker's scanner can delimit
// (it stops at a space) and that are safe as JSON keys and file names.
func validStreamID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("stream id %q: must be 1..%d characters", id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("stream id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// newMessage returns the message for stream id padded to exactly size bytes,
// and the offset of its sequence digits (all zero).
func newMessage(size int, id string) ([]byte, int, error) {
	if err := validStreamID(id); err != nil {
		return nil, 0, err
	}
	if min := minSize(id); size < min {
		return nil, 0, fmt.Errorf("size %d is below the minimum %d for stream %q", size, min, id)
	}
	msg := make([]byte, 0, size)
	msg = append(msg, msgPrefix...)
	seqOff := len(msg)
	for range seqDigits {
		msg = append(msg, '0')
	}
	msg = append(msg, streamKey...)
	msg = append(msg, id...)
	if len(msg) < size {
		msg = append(msg, ' ') // the scanner ends the stream id at a space
	}
	for i := 0; len(msg) < size; i++ {
		msg = append(msg, 'a'+byte(i%26))
	}
	return msg, seqOff, nil
}

// framing says how a message is wrapped on the wire.
type framing int

const (
	frameNone    framing = iota // UDP: one datagram is one message
	frameNewline                // TCP: message then '\n'
	frameOctet                  // TCP: RFC 6587 octet counting, "LEN message"
)

// frame is one message as it goes on the wire, and where its digits are.
type frame struct {
	b      []byte
	seqOff int
}

// newFrame wraps the message for stream id in framing f.
func newFrame(size int, id string, f framing) (frame, error) {
	msg, off, err := newMessage(size, id)
	if err != nil {
		return frame{}, err
	}
	switch f {
	case frameNone:
		return frame{msg, off}, nil
	case frameNewline:
		return frame{append(msg, '\n'), off}, nil
	case frameOctet:
		p := fmt.Appendf(nil, "%d ", len(msg))
		return frame{append(p, msg...), off + len(p)}, nil
	}
	return frame{}, errors.New("unknown framing")
}

// batchBuf holds n copies of one frame back to back; fill patches their
// sequence numbers, so a batch goes out as one buffer (TCP, UDP GSO) or as
// n iovecs into it (sendmmsg).
type batchBuf struct {
	buf      []byte
	frameLen int
	seqOff   int
	n        int
}

func newBatchBuf(fr frame, n int) *batchBuf {
	b := &batchBuf{buf: make([]byte, 0, n*len(fr.b)), frameLen: len(fr.b), seqOff: fr.seqOff, n: n}
	for range n {
		b.buf = append(b.buf, fr.b...)
	}
	return b
}

// fill writes sequence numbers first, first+1, ... into the first count
// frames. It is the only per-message work the sender does and must not
// allocate.
func (b *batchBuf) fill(first uint64, count int) {
	off := b.seqOff
	for i := range count {
		putSeq(b.buf[off:off+seqDigits], first+uint64(i))
		off += b.frameLen
	}
}

// digitPairs lets putSeq emit two digits per division.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// putSeq writes seq as exactly ten zero-padded decimal digits into d.
func putSeq(d []byte, seq uint64) {
	_ = d[9]
	for i := 8; i >= 0; i -= 2 {
		q := seq / 100
		r := seq - q*100
		d[i] = digitPairs[2*r]
		d[i+1] = digitPairs[2*r+1]
		seq = q
	}
}

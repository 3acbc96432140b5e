package syslogmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxSize is the largest message a Framer returns whole when
// NewFramer is given no size, because RFC 5425 asks receivers to take at least
// 2 KiB and real senders (Java stack traces, firewalls) go well past 8 KiB.
const DefaultMaxSize = 64 << 10

// OctetCountBound is the largest octet count a Framer believes when its
// maxSize is smaller: a count above both is taken for garbage (a newline-framed
// line that happens to start with digits) rather than skipped byte by byte.
const OctetCountBound = 16 << 20

// maxNoProgress is how many empty reads in a row a Framer tolerates before it
// gives up, as bufio does, so a broken reader cannot spin it forever.
const maxNoProgress = 100

// Frame is one message cut from a stream by Framer.Next.
type Frame struct {
	// Msg is the message without its framing; it points into the Framer's
	// buffer and is valid until the next call to Next. It is nil when Err is
	// set.
	Msg []byte
	// Truncated reports that the message was longer than the Framer's
	// maxSize: Msg holds its first maxSize bytes and the rest was skipped.
	Truncated bool
	// Octet reports that the frame was octet-counted (RFC 6587 3.4.1)
	// rather than newline-terminated.
	Octet bool
	// Err is a non-fatal FramingError: the framer skipped to the next newline
	// and can be called again.
	Err error
}

// FramingError describes an octet count that could not be believed, because
// the caller counts these per connection and wants to know where they were.
type FramingError struct {
	// Offset is the stream offset of the frame's first byte.
	Offset int64
	// Reason says what was wrong with the count.
	Reason string
}

// Error implements error.
func (e FramingError) Error() string {
	return fmt.Sprintf("syslogmsg: framing error at offset %d: %s", e.Offset, e.Reason)
}

// Framer cuts a TCP or TLS syslog stream into messages, detecting per frame
// whether the sender uses octet counting or newline framing, because one
// listener serves mixed senders. It reads into one fixed buffer and never
// allocates per message. A Framer is not safe for concurrent use.
type Framer struct {
	r     io.Reader
	buf   []byte
	rpos  int   // first unconsumed byte of buf
	wpos  int   // end of buffered data
	base  int64 // stream offset of buf[0]
	max   int
	bound int
	err   error // sticky read error

	scanned  int  // bytes after rpos already searched for a terminator
	skipN    int  // counted bytes of a truncated frame still to discard
	skipLine bool // discard through the next terminator
}

// NewFramer returns a Framer reading r whose messages are at most maxSize
// bytes long; maxSize <= 0 means DefaultMaxSize.
func NewFramer(r io.Reader, maxSize int) *Framer {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	bound := max(OctetCountBound, maxSize)
	// Room for the longest count header (the digits of bound and a space)
	// plus one byte, so a newline frame of maxSize+1 bytes proves truncation.
	return &Framer{r: r, buf: make([]byte, maxSize+len(fmt.Sprint(bound))+2), max: maxSize, bound: bound}
}

// Next returns the next message. It returns io.EOF at a clean end of the
// stream and io.ErrUnexpectedEOF when the stream ends inside an octet-counted
// frame; any other error is the reader's and, like those, is returned again by
// every later call. Framing errors are not returned here but in Frame.Err.
func (f *Framer) Next() (Frame, error) {
	if err := f.skip(); err != nil {
		return Frame{}, err
	}
	for {
		if f.rpos == f.wpos {
			if err := f.fill(); err != nil {
				return Frame{}, err
			}
			continue
		}
		c := f.buf[f.rpos]
		if c >= '0' && c <= '9' {
			return f.octet()
		}
		fr, ok, err := f.line()
		if err != nil || ok {
			return fr, err
		}
	}
}

// octet reads an octet-counted frame starting at rpos.
func (f *Framer) octet() (Frame, error) {
	n, k := 0, 0
	for {
		if f.rpos+k == f.wpos {
			if err := f.fill(); err != nil {
				return Frame{}, unexpected(err)
			}
			continue
		}
		c := f.buf[f.rpos+k]
		if c >= '0' && c <= '9' {
			if k == 0 && c == '0' {
				return f.framingError("octet count is 0 or has a leading zero"), nil
			}
			n = n*10 + int(c-'0')
			if n > f.bound {
				return f.framingError(fmt.Sprintf("octet count exceeds %d", f.bound)), nil
			}
			k++
			continue
		}
		if c != ' ' {
			return f.framingError(fmt.Sprintf("octet count followed by %q, not a space", c)), nil
		}
		break
	}
	head := k + 1
	want := min(n, f.max)
	for f.wpos-f.rpos < head+want {
		if err := f.fill(); err != nil {
			return Frame{}, unexpected(err)
		}
	}
	start := f.rpos + head
	f.rpos = start + want
	f.scanned = 0
	fr := Frame{Msg: f.buf[start:f.rpos:f.rpos], Octet: true}
	if n > f.max {
		fr.Truncated = true
		f.skipN = n - f.max
	}
	return fr, nil
}

// line reads a newline-, or NUL-, terminated frame starting at rpos. It
// reports false without error for an empty line, which it consumes.
func (f *Framer) line() (Frame, bool, error) {
	for {
		if i := indexTerm(f.buf[f.rpos+f.scanned : f.wpos]); i >= 0 {
			end := f.rpos + f.scanned + i
			start := f.rpos
			f.rpos, f.scanned = end+1, 0
			if end > start && f.buf[end-1] == '\r' {
				end--
			}
			if end-start > f.max {
				return Frame{Msg: f.buf[start : start+f.max : start+f.max], Truncated: true}, true, nil
			}
			if end == start {
				return Frame{}, false, nil
			}
			return Frame{Msg: f.buf[start:end:end]}, true, nil
		}
		f.scanned = f.wpos - f.rpos
		// maxSize bytes and a CR may still be a whole line: wait for its LF.
		if f.scanned > f.max && (f.scanned > f.max+1 || f.buf[f.rpos+f.max] != '\r') {
			start := f.rpos
			f.rpos += f.max
			f.scanned, f.skipLine = 0, true
			return Frame{Msg: f.buf[start:f.rpos:f.rpos], Truncated: true}, true, nil
		}
		if err := f.fill(); err != nil {
			if err != io.EOF || f.rpos == f.wpos {
				return Frame{}, false, err
			}
			// The last line of a stream needs no terminator.
			start, end := f.rpos, f.wpos
			f.rpos, f.scanned = f.wpos, 0
			if f.buf[end-1] == '\r' {
				end--
			}
			if end == start {
				return Frame{}, false, nil
			}
			return Frame{Msg: f.buf[start:end:end]}, true, nil
		}
	}
}

// skip discards what an earlier truncation or framing error left to discard.
func (f *Framer) skip() error {
	for f.skipN > 0 {
		if f.rpos == f.wpos {
			if err := f.fill(); err != nil {
				return unexpected(err)
			}
		}
		n := min(f.skipN, f.wpos-f.rpos)
		f.rpos += n
		f.skipN -= n
	}
	for f.skipLine {
		if i := indexTerm(f.buf[f.rpos:f.wpos]); i >= 0 {
			f.rpos += i + 1
			f.skipLine = false
			break
		}
		f.rpos = f.wpos
		if err := f.fill(); err != nil {
			return err
		}
	}
	f.scanned = 0
	return nil
}

// framingError reports a bad octet count at rpos and arranges for the next
// call to resynchronise at the next terminator.
func (f *Framer) framingError(reason string) Frame {
	f.skipLine, f.scanned = true, 0
	return Frame{Octet: true, Err: FramingError{Offset: f.base + int64(f.rpos), Reason: reason}}
}

// fill reads more data after compacting the buffer. It returns the sticky
// read error once the data read with it has been buffered.
func (f *Framer) fill() error {
	if f.err != nil {
		return f.err
	}
	if f.rpos > 0 {
		n := copy(f.buf, f.buf[f.rpos:f.wpos])
		f.base += int64(f.rpos)
		f.rpos, f.wpos = 0, n
	}
	for range maxNoProgress {
		n, err := f.r.Read(f.buf[f.wpos:])
		if n < 0 || n > len(f.buf)-f.wpos {
			f.err = errors.New("syslogmsg: reader returned an invalid count")
			return f.err
		}
		f.wpos += n
		if err != nil {
			f.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	f.err = io.ErrNoProgress
	return f.err
}

// indexTerm returns the index of the first LF or NUL in b, or -1.
func indexTerm(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, 0)
	}
	if j := bytes.IndexByte(b[:i], 0); j >= 0 {
		return j
	}
	return i
}

// unexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

package file

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// Accept writes the batch's raw messages, one per line, to each event's
// day file of the batch's input. It copies everything before returning (the
// pipeline releases the batch) and allocates nothing per message. On a write
// error the events not yet safely handed to the kernel are counted as
// errors, the file is cut back to its last whole batch, and the next batch
// tries again: a full disk may get space back.
func (o *Output) Accept(b *event.Batch) { o.write(b, false) }

// Write is Accept for a sender that acknowledges its spool: the batch is
// written and fsynced before it returns, and its error says whether it was.
// A failed batch leaves no partial line behind in the current file, so
// writing it again duplicates at most the lines a rotation within the batch
// had already closed into an earlier file.
func (o *Output) Write(b *event.Batch) error { return o.write(b, true) }

func (o *Output) write(b *event.Batch, sync bool) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	o.eventsIn.Add(uint64(n))
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.started || o.closed {
		err := fmt.Errorf("file output %q: not running", o.cfg.Name)
		o.fail(n, err)
		return err
	}
	s := o.streams[b.Input]
	if s == nil {
		s = o.newStream(b.Input)
		o.streams[b.Input] = s
	}
	for i := range n {
		line := b.Raw(i)
		if bytes.IndexByte(line, '\n') >= 0 {
			o.scratch = escapeNewlines(o.scratch[:0], line)
			line = o.scratch
			o.escaped.Add(1)
		}
		if err := o.ready(s, o.dateKey(b.Events[i].Received), int64(len(line))+1); err != nil {
			o.failPending(s, n-i, err)
			return err
		}
		if err := s.writeLine(line); err != nil {
			s.broken = true
			err = fmt.Errorf("write %s: %w", s.path(), err)
			o.failPending(s, n-i, err)
			return err
		}
	}
	if err := s.flush(); err != nil {
		s.broken = true
		err = fmt.Errorf("write %s: %w", s.path(), err)
		o.failPending(s, 0, err)
		return err
	}
	if sync && s.f != nil {
		// A rotation within the batch synced the files it closed.
		if err := s.f.Sync(); err != nil {
			s.broken = true
			err = fmt.Errorf("sync %s: %w", s.path(), err)
			o.failPending(s, 0, err)
			return err
		}
	}
	o.commit(s)
	return nil
}

// escapeNewlines appends src to dst with every '\n' replaced by the two
// bytes `\n`, so that one line stays one message.
func escapeNewlines(dst, src []byte) []byte {
	for {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, '\\', 'n')
		src = src[i+1:]
	}
}

// dateKey is t's local date as yyyymmdd; events without a receive time take
// the clock's.
func (o *Output) dateKey(t time.Time) int {
	if t.IsZero() {
		t = o.now()
	}
	y, m, d := t.In(o.loc).Date()
	return y*10000 + int(m)*100 + d
}

// commit counts the stream's pending events as written: they reached the kernel.
func (o *Output) commit(s *stream) {
	if s.pendEvents > 0 {
		o.eventsWritten.Add(s.pendEvents)
		o.bytesWritten.Add(s.pendBytes)
		s.dirty = true
	}
	s.pendEvents, s.pendBytes = 0, 0
}

// failPending counts the stream's pending events and more (the batch's
// events not yet written) as failed.
func (o *Output) failPending(s *stream, more int, err error) {
	o.fail(int(s.pendEvents)+more, err)
	s.pendEvents, s.pendBytes = 0, 0
}

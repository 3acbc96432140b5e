package spool

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// writer is the segment Append writes to. Guarded by wmu.
type writer struct {
	seg    *segment // nil: the next Append starts a segment
	f      File
	off    int64 // end of the last whole record: where the next one goes
	broken bool  // a failed write may have left bytes past off

	raw []byte // the batch's encoding, reused
	rec []byte // the record being written, reused
}

// needsRoll reports whether a record of n bytes must go to a new segment.
func (w *writer) needsRoll(n, limit int64) bool {
	return w.seg == nil || w.seg.sealed || (w.seg.records > 0 && w.off+n+sealLen > limit)
}

// errWait: no room, and the policy is to wait for some.
var errWait = errors.New("wait for room")

// Append adds b as one record. The caller keeps b: everything is copied
// (encoded and compressed once) before Append returns. Under SyncAlways it
// returns after the record is synced. It returns ErrFull (Block, ctx ended),
// ErrTooLarge, ErrDiskFull (counted; the partial write is cut back and the
// spool goes on once space is back) or another disk error (the caller
// counts those).
func (s *Spool) Append(ctx context.Context, b *event.Batch) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	s.wmu.Lock()
	if s.isClosed() {
		s.wmu.Unlock()
		return s.closedErr()
	}
	return s.appendLocked(ctx, s.encode(b), n)
}

// AppendPayload adds a record whose payload is already what Append would
// have made (Record.Payload of another spool, shipped by the relay): it is
// stored as it is, not compressed again. The caller has checked that it
// decodes (Decoder.Check) to count events.
func (s *Spool) AppendPayload(ctx context.Context, payload []byte, count int) error {
	if count <= 0 || count > maxCount {
		return fmt.Errorf("spool %q: payload of %d events: %w", s.name, count, ErrTooLarge)
	}
	s.wmu.Lock()
	if s.isClosed() {
		s.wmu.Unlock()
		return s.closedErr()
	}
	w := &s.w
	if cap(w.rec) < headLen {
		w.rec = make([]byte, headLen, 64<<10)
	}
	w.rec = append(w.rec[:headLen], payload...)
	return s.appendLocked(ctx, w.rec, count)
}

// NextSeq is the sequence number the next appended event gets.
func (s *Spool) NextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// appendLocked writes rec (n events) under the full policy; called with
// wmu held, which it releases.
func (s *Spool) appendLocked(ctx context.Context, rec []byte, n int) error {
	if n > maxCount || int64(len(rec))+segHeaderLen+2*sealLen > min(s.opts.MaxBytes, maxBodyLen) {
		s.wmu.Unlock()
		s.mu.Lock()
		s.cnt.dropped.Full += uint64(n)
		s.mu.Unlock()
		return fmt.Errorf("spool %q: %d events in %d bytes: %w", s.name, n, len(rec), ErrTooLarge)
	}
	if err := s.releaseAcked(); err != nil {
		s.log.Warn("disk full: could not let go of the acknowledged segment", "err", err)
	}
	var own []byte // rec, copied while waiting lets another Append use the buffer
	for {
		s.mu.Lock()
		wake := s.roomWake // before looking for room: an Ack after this closes it
		s.mu.Unlock()
		err := s.makeRoom(int64(len(rec)))
		if err == nil {
			break
		}
		if err != errWait {
			s.wmu.Unlock()
			return s.failWrite(err, n)
		}
		if own == nil {
			own = append([]byte(nil), rec...)
			rec = own
		}
		s.wmu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("spool %q: %w: %w", s.name, ErrFull, ctx.Err())
		case <-s.closing:
			return s.closedErr()
		}
		s.wmu.Lock()
		if s.isClosed() {
			s.wmu.Unlock()
			return s.closedErr()
		}
	}
	err := s.write(rec, n)
	if cap(s.w.rec) > 16<<20 {
		s.w.rec, s.w.raw = nil, nil // one huge batch should not pin its buffers
	}
	s.wmu.Unlock()
	if err != nil {
		return s.failWrite(err, n)
	}
	return nil
}

// encode makes b's record in the writer's buffer, all but the sequence
// number, time and crc, which write fills in.
func (s *Spool) encode(b *event.Batch) []byte {
	w := &s.w
	w.raw = encodeBatch(w.raw[:0], b)
	if cap(w.rec) < headLen {
		w.rec = make([]byte, headLen, 64<<10)
	}
	w.rec = s.codec.compress(w.rec[:headLen], w.raw)
	return w.rec
}

// makeRoom frees room for a record of n bytes under MaxBytes: it removes
// acknowledged segments (syncing the cursor first) and, under DropOldest,
// drops the oldest segment's records. Under Block it returns errWait
// when only acknowledgements can make room.
func (s *Spool) makeRoom(n int64) error {
	for {
		need := n + sealLen
		if s.w.needsRoll(n, s.segMax) {
			need += segHeaderLen + sealLen
		}
		s.mu.Lock()
		var bytes int64
		for _, g := range s.segs {
			bytes += g.size
		}
		if bytes+need <= s.opts.MaxBytes || len(s.segs) == 0 {
			s.mu.Unlock()
			return nil
		}
		head := s.segs[0]
		unacked := head.end > s.acked+1
		isWrite := head == s.wseg
		s.mu.Unlock()
		if unacked && s.opts.WhenFull == Block {
			return errWait
		}
		if isWrite {
			if head.records == 0 {
				return nil // nothing to free; the bound leaves room for one record
			}
			if err := s.roll(); err != nil {
				return err
			}
			continue
		}
		if unacked {
			s.mu.Lock()
			dropped := s.eventsIn(s.acked, head.end-1)
			s.cnt.dropped.Full += dropped
			s.acked = head.end - 1
			s.mu.Unlock()
			s.log.Debug("spool full: dropped the oldest segment", "segment", head.name, "events", dropped)
		}
		if err := s.persist(s.opts.Sync != SyncNever); err != nil {
			return err
		}
		s.mu.Lock()
		stuck := !head.gone
		s.mu.Unlock()
		if stuck {
			return fmt.Errorf("segment %s: could not be removed to make room", head.name)
		}
	}
}

// write writes one record (rolling first if it does not fit) and
// publishes it to readers. Under wmu.
func (s *Spool) write(rec []byte, n int) error {
	w := &s.w
	if w.broken {
		if err := w.f.Truncate(w.off); err != nil {
			return err
		}
		w.broken = false
	}
	if w.needsRoll(int64(len(rec)), s.segMax) {
		if err := s.roll(); err != nil {
			return err
		}
	}
	first := s.next // changes only under wmu
	now := s.opts.Now().UnixNano()
	putHead(rec, first, uint32(n), now)
	if _, err := w.f.WriteAt(rec, w.off); err != nil {
		s.cutBack()
		return err
	}
	if s.opts.Sync == SyncAlways {
		if err := w.f.Sync(); err != nil {
			s.cutBack()
			return err
		}
	}
	m := recMeta{off: w.off, first: first, count: uint32(n), size: uint32(len(rec)), appended: now}
	w.off += int64(len(rec))
	s.mu.Lock()
	g := w.seg
	g.idx = append(g.idx, m)
	g.records++
	g.size, g.end = w.off, first+uint64(n)
	s.next = g.end
	if s.opts.Sync == SyncAlways {
		s.setSynced(s.next - 1)
	}
	s.cnt.appended += uint64(n)
	back := s.diskFull
	s.diskFull = false
	s.signalData()
	s.mu.Unlock()
	if back {
		s.log.Info("disk space is back: appending again")
	}
	return nil
}

// releaseAcked lets go of the write segment when the disk is full and all
// its records are acknowledged: its file is space the spool itself holds,
// and would hold until the segment rolled, which a full disk never lets it
// do. The cursor is made durable first, then the file removed; the next
// record starts a new segment. Under wmu.
func (s *Spool) releaseAcked() error {
	s.mu.Lock()
	g := s.wseg
	release := s.diskFull && g != nil && g.records > 0 && s.acked+1 >= g.end
	s.mu.Unlock()
	if !release {
		return nil
	}
	s.detachWriter()
	if err := s.persist(true); err != nil {
		return err
	}
	s.log.Info("disk full: removed the fully acknowledged segment to make room", "segment", g.name)
	return nil
}

// cutBack truncates the write segment to its last whole record after a
// failed write; if that fails too, the next write tries again first.
func (s *Spool) cutBack() {
	if err := s.w.f.Truncate(s.w.off); err != nil {
		s.w.broken = true
	}
}

// failWrite wraps a write error; a full disk is counted and logged once
// until space is back.
func (s *Spool) failWrite(err error, n int) error {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("spool %q: append: %w", s.name, err)
	}
	s.mu.Lock()
	s.cnt.dropped.DiskFull += uint64(n)
	now := s.opts.Now()
	// Once per episode, and at most once a minute: a disk at the edge
	// takes small batches and refuses big ones, episode after episode.
	first := !s.diskFull && (s.diskFullLog.IsZero() || now.Sub(s.diskFullLog) >= time.Minute)
	s.diskFull = true
	if first {
		s.diskFullLog = now
	}
	s.mu.Unlock()
	if first {
		s.log.Error("disk full: dropping batches until space is back", "err", err)
	}
	return fmt.Errorf("spool %q: %w: %w", s.name, ErrDiskFull, err)
}

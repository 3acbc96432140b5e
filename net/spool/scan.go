package spool

import (
	"fmt"
	"io"
)

// readAhead serves small reads of a file from a buffer it refills in
// chunks, so scanning many small records is not one syscall each.
type readAhead struct {
	r     io.ReaderAt
	limit int64 // never read past this
	chunk int
	buf   []byte
	start int64 // file offset of buf[0]
}

func newReadAhead(r io.ReaderAt, limit int64, chunk int) *readAhead {
	return &readAhead{r: r, limit: limit, chunk: chunk}
}

// bytes returns the n bytes at off, valid until the next call.
func (ra *readAhead) bytes(off int64, n int) ([]byte, error) {
	if off >= ra.start && off+int64(n) <= ra.start+int64(len(ra.buf)) {
		return ra.buf[off-ra.start:][:n], nil
	}
	want := int64(max(n, ra.chunk))
	want = min(want, ra.limit-off)
	if want < int64(n) {
		return nil, io.ErrUnexpectedEOF
	}
	if int64(cap(ra.buf)) < want {
		ra.buf = make([]byte, want)
	}
	ra.buf = ra.buf[:want]
	got, err := ra.r.ReadAt(ra.buf, off)
	ra.buf, ra.start = ra.buf[:got], off
	if got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return ra.buf[:n], nil
}

// scanResult is where a scan of records stopped and why.
type scanResult struct {
	end  int64    // offset after the last good record
	next uint64   // sequence number the next record should start at
	seal *seal    // the scan stopped at this seal (at end)
	bad  *badSpot // the scan stopped at something that is not a good record (at end)
}

// scanFull reads records from off (which should start at sequence want)
// to limit, checking each one's frame and crc, and calls visit (if not nil)
// with each good one; a non-empty reason from visit makes that record bad.
func scanFull(ra *readAhead, off, limit int64, want uint64, visit func(m recMeta, rec []byte) string) scanResult {
	bad := func(reason string) scanResult {
		return scanResult{end: off, next: want, bad: &badSpot{off: off, seq: want, reason: reason}}
	}
	for off < limit {
		b, err := ra.bytes(off, headLen)
		if err != nil {
			return bad(readReason(err, "record head"))
		}
		h := parseHead(b)
		if r := h.check(want, limit-off); r != "" {
			return bad(r)
		}
		rec, err := ra.bytes(off, int(h.size()))
		if err != nil {
			return bad(readReason(err, "record"))
		}
		if !checkCRC(rec) {
			return bad("crc mismatch")
		}
		if h.count == 0 {
			sl, ok := parseSeal(rec)
			if !ok {
				return bad("bad seal")
			}
			return scanResult{end: off, next: want, seal: &sl}
		}
		m := recMeta{off: off, first: h.first, count: h.count, size: uint32(h.size()), appended: h.appended}
		if visit != nil {
			if r := visit(m, rec); r != "" {
				return bad(r)
			}
		}
		off += h.size()
		want = h.last() + 1
	}
	return scanResult{end: off, next: want}
}

// scanHeads indexes records from off to limit reading only their heads
// (no crc: the reader checks that when it reads a record).
func scanHeads(ra *readAhead, off, limit int64, want uint64) ([]recMeta, *badSpot) {
	idx := []recMeta{}
	for off < limit {
		b, err := ra.bytes(off, headLen)
		if err != nil {
			return idx, &badSpot{off: off, seq: want, reason: readReason(err, "record head")}
		}
		h := parseHead(b)
		r := h.check(want, limit-off)
		if r == "" && h.count == 0 {
			r = "seal before the end of the segment"
		}
		if r != "" {
			return idx, &badSpot{off: off, seq: want, reason: r}
		}
		idx = append(idx, recMeta{off: off, first: h.first, count: h.count, size: uint32(h.size()), appended: h.appended})
		off += h.size()
		want = h.last() + 1
	}
	return idx, nil
}

func readReason(err error, what string) string {
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return what + " cut short by the end of the file"
	}
	return fmt.Sprintf("reading %s: %v", what, err)
}

// findRecords looks through damaged bytes for whole, crc-valid records
// starting at sequence want or later: whether anything real follows the
// damage. It returns how many it found and the highest sequence number in them.
func findRecords(b []byte, want uint64) (found int, last uint64) {
	for p := 0; p+headLen <= len(b); {
		h := parseHead(b[p:])
		size := h.size()
		if h.bodyLen >= bodyFixed && h.bodyLen <= maxBodyLen && size <= int64(len(b)-p) &&
			h.count > 0 && h.count <= maxCount && h.first >= want && h.first < want+(1<<40) && h.first < maxSeq &&
			checkCRC(b[p:int64(p)+size]) {
			found++
			last = max(last, h.last())
			p += int(size)
			continue
		}
		p++
	}
	return found, last
}

package spool

import (
	"errors"
	"io/fs"

	"github.com/ferry-appliance/ferry/net/event"
)

// Peek decodes the oldest n unacknowledged events into batches from pool
// (troubleshooting); it changes nothing. The caller releases the batches.
func (s *Spool) Peek(n int, pool *event.Pool) ([]*event.Batch, error) {
	if s.isClosed() {
		return nil, s.closedErr()
	}
	var out []*event.Batch
	files := map[*segment]File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	s.mu.Lock()
	pos := s.acked + 1
	s.mu.Unlock()
	for got, tries := 0, 0; got < n && tries < 4; {
		s.mu.Lock()
		pos = max(pos, s.acked+1)
		g := s.segFor(pos)
		if g == nil || pos >= s.next {
			s.mu.Unlock()
			break
		}
		pos = max(pos, g.first)
		if g.idx == nil {
			s.mu.Unlock()
			s.loadIndex(g)
			tries++
			continue
		}
		i := findRec(g.idx, pos)
		if i < 0 {
			s.mu.Unlock()
			break // the reader quarantines what is there
		}
		m := g.idx[i]
		s.mu.Unlock()
		f := files[g]
		if f == nil {
			var err error
			if f, err = s.fs.Open(s.path(g.name)); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					tries++
					continue // removed or set aside meanwhile
				}
				return out, err
			}
			files[g] = f
		}
		buf, reason := readRecord(f, m)
		if reason != "" {
			return out, CorruptionError{Spool: s.name, Segment: g.name, Offset: m.off, Reason: reason}
		}
		skip := int(pos - m.first)
		take := min(int(m.count)-skip, n-got)
		var err error
		if out, err = s.codec.batches(out, buf[headLen:], int(m.count), skip, skip+take, pool); err != nil {
			return out, CorruptionError{Spool: s.name, Segment: g.name, Offset: m.off, Reason: err.Error()}
		}
		got += take
		pos = m.last() + 1
	}
	return out, nil
}

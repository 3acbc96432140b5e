package spool

// expire drops, from the head of the spool, the records older than
// MaxAge, counting their events as dropped "age". It runs before Next
// reads, in Stats and in the background loop.
func (s *Spool) expire() {
	if s.opts.MaxAge <= 0 {
		return
	}
	cutoff := s.opts.Now().Add(-s.opts.MaxAge).UnixNano()
	for range 1 << 20 {
		s.mu.Lock()
		pos := s.acked + 1
		g := s.segFor(pos)
		if g == nil || pos >= s.next {
			s.mu.Unlock()
			return
		}
		if g.idx == nil {
			s.mu.Unlock()
			s.loadIndex(g)
			s.mu.Lock()
			indexed := g.idx != nil
			s.mu.Unlock()
			if !indexed {
				return
			}
			continue
		}
		i := findRec(g.idx, max(pos, g.first))
		if i < 0 || g.idx[i].appended >= cutoff {
			s.mu.Unlock()
			return
		}
		last := g.idx[i].last()
		s.cnt.dropped.Age += s.eventsIn(s.acked, last)
		s.acked = last
		s.wakeRoom()
		s.mu.Unlock()
	}
}

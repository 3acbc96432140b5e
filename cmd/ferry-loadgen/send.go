package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// sendConfig is the parsed `send` command line.
type sendConfig struct {
	network string // "udp" or "tcp"
	addr    string
	rate    float64       // messages/s over all senders; 0: as fast as possible
	dur     time.Duration // how long to send when count is not fixed
	count   uint64        // total messages; 0: rate*dur, or unbounded when rate is 0
	size    int
	batch   int
	gso     bool
	senders int
	octet   bool
	stream  string
}

// streamResult is one sender's line of the JSON result.
type streamResult struct {
	Sent     uint64  `json:"sent"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	Errors   uint64  `json:"errors"`
	FirstSeq int64   `json:"first_seq"`
	LastSeq  int64   `json:"last_seq"`
}

// sendResult is the JSON the send command prints.
type sendResult struct {
	streamResult
	Streams map[string]streamResult `json:"streams,omitempty"`
}

// streamIDs names the senders' streams: the id itself for one sender, id-K
// for several, so the checker keeps their sequences apart.
func streamIDs(id string, n int) []string {
	if n == 1 {
		return []string{id}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", id, i)
	}
	return ids
}

// runSend runs cfg.senders senders to completion (or ctx's end) and sums them.
func runSend(ctx context.Context, cfg sendConfig) (sendResult, error) {
	if cfg.senders < 1 || cfg.batch < 1 {
		return sendResult{}, errors.New("--senders and --batch must be at least 1")
	}
	total := cfg.count
	if total == 0 && cfg.rate > 0 {
		total = uint64(cfg.rate * cfg.dur.Seconds())
	}
	if total == 0 && cfg.dur <= 0 {
		return sendResult{}, errors.New("nothing bounds the run: give --duration, --rate or --count")
	}
	ids := streamIDs(cfg.stream, cfg.senders)
	senders := make([]*sender, len(ids))
	for i, id := range ids {
		s, err := newSender(cfg, id)
		if err != nil {
			for _, o := range senders[:i] {
				o.close()
			}
			return sendResult{}, err
		}
		if total > 0 {
			s.limit = total / uint64(len(ids))
			if uint64(i) < total%uint64(len(ids)) {
				s.limit++
			}
		}
		s.rate = cfg.rate / float64(len(ids))
		senders[i] = s
	}
	var stop atomic.Bool
	go func() { <-ctx.Done(); stop.Store(true) }()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(senders))
	for i, s := range senders {
		wg.Go(func() {
			defer s.close()
			errs[i] = s.run(start, cfg.dur, total > 0, &stop)
		})
	}
	wg.Wait()
	res := sendResult{streamResult: streamResult{FirstSeq: -1, LastSeq: -1}}
	if len(senders) > 1 {
		res.Streams = map[string]streamResult{}
	}
	for i, s := range senders {
		r := s.result()
		if res.Streams != nil {
			res.Streams[ids[i]] = r
		}
		res.Sent += r.Sent
		res.Errors += r.Errors
		res.Seconds = max(res.Seconds, r.Seconds)
		if r.FirstSeq >= 0 && (res.FirstSeq < 0 || r.FirstSeq < res.FirstSeq) {
			res.FirstSeq = r.FirstSeq // with several streams: the extremes over all of them
		}
		res.LastSeq = max(res.LastSeq, r.LastSeq)
	}
	if res.Seconds > 0 {
		res.Rate = float64(res.Sent) / res.Seconds
	}
	return res, errors.Join(errs...)
}

// sender owns one socket, one stream id and that stream's sequence numbers.
type sender struct {
	bb    *batchBuf
	udp   *mmsgWriter
	conn  net.Conn
	limit uint64  // messages to send; 0 with a fixed total means none
	rate  float64 // this sender's share; 0: unpaced

	next    uint64 // next sequence number, = messages sent
	errors  uint64
	elapsed time.Duration
}

func newSender(cfg sendConfig, id string) (*sender, error) {
	f := frameNone
	if cfg.network == "tcp" {
		f = frameNewline
		if cfg.octet {
			f = frameOctet
		}
	} else if cfg.size > maxUDPSize {
		return nil, fmt.Errorf("--size %d exceeds the UDP maximum %d", cfg.size, maxUDPSize)
	}
	fr, err := newFrame(cfg.size, id, f)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial(cfg.network, cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", cfg.network, cfg.addr, err)
	}
	s := &sender{bb: newBatchBuf(fr, cfg.batch), conn: conn}
	if uc, ok := conn.(*net.UDPConn); ok {
		segs := 1
		if cfg.gso {
			segs = min(cfg.batch, maxGSOSegs(len(fr.b)))
			if err := enableGSO(uc, len(fr.b)); err != nil {
				conn.Close()
				return nil, err
			}
		}
		_ = uc.SetWriteBuffer(8 << 20) // best effort: a deeper queue rides out receiver hiccups
		if s.udp, err = newMmsgWriter(uc, s.bb, segs); err != nil {
			conn.Close()
			return nil, err
		}
	} else if cfg.gso {
		conn.Close()
		return nil, errors.New("--gso is for --udp only")
	}
	return s, nil
}

func (s *sender) close() { s.conn.Close() }

// maxLag is how far pacing may fall behind before it forgives the debt: after
// a stall the sender catches up with at most this much burst.
const maxLag = 50 * time.Millisecond

// run sends batches until the limit (when counted) or the duration is
// reached, pacing per batch: it sleeps until the batch's due time on the
// token-bucket schedule, never per message.
func (s *sender) run(start time.Time, dur time.Duration, counted bool, stop *atomic.Bool) error {
	defer func() { s.elapsed = time.Since(start) }()
	var interval float64 // ns per message
	if s.rate > 0 {
		interval = 1e9 / s.rate
	}
	epoch := start // the schedule's origin; moves forward when lag is forgiven
	var paced uint64
	for !stop.Load() {
		n := s.bb.n
		if counted {
			if s.next >= s.limit {
				return nil
			}
			n = int(min(uint64(n), s.limit-s.next))
		} else if time.Since(start) >= dur {
			return nil
		}
		if s.next+uint64(n)-1 > maxSeq {
			return fmt.Errorf("sequence numbers exhausted at %d", s.next)
		}
		if interval > 0 {
			due := epoch.Add(time.Duration(float64(paced) * interval))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if -d > maxLag {
				epoch = epoch.Add(-d - maxLag)
			}
		}
		s.bb.fill(s.next, n)
		sent, err := s.write(n)
		s.next += uint64(sent)
		paced += uint64(sent)
		if err != nil {
			return fmt.Errorf("send to %s after %d messages: %w", s.conn.RemoteAddr(), s.next, err)
		}
	}
	return nil
}

// write sends the first n frames of the batch buffer and returns how many
// went out.
func (s *sender) write(n int) (int, error) {
	if s.udp != nil {
		sent, errs, err := s.udp.send(n)
		s.errors += uint64(errs)
		return sent, err
	}
	w, err := s.conn.Write(s.bb.buf[:n*s.bb.frameLen])
	if err != nil {
		s.errors++
	}
	return w / s.bb.frameLen, err
}

func (s *sender) result() streamResult {
	r := streamResult{Sent: s.next, Seconds: s.elapsed.Seconds(), Errors: s.errors, FirstSeq: -1, LastSeq: -1}
	if s.next > 0 {
		r.FirstSeq, r.LastSeq = 0, int64(s.next-1)
	}
	if r.Seconds > 0 {
		r.Rate = float64(r.Sent) / r.Seconds
	}
	return r
}

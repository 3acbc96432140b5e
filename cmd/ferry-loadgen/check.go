package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// checkConfig is the parsed `check` command line.
type checkConfig struct {
	network   string // "udp", "tcp" or "" for files
	addr      string
	files     []string
	expect    uint64
	idle      time.Duration
	countOnly bool
	batch     int // datagrams per recvmmsg
	rcvbuf    int // SO_RCVBUF(FORCE) request, bytes
}

// countReport is the JSON of --count-only, the bare receiver floor.
type countReport struct {
	Received  uint64  `json:"received"`
	Bytes     uint64  `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"`
	Rcvbuf    int     `json:"rcvbuf,omitempty"`
	Drops     *uint64 `json:"drops,omitempty"`
	CountOnly bool    `json:"count_only"`
}

// checkServer is a bound checker: listen first, so a sender (or a test) can
// start against its address, then run until input goes idle.
type checkServer struct {
	cfg    checkConfig
	udp    *net.UDPConn
	ln     net.Listener
	rcvbuf int
	inode  string

	mu    sync.Mutex // guards tr, conns and the timing below across TCP connections
	tr    *tracker
	conns map[net.Conn]struct{}
	count uint64 // messages, for --count-only
	bytes uint64
	first time.Time
	last  time.Time

	activity atomic.Uint64 // messages so far, watched by the idle monitor
	drops    *uint64
	stopOnce sync.Once
	stopped  atomic.Bool
}

// listenCheck binds the checker's socket (nothing for file mode).
func listenCheck(cfg checkConfig) (*checkServer, error) {
	s := &checkServer{cfg: cfg, tr: newTracker(), conns: map[net.Conn]struct{}{}}
	switch cfg.network {
	case "udp":
		ua, err := net.ResolveUDPAddr("udp", cfg.addr)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", cfg.addr, err)
		}
		if s.udp, err = net.ListenUDP("udp", ua); err != nil {
			return nil, fmt.Errorf("listen udp: %w", err)
		}
		if s.rcvbuf, err = growRcvbuf(s.udp, cfg.rcvbuf); err != nil {
			s.udp.Close()
			return nil, err
		}
		if s.inode, err = socketInode(s.udp); err != nil {
			s.udp.Close()
			return nil, err
		}
	case "tcp":
		var err error
		if s.ln, err = net.Listen("tcp", cfg.addr); err != nil {
			return nil, fmt.Errorf("listen tcp: %w", err)
		}
	}
	return s, nil
}

// addr is the bound address, for senders.
func (s *checkServer) addr() string {
	if s.udp != nil {
		return s.udp.LocalAddr().String()
	}
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return ""
}

// run receives until the input has been idle for cfg.idle after the first
// message (or the files end, or ctx ends) and returns the report: a
// checkReport, or a countReport with --count-only.
func (s *checkServer) run(ctx context.Context) (any, error) {
	start := time.Now()
	var err error
	switch {
	case s.udp != nil:
		go s.watch(ctx)
		err = s.runUDP()
	case s.ln != nil:
		go s.watch(ctx)
		err = s.runTCP()
	default:
		err = s.runFiles(ctx)
		s.first, s.last = start, time.Now()
	}
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := s.last.Sub(s.first).Seconds()
	if s.cfg.countOnly {
		r := countReport{Received: s.count, Bytes: s.bytes, Seconds: secs, Rcvbuf: s.rcvbuf, Drops: s.drops, CountOnly: true}
		if secs > 0 {
			r.Rate = float64(r.Received) / secs
		}
		return r, err
	}
	r := s.tr.report(s.cfg.expect)
	r.Seconds, r.Rcvbuf, r.Drops = secs, s.rcvbuf, s.drops
	if secs > 0 {
		r.Rate = float64(r.Received) / secs
	}
	return r, err
}

// watch stops the server once messages have stopped arriving for cfg.idle,
// or when ctx ends. Polling a counter keeps timers off the receive path.
func (s *checkServer) watch(ctx context.Context) {
	tick := time.NewTicker(max(s.cfg.idle/8, 5*time.Millisecond))
	defer tick.Stop()
	var seen uint64
	changed := time.Now()
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return
		case now := <-tick.C:
			if s.stopped.Load() {
				return
			}
			if n := s.activity.Load(); n != seen {
				seen, changed = n, now
			} else if n > 0 && now.Sub(changed) >= s.cfg.idle {
				s.stop()
				return
			}
		}
	}
}

// stop reads the socket's kernel drop counter while the socket still exists,
// then closes everything, which ends the receive loops.
func (s *checkServer) stop() {
	s.stopOnce.Do(func() {
		s.stopped.Store(true)
		if s.udp != nil {
			if d, err := udpDrops(s.inode); err == nil {
				s.mu.Lock()
				s.drops = &d
				s.mu.Unlock()
			} else {
				fmt.Fprintln(os.Stderr, "ferry-loadgen: drops:", err)
			}
			s.udp.Close()
		}
		if s.ln != nil {
			s.ln.Close()
			s.mu.Lock()
			for c := range s.conns {
				c.Close()
			}
			s.mu.Unlock()
		}
	})
}

func (s *checkServer) runUDP() error {
	bufSize := 65536
	if s.cfg.countOnly {
		bufSize = 2048 // only the count matters; longer datagrams are truncated
	}
	r, err := newMmsgReader(s.udp, s.cfg.batch, bufSize)
	if err != nil {
		return err
	}
	for {
		n, err := r.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		now := time.Now()
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = now
		}
		s.last = now
		if s.cfg.countOnly {
			s.count += uint64(n)
			for i := range n {
				s.bytes += uint64(r.hdrs[i].Len)
			}
		} else {
			for i := range n {
				s.tr.add(r.msg(i))
			}
		}
		s.mu.Unlock()
		s.activity.Add(uint64(n))
	}
}

func (s *checkServer) runTCP() error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.mu.Lock()
		if s.stopped.Load() {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if err := s.readStream(c, true); err != nil && !s.stopped.Load() {
				fmt.Fprintf(os.Stderr, "ferry-loadgen: %s: %v\n", c.RemoteAddr(), err)
			}
		})
	}
}

func (s *checkServer) runFiles(ctx context.Context) error {
	for _, p := range s.cfg.files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("check file: %w", err)
		}
		err = s.readStream(f, false)
		f.Close()
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

// maxFrame bounds one message on a stream; longer lines are counted as
// unparsed and skipped.
const maxFrame = 1 << 20

// readStream reads messages from a TCP connection or a file. A TCP stream
// whose first byte is a digit is octet-counted (RFC 6587), anything else is
// newline-framed, as files always are.
func (s *checkServer) readStream(rd io.Reader, detect bool) error {
	br := bufio.NewReaderSize(rd, maxFrame)
	octet := false
	if detect {
		b, err := br.Peek(1)
		if err != nil {
			return ignoreEOF(err)
		}
		octet = b[0] >= '1' && b[0] <= '9'
	}
	for {
		var msg []byte
		var err error
		if octet {
			msg, err = readOctet(br)
		} else {
			msg, err = readLine(br)
		}
		if len(msg) > 0 {
			s.account(msg)
		}
		if err != nil {
			return ignoreEOF(err)
		}
	}
}

func (s *checkServer) account(msg []byte) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	if s.cfg.countOnly {
		s.count++
		s.bytes += uint64(len(msg))
	} else {
		s.tr.add(msg)
	}
	s.mu.Unlock()
	s.activity.Add(1)
}

// readLine returns the next line without its '\n'; the slice is valid until
// the next read. An overlong line yields its first maxFrame bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		prefix := append([]byte(nil), line...) // rare: copy before the buffer moves on
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return prefix, err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	return line, err
}

// readOctet returns the next "LEN message" frame's message.
func readOctet(br *bufio.Reader) ([]byte, error) {
	head, err := br.ReadSlice(' ')
	if err != nil {
		return nil, err
	}
	n := 0
	for _, c := range head[:len(head)-1] {
		if c < '0' || c > '9' || n > maxFrame {
			return nil, fmt.Errorf("bad octet count %q", head)
		}
		n = n*10 + int(c-'0')
	}
	if len(head) == 1 || n > maxFrame {
		return nil, fmt.Errorf("bad octet count %q", head)
	}
	msg, err := br.Peek(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	_, _ = br.Discard(n) // msg stays valid: Discard does not move the buffer
	return msg, nil
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

package main

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is a byte-counting TCP forwarder on 127.0.0.1 between a sender and
// its receiver (the edge and the core's relay port; rsyslog A and B): every
// byte the sender's side writes is counted in up, every byte back in down.
// It dials the receiver once per accepted connection, before it reads
// anything; when that fails (the receiver is down) it closes the accepted
// connection at once, so the sender sees the outage as the receiver itself
// would make it.
type proxy struct {
	ln       net.Listener
	upstream string
	up, down atomic.Uint64
	// firstUp is the time (UnixNano) of the first byte forwarded upstream
	// since the last markFirst; 0: none yet.
	firstUp atomic.Int64
	conns   atomic.Uint64 // connections forwarded (upstream dial succeeded)
	refused atomic.Uint64 // accepted but the upstream dial failed
	mu      sync.Mutex
	open    map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
}

func startProxy(upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, upstream: upstream, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		u, err := net.DialTimeout("tcp4", p.upstream, 5*time.Second)
		if err != nil {
			p.refused.Add(1)
			c.Close()
			continue
		}
		if !p.track(c, u) {
			c.Close()
			u.Close()
			return
		}
		p.conns.Add(1)
		p.wg.Add(2)
		go p.pipe(u, c, &p.up, true)
		go p.pipe(c, u, &p.down, false)
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.open[c] = true
	}
	return true
}

// pipe copies src to dst through a buffer (not splice: it counts as it goes),
// then closes both ends.
func (p *proxy) pipe(dst, src net.Conn, n *atomic.Uint64, upward bool) {
	defer p.wg.Done()
	buf := make([]byte, 256<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if upward && p.firstUp.Load() == 0 {
				p.firstUp.CompareAndSwap(0, time.Now().UnixNano())
			}
			n.Add(uint64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	p.mu.Lock()
	delete(p.open, src)
	delete(p.open, dst)
	p.mu.Unlock()
}

// markFirst forgets the first upstream byte seen so far.
func (p *proxy) markFirst() { p.firstUp.Store(0) }

// first is when the first upstream byte since markFirst went through (zero: none).
func (p *proxy) first() time.Time {
	if v := p.firstUp.Load(); v != 0 {
		return time.Unix(0, v)
	}
	return time.Time{}
}

func (p *proxy) counts() (up, down uint64) { return p.up.Load(), p.down.Load() }

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Package syslog holds Ferry's syslog receivers: UDP readers that take many
// datagrams per system call, and (next) the TCP and TLS listeners. Each
// receiver hands batches of raw messages to a Sink (the pipeline) and never
// waits for it: what the sink refuses is counted as a queue drop.
package syslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/syslog/kstat"
	"github.com/ferry-appliance/ferry/net/syslog/syslogmsg"
)

// UDP defaults: enough buffer that a 100k msgs/s burst of 500-byte messages
// waits in the kernel while a reader is descheduled, without any sysctl.
const (
	DefaultRcvBuf = 64 << 20
	datagramMax   = 64 << 10 // a UDP payload cannot be larger
	slotsPerRead  = 64       // datagrams per recvmmsg
)

// DefaultReaders is one reader per two cores: the pipeline and the senders
// need the others (on 2 cores, one reader took 600k msgs/s without loss
// where two, contending with the pipeline, lost 12 % at 340k).
func DefaultReaders() int { return max(1, runtime.NumCPU()/2) }

// UDPConfig describes one UDP receiver.
type UDPConfig struct {
	Name    string   // the input name events carry
	Addr    string   // host:port to bind; host "" is every address
	Readers int      // sockets sharing the port with SO_REUSEPORT, one goroutine each
	RcvBuf  int      // receive buffer asked of the kernel per socket
	MaxSize int      // longer datagrams are cut here and counted (default 64 KiB)
	Charset string   // what senders use, converted to UTF-8 ("": UTF-8)
	Sources *Sources // counts per source address (syslog.stats); nil: none
	Sink    event.Sink
	Pool    *event.Pool
	Log     *slog.Logger
}

// UDPStats are a receiver's counters.
type UDPStats struct {
	Received, Bytes uint64
	QueueDrops      uint64 // events the sink refused
	Malformed       uint64 // empty datagrams
	Invalid         uint64 // byte sequences invalid in the charset, replaced by U+FFFD
	Truncated       uint64 // datagrams longer than MaxSize
	KernelDrops     uint64 // dropped by the kernel before Ferry read them (full buffer)
	RcvBuf          int    // the receive buffer the kernel granted, per socket
	Readers         int
}

// UDP is a running UDP receiver.
type UDP struct {
	cfg UDPConfig
	log *slog.Logger

	received, bytes, queueDrops, malformed, truncated, invalid atomic.Uint64
	rcvBuf                                                     atomic.Int64

	mu      sync.Mutex
	conns   []*net.UDPConn
	inodes  []uint64
	wg      sync.WaitGroup
	stopped bool
}

// NewUDP validates cfg.
func NewUDP(cfg UDPConfig) (*UDP, error) {
	if cfg.Name == "" {
		return nil, errors.New("udp receiver: no name")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("udp receiver %q: address %q: %w", cfg.Name, cfg.Addr, err)
	}
	if cfg.Sink == nil || cfg.Pool == nil {
		return nil, fmt.Errorf("udp receiver %q: no sink or batch pool", cfg.Name)
	}
	if cfg.Readers <= 0 {
		cfg.Readers = DefaultReaders()
	}
	if cfg.RcvBuf <= 0 {
		cfg.RcvBuf = DefaultRcvBuf
	}
	if cfg.MaxSize <= 0 || cfg.MaxSize > datagramMax {
		cfg.MaxSize = datagramMax
	}
	if _, err := syslogmsg.NewDecoder(cfg.Charset); err != nil {
		return nil, fmt.Errorf("udp receiver %q: %w", cfg.Name, err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &UDP{cfg: cfg, log: cfg.Log.With("component", "syslog", "input", cfg.Name)}, nil
}

// Start binds every reader's socket and starts reading. What fails to bind
// closes what did, and the error says why (a port below 1024 without the
// privilege says so).
func (u *UDP) Start(context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil {
				setRcvBuf(int(fd), u.cfg.RcvBuf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	for range u.cfg.Readers {
		pc, err := lc.ListenPacket(context.Background(), "udp", u.cfg.Addr)
		if err != nil {
			u.closeAll()
			return bindError(u.cfg.Addr, err)
		}
		conn := pc.(*net.UDPConn)
		if u.cfg.Addr != conn.LocalAddr().String() && len(u.conns) == 0 {
			// Port 0: the later readers must join the port the first one got.
			u.cfg.Addr = conn.LocalAddr().String()
		}
		u.conns = append(u.conns, conn)
	}
	for _, c := range u.conns {
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) {
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
				u.rcvBuf.Store(int64(v))
			}
			u.inodes = append(u.inodes, kstat.Inode(int(fd)))
		})
	}
	for _, c := range u.conns {
		u.wg.Add(1)
		go u.read(c)
	}
	u.log.Info("listening", "addr", u.cfg.Addr, "proto", "udp", "readers", len(u.conns), "rcvbuf", u.rcvBuf.Load())
	return nil
}

// setRcvBuf asks for size with SO_RCVBUFFORCE (which passes net.core.rmem_max
// when privileged), then SO_RCVBUF (capped at rmem_max).
func setRcvBuf(fd, size int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) == nil {
		return
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
}

// bindError is the line an operator acts on.
func bindError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s: permission denied (run as root or grant CAP_NET_BIND_SERVICE)", addr)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s: address already in use", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s: the bind address is not on this host", addr)
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// Addr is the bound address (the port resolved when 0 was asked).
func (u *UDP) Addr() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.conns) == 0 {
		return ""
	}
	return u.conns[0].LocalAddr().String()
}

// read is one reader: recvmmsg into fixed slots, one batch per call handed
// to the sink.
func (u *UDP) read(c *net.UDPConn) {
	defer u.wg.Done()
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	r := newMmsgReader(slotsPerRead, u.cfg.MaxSize)
	dec, _ := syslogmsg.NewDecoder(u.cfg.Charset) // checked by NewUDP; one per reader (it keeps state)
	var scratch []byte
	for {
		var n int
		var errno syscall.Errno
		err := rc.Read(func(fd uintptr) bool {
			n, errno = r.read(fd)
			return errno != unix.EAGAIN && errno != unix.EWOULDBLOCK
		})
		if err != nil {
			return // closed
		}
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			u.log.Warn("read", "err", errno.Error())
			continue
		}
		u.deliver(r, n, dec, &scratch)
	}
}

func (u *UDP) deliver(r *mmsgReader, n int, dec *syslogmsg.Decoder, scratch *[]byte) {
	now := time.Now()
	b := u.cfg.Pool.Get(u.cfg.Name)
	var bytes, malformed, truncated, invalid uint64
	for i := range n {
		data, cut, src := r.message(i)
		if cut {
			truncated++
		}
		data = syslogmsg.TrimDatagram(data)
		if len(data) == 0 {
			malformed++
			continue
		}
		data, bad := dec.Convert(scratch, data)
		invalid += uint64(bad)
		bytes += uint64(len(data))
		if !b.Add(now, src, data) {
			u.hand(b)
			b = u.cfg.Pool.Get(u.cfg.Name)
			b.Add(now, src, data)
		}
	}
	u.received.Add(uint64(n) - malformed)
	u.bytes.Add(bytes)
	u.malformed.Add(malformed)
	u.truncated.Add(truncated)
	if invalid > 0 {
		u.invalid.Add(invalid)
	}
	if b.Len() == 0 {
		b.Release()
		return
	}
	u.hand(b)
}

// hand gives b to the sink, or counts its events as queue drops.
func (u *UDP) hand(b *event.Batch) {
	u.cfg.Sources.AddBatch(b)
	if !u.cfg.Sink.TryPut(b) {
		u.queueDrops.Add(uint64(b.Len()))
		b.Release()
	}
}

// Stats returns the counters, with the kernel's drop count for the sockets.
func (u *UDP) Stats() UDPStats {
	u.mu.Lock()
	inodes := append([]uint64(nil), u.inodes...)
	readers := len(u.conns)
	u.mu.Unlock()
	return UDPStats{Received: u.received.Load(), Bytes: u.bytes.Load(), QueueDrops: u.queueDrops.Load(),
		Malformed: u.malformed.Load(), Invalid: u.invalid.Load(), Truncated: u.truncated.Load(), KernelDrops: kstat.UDPDrops(inodes),
		RcvBuf: int(u.rcvBuf.Load()), Readers: readers}
}

// Shutdown closes the sockets, which ends the readers, and waits for them.
// Idempotent.
func (u *UDP) Shutdown(ctx context.Context) error {
	u.mu.Lock()
	if u.stopped {
		u.mu.Unlock()
		return nil
	}
	u.stopped = true
	u.closeAll()
	u.mu.Unlock()
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *UDP) closeAll() {
	for _, c := range u.conns {
		c.Close()
	}
}

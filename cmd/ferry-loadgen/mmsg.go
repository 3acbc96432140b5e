package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched UDP I/O with sendmmsg(2)/recvmmsg(2) through x/sys raw syscalls
// (x/sys has no wrapper, and x/net is not a dependency of Ferry). The calls go
// through syscall.RawConn, so a full socket parks the goroutine in Go's
// poller instead of blocking a thread, and closing the conn wakes it.

// mmsgWriter sends a batchBuf's frames with one sendmmsg per batch. With GSO
// each mmsghdr carries up to segs frames as one super-datagram that the
// kernel cuts into frameLen-byte datagrams (UDP_SEGMENT).
type mmsgWriter struct {
	rc   syscall.RawConn
	bb   *batchBuf
	segs int // frames per mmsghdr: 1 without GSO
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec

	off, end int // hdrs[off:end] still to send, for do
	sent     int
	errno    syscall.Errno
	fn       func(fd uintptr) bool // w.do, bound once so a send does not allocate
}

func newMmsgWriter(c *net.UDPConn, bb *batchBuf, segs int) (*mmsgWriter, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	nh := (bb.n + segs - 1) / segs
	w := &mmsgWriter{rc: rc, bb: bb, segs: segs, hdrs: make([]unix.Mmsghdr, nh), iovs: make([]unix.Iovec, nh)}
	for i := range w.hdrs {
		w.iovs[i].Base = &bb.buf[i*segs*bb.frameLen]
		w.hdrs[i].Hdr.Iov = &w.iovs[i]
		w.hdrs[i].Hdr.SetIovlen(1)
	}
	w.fn = w.do
	return w, nil
}

// send sends the first count frames of the batch. It returns how many frames
// the kernel took (all of them unless err != nil) and the number of failed
// syscalls it retried; a pending ICMP error (ECONNREFUSED) fails one call
// without sending, so those frames are retried, up to a limit.
func (w *mmsgWriter) send(count int) (sent, errs int, err error) {
	nh := (count + w.segs - 1) / w.segs
	for i := range nh {
		n := min(w.segs, count-i*w.segs)
		w.iovs[i].SetLen(n * w.bb.frameLen)
	}
	w.off, w.end = 0, nh
	consecutive := 0
	for w.off < w.end {
		if err := w.rc.Write(w.fn); err != nil {
			return sent, errs, err
		}
		if w.errno != 0 {
			errs++
			consecutive++
			if consecutive > 1000 {
				return sent, errs, fmt.Errorf("sendmmsg: %w", w.errno)
			}
			if w.errno == unix.EIO || w.errno == unix.EINVAL {
				return sent, errs, fmt.Errorf("sendmmsg: %w", w.errno) // not transient (e.g. GSO refused)
			}
			continue
		}
		consecutive = 0
		for _, h := range w.hdrs[w.off : w.off+w.sent] {
			sent += int(h.Len) / w.bb.frameLen
		}
		w.off += w.sent
	}
	return sent, errs, nil
}

func (w *mmsgWriter) do(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.off])), uintptr(w.end-w.off), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		w.sent, w.errno = int(r), e
		return true
	}
}

// enableGSO turns on UDP_SEGMENT for every send on c: each datagram handed to
// the kernel is split into segSize-byte datagrams.
func enableGSO(c *net.UDPConn, segSize int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("raw conn: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, segSize)
	}); err != nil {
		return fmt.Errorf("raw conn: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("UDP GSO refused by the kernel (setsockopt UDP_SEGMENT, needs Linux >= 4.18): %w; run without --gso", serr)
	}
	return nil
}

// maxGSOSegs is how many frames of frameLen bytes fit one GSO send: the
// kernel's UDP_MAX_SEGMENTS (64) and the 64 KiB datagram limit.
func maxGSOSegs(frameLen int) int { return max(1, min(64, maxUDPSize/frameLen)) }

// mmsgReader receives up to len(bufs) datagrams per recvmmsg.
type mmsgReader struct {
	rc   syscall.RawConn
	bufs [][]byte
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	n    int
	err  error
	fn   func(fd uintptr) bool
}

func newMmsgReader(c *net.UDPConn, batch, bufSize int) (*mmsgReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	r := &mmsgReader{rc: rc, bufs: make([][]byte, batch), hdrs: make([]unix.Mmsghdr, batch), iovs: make([]unix.Iovec, batch)}
	mem := make([]byte, batch*bufSize)
	for i := range r.bufs {
		r.bufs[i] = mem[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(bufSize)
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
	}
	r.fn = r.do
	return r, nil
}

// read waits for datagrams and returns how many arrived; datagram i is
// r.bufs[i][:r.hdrs[i].Len]. It returns net.ErrClosed once the conn closes.
func (r *mmsgReader) read() (int, error) {
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	return r.n, r.err
}

func (r *mmsgReader) msg(i int) []byte { return r.bufs[i][:r.hdrs[i].Len] }

func (r *mmsgReader) do(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			r.n, r.err = int(n), nil
		default:
			r.n, r.err = 0, fmt.Errorf("recvmmsg: %w", e)
		}
		return true
	}
}

// growRcvbuf asks for want bytes of receive buffer, past net.core.rmem_max
// with SO_RCVBUFFORCE when privileged, and returns what the kernel granted
// (getsockopt's figure, which counts the kernel's bookkeeping overhead).
func growRcvbuf(c *net.UDPConn, want int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("raw conn: %w", err)
	}
	var got int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want); e != nil {
			if !errors.Is(e, unix.EPERM) {
				serr = fmt.Errorf("SO_RCVBUFFORCE: %w", e)
				return
			}
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, want); e != nil {
				serr = fmt.Errorf("SO_RCVBUF: %w", e)
				return
			}
		}
		got, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil {
		return 0, fmt.Errorf("raw conn: %w", err)
	}
	return got, serr
}

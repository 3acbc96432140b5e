package syslog

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgReader reads up to len(bufs) datagrams per system call with
// recvmmsg(2). It is x/sys's raw call rather than x/net's ReadBatch, which
// allocates a net.UDPAddr for every message: here the source addresses land
// in fixed sockaddr slots and become netip.AddrPorts without allocating.
type mmsgReader struct {
	bufs  [][]byte
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for IPv4 too
	hdrs  []unix.Mmsghdr
}

func newMmsgReader(n, size int) *mmsgReader {
	r := &mmsgReader{bufs: make([][]byte, n), iovs: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n), hdrs: make([]unix.Mmsghdr, n)}
	for i := range n {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.Iovlen = 1
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	return r
}

// read fills the slots from the socket without blocking: n datagrams, or
// EAGAIN when there is none.
func (r *mmsgReader) read(fd uintptr) (int, syscall.Errno) {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		r.hdrs[i].Hdr.Flags = 0
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// message is slot i: its bytes, whether the kernel cut it, and its source.
func (r *mmsgReader) message(i int) (data []byte, truncated bool, src netip.AddrPort) {
	h := &r.hdrs[i]
	data = r.bufs[i][:h.Len]
	truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
	sa := &r.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		src = netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), port)
	case unix.AF_INET6:
		src = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return data, truncated, src
}

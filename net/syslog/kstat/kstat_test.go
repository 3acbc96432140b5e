package kstat

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// A socket nobody reads, with a small buffer, drops what does not fit, and
// the kernel's count of it is read back by inode.
func TestUDPDropsOfAFullSocket(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var ino uint64
	rc, _ := pc.(*net.UDPConn).SyscallConn()
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		ino = Inode(int(fd))
	})
	if ino == 0 {
		t.Fatal("no inode for the socket")
	}
	if d := UDPDrops([]uint64{ino}); d != 0 {
		t.Fatalf("drops before sending = %d", d)
	}
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 500)
	for range 200 {
		c.Write(msg)
	}
	if d := UDPDrops([]uint64{ino}); d == 0 || d > 200 {
		t.Fatalf("drops after 200 datagrams into a 4 KiB buffer = %d", d)
	}
	if d := UDPDrops([]uint64{ino + 1_000_000_000}); d != 0 {
		t.Errorf("drops of an inode that is not there = %d", d)
	}
}

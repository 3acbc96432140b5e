package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// socketInode returns the inode of c's socket, as /proc/self/fd/N names it
// (socket:[INODE]); /proc/net/udp rows are keyed by it.
func socketInode(c *net.UDPConn) (string, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return "", fmt.Errorf("raw conn: %w", err)
	}
	var link string
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		link, lerr = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	}); err != nil {
		return "", fmt.Errorf("raw conn: %w", err)
	}
	if lerr != nil {
		return "", fmt.Errorf("socket inode: %w", lerr)
	}
	ino, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(ino, "]") {
		return "", fmt.Errorf("socket inode: unexpected link %q", link)
	}
	return strings.TrimSuffix(ino, "]"), nil
}

// udpDrops reads the kernel's drop counter (receive-buffer overflows and the
// like) for the UDP socket with inode ino from /proc/net/udp and udp6.
func udpDrops(ino string) (uint64, error) {
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		n, found, err := dropsIn(p, ino)
		if err != nil {
			return 0, err
		}
		if found {
			return n, nil
		}
	}
	return 0, fmt.Errorf("socket inode %s not in /proc/net/udp", ino)
}

func dropsIn(path, ino string) (uint64, bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header: sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 13 || f[9] != ino {
			continue
		}
		n, err := strconv.ParseUint(f[12], 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: drops %q: %w", path, f[12], err)
		}
		return n, true, nil
	}
	return 0, false, sc.Err()
}

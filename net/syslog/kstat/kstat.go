// Package kstat reads what the kernel knows about Ferry's own sockets: the
// datagrams a UDP socket dropped because its buffer was full, which happen
// before Ferry could see them and must show beside what it received.
package kstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Inode is the socket inode of file descriptor fd (0 if unknown).
func Inode(fd int) uint64 {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return 0
	}
	var ino uint64
	if _, err := fmt.Sscanf(link, "socket:[%d]", &ino); err != nil {
		return 0
	}
	return ino
}

// UDPDrops sums the drops column of /proc/net/udp and /proc/net/udp6 over
// the sockets with these inodes.
func UDPDrops(inodes []uint64) uint64 {
	want := map[uint64]bool{}
	for _, i := range inodes {
		if i != 0 {
			want[i] = true
		}
	}
	if len(want) == 0 {
		return 0
	}
	var total uint64
	for _, path := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		total += dropsIn(path, want)
	}
	return total
}

// dropsIn reads one table: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
func dropsIn(path string, want map[uint64]bool) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var total uint64
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 13 {
			continue
		}
		ino, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil || !want[ino] {
			continue
		}
		if d, err := strconv.ParseUint(string(fields[12]), 10, 64); err == nil {
			total += d
		}
	}
	return total
}

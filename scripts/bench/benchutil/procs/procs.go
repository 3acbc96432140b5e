// Package procs holds the process and /proc helpers the benchmark drivers
// share: children run in their own process groups and are killed with them
// when the bench stops, and /proc tells what a process, the machine and the
// loopback UDP sockets used.
package procs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// UserHZ is the unit of utime/stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const UserHZ = 100

// Proc is a child process in its own process group, killed with the group when
// the bench stops (normally, on error or on a signal).
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Stdout *Buffer
	Stderr *Buffer
	done   chan struct{}
	werr   error // set when done is closed
}

var (
	procsMu sync.Mutex
	procs   = map[*Proc]bool{}
)

// Start runs argv with env added to the bench's environment.
func Start(name string, argv []string, env ...string) (*Proc, error) {
	p := &Proc{Name: name, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(argv[0], argv[1:]...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Stdout, p.Stderr
	// Its own group, so that a stop reaches whatever it forks; and it dies with the bench.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	procsMu.Lock()
	defer procsMu.Unlock()
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	procs[p] = true
	go func() {
		p.werr = p.Cmd.Wait()
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id, which is also its process group's.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has exited (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is what waiting for the process returned, once it has exited (nil
// while it runs), for saying why a child went away early.
func (p *Proc) ExitErr() error {
	select {
	case <-p.done:
		return p.werr
	default:
		return nil
	}
}

// Wait waits for the process to exit by itself, up to limit, then kills it.
func (p *Proc) Wait(limit time.Duration) error {
	select {
	case <-p.done:
		return p.werr
	case <-time.After(limit):
		p.Kill()
		return fmt.Errorf("%s did not finish within %s", p.Name, limit)
	}
}

// Stop sends sig to the process group, waits up to grace, then kills the group.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if p.Exited() {
		return p.werr
	}
	syscall.Kill(-p.PID(), sig)
	select {
	case <-p.done:
		return p.werr
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s ignored %s for %s", p.Name, sig, grace)
	}
}

// Kill kills the process group and waits for the process to be reaped.
func (p *Proc) Kill() {
	syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
}

// KillAll kills every child still running (their process groups), so that
// none outlives the bench.
func KillAll() {
	procsMu.Lock()
	list := make([]*Proc, 0, len(procs))
	for p := range procs {
		list = append(list, p)
	}
	procsMu.Unlock()
	for _, p := range list {
		syscall.Kill(-p.PID(), syscall.SIGKILL)
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Buffer collects a child's output; it is safe to read while the child writes.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// LastLine is the last non-empty line written (where the tools put their
// JSON report).
func (l *Buffer) LastLine() string {
	lines := strings.Split(strings.TrimSpace(l.String()), "\n")
	return lines[len(lines)-1]
}

// Usage is what /proc says about a process at one moment.
type Usage struct {
	Ticks uint64 // utime+stime, all threads, in USER_HZ ticks
	HWMKB uint64 // VmHWM: peak resident set
	RSSKB uint64 // VmRSS
}

// CPUSeconds is Ticks in seconds.
func (s Usage) CPUSeconds() float64 { return float64(s.Ticks) / UserHZ }

// Sample reads /proc/PID/stat and /proc/PID/status.
func Sample(pid int) (Usage, error) {
	var s Usage
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.Ticks = ut + st
	st2, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(st2))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			s.HWMKB = n
		case "VmRSS":
			s.RSSKB = n
		}
	}
	return s, nil
}

// MachineTicks is /proc/stat's idle + iowait of all CPUs together and its
// softirq, in USER_HZ ticks. Busy time is wall time x CPUs minus idle: idle is
// measured exactly on a tickless kernel, while the busy columns are sampled at
// each tick and miss short runs.
func MachineTicks() (idle, softirq uint64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	for i, v := range f {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch i {
		case 4, 5:
			idle += n
		case 7:
			softirq = n
		}
	}
	return idle, softirq
}

// BusySeconds is the CPU time the machine spent busy between two
// MachineTicks readings wall apart.
func BusySeconds(idle0, idle1 uint64, wall time.Duration) float64 {
	return wall.Seconds()*float64(runtime.NumCPU()) - float64(idle1-idle0)/UserHZ
}

// WaitQuiet waits until the rest of the machine (everything but this
// program) has used less than maxCores for a second, or limit has passed, so
// that a run does not measure someone else's load. It returns how long it
// waited and the last second's load, in cores.
func WaitQuiet(maxCores float64, limit time.Duration) (time.Duration, float64) {
	start := time.Now()
	for {
		i0, _ := MachineTicks()
		s0, t0 := SelfTicks(), time.Now()
		time.Sleep(time.Second)
		i1, _ := MachineTicks()
		s1 := SelfTicks()
		load := BusySeconds(i0, i1, time.Since(t0)) - float64(s1-s0)/UserHZ
		if load < maxCores || time.Since(start) >= limit {
			return time.Since(start), load
		}
	}
}

// SelfTicks is this program's own utime+stime, to take out of the machine's.
func SelfTicks() uint64 {
	s, _ := Sample(os.Getpid())
	return s.Ticks
}

// UDPSockets sums /proc/net/udp over the sockets bound to 127.0.0.1:port:
// how many there are, the bytes waiting in their receive queues, and the
// kernel's drop counters (receive buffer full and the like).
type UDPSockets struct {
	Count   int
	RxQueue uint64
	Drops   uint64
}

// UDPPort reads /proc/net/udp for 127.0.0.1:port.
func UDPPort(port int) (UDPSockets, error) {
	var u UDPSockets
	raw, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return u, err
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Scan() // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 13 || f[1] != want {
			continue
		}
		u.Count++
		if _, rx, ok := strings.Cut(f[4], ":"); ok {
			n, _ := strconv.ParseUint(rx, 16, 64)
			u.RxQueue += n
		}
		n, _ := strconv.ParseUint(f[12], 10, 64)
		u.Drops += n
	}
	return u, sc.Err()
}

// FreeUDPPort is a loopback UDP port nothing is bound to right now (and whose
// TCP twin is free too, for peace of mind).
func FreeUDPPort() (int, error) {
	for range 50 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free UDP port")
}

// WaitUDPBound polls /proc/net/udp until something is bound to
// 127.0.0.1:port, so that no datagram is sent before p can take it in.
func WaitUDPBound(p *Proc, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if u, err := UDPPort(port); err == nil && u.Count > 0 {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before it bound udp 127.0.0.1:%d: %v\n%s%s", p.Name, port, p.werr, p.Stdout.String(), p.Stderr.String())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not bind udp 127.0.0.1:%d within %s\n%s", p.Name, port, limit, p.Stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitTCPListening dials 127.0.0.1:port until something accepts, so that p
// is known to be ready for connections.
func WaitTCPListening(p *Proc, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before it listened on tcp 127.0.0.1:%d: %v\n%s%s", p.Name, port, p.werr, p.Stdout.String(), p.Stderr.String())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on tcp 127.0.0.1:%d within %s\n%s", p.Name, port, limit, p.Stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Settle polls key until it has not changed for stable (and ok is true), up
// to limit, so that counters are read only once a subject has caught up; it
// returns how long that took after it was called.
func Settle(stable, limit time.Duration, poll func() (key string, ok bool, err error)) (time.Duration, error) {
	start := time.Now()
	var last string
	since := time.Now()
	for {
		key, ok, err := poll()
		if err != nil {
			return time.Since(start), err
		}
		now := time.Now()
		if key != last || !ok {
			last, since = key, now
		} else if now.Sub(since) >= stable {
			return time.Since(start), nil
		}
		if now.Sub(start) > limit {
			return time.Since(start), fmt.Errorf("counters did not settle within %s (last %s)", limit, key)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var _ io.Writer = (*Buffer)(nil)

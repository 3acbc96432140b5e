package main

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

// userHZ is the unit of utime/stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// proc is a child process in its own process group, killed with the group when
// the bench stops (normally, on error or on a signal).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer // stdout
	err  *lockedBuffer // stderr
	done chan struct{}
	werr error // set when done is closed
}

var (
	procsMu sync.Mutex
	procs   = map[*proc]bool{}
)

// startProc runs argv with env added to the bench's environment.
func startProc(name string, argv []string, env ...string) (*proc, error) {
	p := &proc{name: name, out: &lockedBuffer{}, err: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	// Its own group, so that a stop reaches whatever it forks; and it dies with the bench.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	procsMu.Lock()
	defer procsMu.Unlock()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	procs[p] = true
	go func() {
		p.werr = p.cmd.Wait()
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit by itself, up to limit.
func (p *proc) wait(limit time.Duration) error {
	select {
	case <-p.done:
		return p.werr
	case <-time.After(limit):
		p.kill()
		return fmt.Errorf("%s did not finish within %s", p.name, limit)
	}
}

// stop sends sig to the process group, waits up to grace, then kills the group.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return p.werr
	}
	syscall.Kill(-p.pid(), sig)
	select {
	case <-p.done:
		return p.werr
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s ignored %s for %s", p.name, sig, grace)
	}
}

func (p *proc) kill() {
	syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// killAll kills every child still running (their process groups).
func killAll() {
	procsMu.Lock()
	list := make([]*proc, 0, len(procs))
	for p := range procs {
		list = append(list, p)
	}
	procsMu.Unlock()
	for _, p := range list {
		syscall.Kill(-p.pid(), syscall.SIGKILL)
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lastLine is the last non-empty line written.
func (l *lockedBuffer) lastLine() string {
	lines := strings.Split(strings.TrimSpace(l.String()), "\n")
	return lines[len(lines)-1]
}

// procSample is what /proc says about a process at one moment.
type procSample struct {
	ticks uint64 // utime+stime, all threads, in USER_HZ ticks
	hwmKB uint64 // VmHWM: peak resident set
	rssKB uint64 // VmRSS
}

func (s procSample) cpuSeconds() float64 { return float64(s.ticks) / userHZ }

func sampleProc(pid int) (procSample, error) {
	var s procSample
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
	s.ticks = ut + st
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
			s.hwmKB = n
		case "VmRSS":
			s.rssKB = n
		}
	}
	return s, nil
}

// machineTicks is /proc/stat's idle + iowait of all CPUs together and its
// softirq, in USER_HZ ticks. Busy time is wall time x CPUs minus idle: idle is
// measured exactly on a tickless kernel, while the busy columns are sampled at
// each tick and miss short runs.
func machineTicks() (idle, softirq uint64) {
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

// busySeconds is the CPU time the machine spent busy between two
// machineTicks readings wall apart.
func busySeconds(idle0, idle1 uint64, wall time.Duration) float64 {
	return wall.Seconds()*float64(runtime.NumCPU()) - float64(idle1-idle0)/userHZ
}

// waitQuiet waits until the rest of the machine (everything but this
// program) has used less than maxCores for a second, or limit has passed. It
// returns how long it waited and the last second's load, in cores.
func waitQuiet(maxCores float64, limit time.Duration) (time.Duration, float64) {
	start := time.Now()
	for {
		i0, _ := machineTicks()
		s0, t0 := selfTicks(), time.Now()
		time.Sleep(time.Second)
		i1, _ := machineTicks()
		s1 := selfTicks()
		load := busySeconds(i0, i1, time.Since(t0)) - float64(s1-s0)/userHZ
		if load < maxCores || time.Since(start) >= limit {
			return time.Since(start), load
		}
	}
}

func selfTicks() uint64 {
	s, _ := sampleProc(os.Getpid())
	return s.ticks
}

// udpSockets sums /proc/net/udp over the sockets bound to 127.0.0.1:port:
// how many there are, the bytes waiting in their receive queues, and the
// kernel's drop counters (receive buffer full and the like).
type udpSockets struct {
	count   int
	rxQueue uint64
	drops   uint64
}

func udpPort(port int) (udpSockets, error) {
	var u udpSockets
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
		u.count++
		if _, rx, ok := strings.Cut(f[4], ":"); ok {
			n, _ := strconv.ParseUint(rx, 16, 64)
			u.rxQueue += n
		}
		n, _ := strconv.ParseUint(f[12], 10, 64)
		u.drops += n
	}
	return u, sc.Err()
}

// freeUDPPort is a loopback UDP port nothing is bound to right now (and whose
// TCP twin is free too, for peace of mind).
func freeUDPPort() (int, error) {
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

// waitUDPBound polls /proc/net/udp until something is bound to 127.0.0.1:port.
func waitUDPBound(p *proc, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if u, err := udpPort(port); err == nil && u.count > 0 {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it bound udp 127.0.0.1:%d: %v\n%s%s", p.name, port, p.werr, p.out.String(), p.err.String())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not bind udp 127.0.0.1:%d within %s\n%s", p.name, port, limit, p.err.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle polls key until it has not changed for stable (and ok is true), up
// to limit; it returns how long that took after it was called.
func settle(stable, limit time.Duration, poll func() (key string, ok bool, err error)) (time.Duration, error) {
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

var _ io.Writer = (*lockedBuffer)(nil)

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// counters are a subject's cumulative figures at one moment.
type counters struct {
	received  uint64 // taken off the socket by the subject
	delivered uint64 // handed to its output (discard, file)
	kernel    uint64 // kernel drops, as the subject reports them (0 if it does not)
	queue     uint64 // dropped inside the subject (queue full, malformed)
}

// subject is one receiver under test, started and listening on 127.0.0.1:port.
type subject interface {
	proc() *procs.Proc
	port() int
	// current is the counters now, without waiting.
	current() (counters, error)
	// settle waits, after the sender stopped, until the subject has taken in
	// all it will, and returns the counters then.
	settle() (counters, error)
	// stop stops it cleanly (outputs flushed).
	stop() error
	// files is what it wrote, for `check --file` after stop; nil: nothing.
	files() ([]string, error)
	// describe is one line on how it is set up.
	describe() string
}

// ---- the floor: ferry-loadgen check --count-only ----

type floorSubject struct {
	p    *procs.Proc
	prt  int
	rep  countReport
	idle time.Duration
}

type countReport struct {
	Received uint64 `json:"received"`
	Rcvbuf   int    `json:"rcvbuf"`
	Drops    uint64 `json:"drops"`
}

func (b *bench) startFloor() (subject, error) {
	port, err := procs.FreeUDPPort()
	if err != nil {
		return nil, err
	}
	f := &floorSubject{prt: port, idle: time.Second}
	f.p, err = procs.Start("floor checker", []string{b.loadgen, "check", "--udp", addr(port), "--count-only", "--idle", f.idle.String()})
	if err != nil {
		return nil, err
	}
	if err := procs.WaitUDPBound(f.p, port, 10*time.Second); err != nil {
		f.p.Kill()
		return nil, err
	}
	return f, nil
}

func (f *floorSubject) proc() *procs.Proc          { return f.p }
func (f *floorSubject) port() int                  { return f.prt }
func (f *floorSubject) current() (counters, error) { return counters{}, nil }
func (f *floorSubject) files() ([]string, error)   { return nil, nil }
func (f *floorSubject) describe() string {
	return fmt.Sprintf("ferry-loadgen check --count-only (recvmmsg x64, SO_RCVBUFFORCE 64 MiB, exits %s after the last datagram)", f.idle)
}

// settle: the checker stops by itself once input has been idle for --idle.
func (f *floorSubject) settle() (counters, error) {
	if err := f.p.Wait(2 * time.Minute); err != nil {
		return counters{}, fmt.Errorf("floor checker: %v\n%s", err, f.p.Stderr.String())
	}
	if err := json.Unmarshal([]byte(f.p.Stdout.LastLine()), &f.rep); err != nil {
		return counters{}, fmt.Errorf("floor checker output %q: %v", f.p.Stdout.String(), err)
	}
	return counters{received: f.rep.Received, delivered: f.rep.Received, kernel: f.rep.Drops}, nil
}

func (f *floorSubject) stop() error { return f.p.Stop(syscall.SIGTERM, 5*time.Second) }

// ---- ferryd ----

const (
	ferryInitialPassword = "Bench-Initial-0001"
	ferryPassword        = "Bench-Changed-0002"
)

type ferrySubject struct {
	p       *procs.Proc
	prt     int
	output  string // discard or file
	outDir  string
	cli     *gossh.Client
	readers int
	rcvbuf  int
	version string
}

type ferryInput struct {
	Name        string `json:"name"`
	State       string `json:"state"`
	RcvBuf      int    `json:"rx_buf_size"`
	Readers     int    `json:"readers"`
	Received    uint64 `json:"received"`
	QueueDrops  uint64 `json:"dropped_queue"`
	Malformed   uint64 `json:"dropped_malformed"`
	KernelDrops uint64 `json:"dropped_kernel"`
}

type ferryOutput struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	EventsIn uint64 `json:"events_in"`
	Written  uint64 `json:"events_written"`
	Errors   uint64 `json:"errors"`
}

// startFerry starts ferryd on a fresh data dir whose first-boot batch opens
// the UDP receiver and routes everything to one output (discard, or file).
func (b *bench) startFerry(label, output string) (subject, error) {
	port, err := procs.FreeUDPPort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, label)
	f := &ferrySubject{prt: port, output: output}
	boot := fmt.Sprintf("syslog.open bench %d udp --bind 127.0.0.1\n", port)
	switch output {
	case "discard":
		boot += "forwarder.addOutput out discard\n"
	case "file":
		f.outDir = filepath.Join(dir, "archive")
		boot += "forwarder.addOutput out file " + f.outDir + "\n"
	default:
		return nil, fmt.Errorf("ferry output %q", output)
	}
	boot += "route.add * out\n"
	fd, err := benchutil.StartFerryd(benchutil.FerrydOptions{Bin: b.ferryd, Name: "ferryd", Dir: dir, Boot: boot, LogLevel: "warn",
		ReadyWait: 30 * time.Second, InitialPassword: ferryInitialPassword, Password: ferryPassword})
	if err != nil {
		return nil, err
	}
	// One connection kept for the counters.
	f.p, f.cli, f.version = fd.Proc, fd.Client, fd.Version
	ok := false
	defer func() {
		if !ok {
			f.p.Kill()
		}
	}()
	in, out, err := f.status()
	if err != nil {
		return nil, err
	}
	if in.State != "listening" || !strings.HasPrefix(out.State, "running") {
		return nil, fmt.Errorf("ferryd: receiver %q, output %q", in.State, out.State)
	}
	if err := procs.WaitUDPBound(f.p, port, 5*time.Second); err != nil {
		return nil, err
	}
	f.readers, f.rcvbuf = in.Readers, in.RcvBuf
	ok = true
	return f, nil
}

func (f *ferrySubject) proc() *procs.Proc { return f.p }
func (f *ferrySubject) port() int         { return f.prt }
func (f *ferrySubject) describe() string {
	out := "discard"
	if f.output == "file" {
		out = "file <scratch>/archive (forwarder.addOutput defaults: raw lines, rotated at 256 MiB)"
	}
	return fmt.Sprintf("ferryd %s: syslog.open udp (defaults: readers=%d, rx_buf_size=%d) -> %s", f.version, f.readers, f.rcvbuf, out)
}

// status runs `syslog.servers --json; forwarder.outputs --json` over the kept connection.
func (f *ferrySubject) status() (ferryInput, ferryOutput, error) {
	var in ferryInput
	var out ferryOutput
	sess, err := f.cli.NewSession()
	if err != nil {
		return in, out, fmt.Errorf("ferryd ssh session: %w", err)
	}
	defer sess.Close()
	raw, err := sess.Output("syslog.servers --json; forwarder.outputs --json")
	if err != nil {
		return in, out, fmt.Errorf("ferryd status: %v: %s", err, raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var ins []ferryInput
	var outs []ferryOutput
	if err := errors.Join(dec.Decode(&ins), dec.Decode(&outs)); err != nil {
		return in, out, fmt.Errorf("ferryd status %q: %v", raw, err)
	}
	for _, i := range ins {
		if i.Name == "bench" {
			in = i
		}
	}
	for _, o := range outs {
		if o.Name == "out" {
			out = o
		}
	}
	if in.Name == "" || out.Name == "" {
		return in, out, fmt.Errorf("ferryd status lacks the receiver or the output: %s", raw)
	}
	return in, out, nil
}

func (f *ferrySubject) current() (counters, error) {
	in, out, err := f.status()
	if err != nil {
		return counters{}, err
	}
	c := counters{received: in.Received, kernel: in.KernelDrops, queue: in.QueueDrops + in.Malformed, delivered: out.EventsIn}
	if f.output == "file" {
		c.delivered = out.Written
	}
	return c, nil
}

// settle: received (and what the output took and wrote) unchanged for 1 s,
// with the socket's receive queue empty.
func (f *ferrySubject) settle() (c counters, err error) {
	_, err = procs.Settle(time.Second, 60*time.Second, func() (string, bool, error) {
		in, out, err := f.status()
		if err != nil {
			return "", false, err
		}
		u, _ := procs.UDPPort(f.prt)
		c = counters{received: in.Received, kernel: in.KernelDrops, queue: in.QueueDrops + in.Malformed, delivered: out.EventsIn}
		if f.output == "file" {
			c.delivered = out.Written
		}
		key := fmt.Sprint(in.Received, in.KernelDrops, in.QueueDrops, out.EventsIn, out.Written, u.RxQueue)
		return key, u.RxQueue == 0 && out.EventsIn == out.Written, nil
	})
	return c, err
}

func (f *ferrySubject) stop() error {
	if f.cli != nil {
		f.cli.Close()
	}
	return f.p.Stop(syscall.SIGTERM, 20*time.Second)
}

func (f *ferrySubject) files() ([]string, error) {
	if f.outDir == "" {
		return nil, nil
	}
	return regularFiles(f.outDir)
}

// regularFiles lists the files under dir, in name order.
func regularFiles(dir string) ([]string, error) {
	var list []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			list = append(list, p)
		}
		return nil
	})
	return list, err
}

// ---- rsyslogd ----

type rsyslogSubject struct {
	rs      *benchutil.Rsyslogd
	prt     int
	tuned   bool
	output  string
	outFile string
}

// rsyslogConf is the configuration of one variant, after the lines
// benchutil.StartRsyslogd puts first in all (DNS off, which changes no work as
// the default template never shows FROMHOST, and impstats every second into a
// file, which is how the bench reads imudp's submitted count and the main
// queue): "defaults" is plain imudp and omfile; "tuned" is what rsyslog's docs
// suggest for high UDP rates (imudp threads, batchSize and rcvbufSize, which
// rsyslogd asks with SO_RCVBUFFORCE as root; a LinkedList main queue with big
// dequeue batches; omfile with asyncWriting and a 256k I/O buffer).
func rsyslogConf(port int, tuned bool, output, outFile string) string {
	var b strings.Builder
	if tuned {
		b.WriteString("main_queue(queue.type=\"LinkedList\" queue.size=\"100000\" queue.dequeueBatchSize=\"1024\")\n")
		b.WriteString("module(load=\"imudp\" threads=\"2\" batchSize=\"128\")\n")
		fmt.Fprintf(&b, "input(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\" rcvbufSize=\"64m\")\n", port)
	} else {
		b.WriteString("module(load=\"imudp\")\n")
		fmt.Fprintf(&b, "input(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\")\n", port)
	}
	switch {
	case output == "discard":
		// `stop` ends every message's run through the ruleset after parsing and
		// the main queue. rsyslogd refuses a configuration without any action
		// (error 2103), hence the one after it, which nothing ever reaches.
		b.WriteString("*.* stop\n*.* action(type=\"omfile\" file=\"/dev/null\")\n")
	case tuned:
		fmt.Fprintf(&b, "*.* action(type=\"omfile\" file=%q asyncWriting=\"on\" ioBufferSize=\"256k\")\n", outFile)
	default:
		fmt.Fprintf(&b, "*.* action(type=\"omfile\" file=%q)\n", outFile)
	}
	return b.String()
}

func (b *bench) startRsyslog(label string, tuned bool, output string) (subject, error) {
	port, err := procs.FreeUDPPort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, label)
	r := &rsyslogSubject{prt: port, tuned: tuned, output: output}
	if output == "file" {
		r.outFile = filepath.Join(dir, "out.log")
	}
	if r.rs, err = benchutil.StartRsyslogd(b.rsyslogd, "rsyslogd", dir, rsyslogConf(port, tuned, output, r.outFile)); err != nil {
		return nil, err
	}
	if err := procs.WaitUDPBound(r.rs.Proc, port, 20*time.Second); err != nil {
		r.rs.Proc.Kill()
		return nil, err
	}
	return r, nil
}

func (r *rsyslogSubject) proc() *procs.Proc { return r.rs.Proc }
func (r *rsyslogSubject) port() int         { return r.prt }

// describe shows the configuration without the lines every variant shares
// (global() and impstats) and with the scratch directory left out.
func (r *rsyslogSubject) describe() string { return "rsyslogd: " + r.rs.Describe() }

// rsStats is the latest impstats emission of the figures the bench needs.
type rsStats struct {
	submitted, enqueued, qsize, discarded, processed uint64
	emissions                                        int
}

func (r *rsyslogSubject) readStats() (rsStats, error) {
	var s rsStats
	err := r.rs.ReadStats(func(m benchutil.ImpstatsRecord) {
		name := m.Name()
		switch {
		case m.Origin() == "imudp" && strings.HasPrefix(name, "imudp(127.0.0.1"):
			s.submitted = m.Num("submitted")
		case name == "main Q":
			s.enqueued, s.qsize = m.Num("enqueued"), m.Num("size")
			s.discarded = m.Num("discarded.full") + m.Num("discarded.nf")
			s.emissions++
		case strings.HasSuffix(name, "builtin:omfile") && m.Origin() == "core.action":
			s.processed = m.Num("processed")
		}
	})
	return s, err
}

func (r *rsyslogSubject) countersOf(s rsStats) counters {
	c := counters{received: s.submitted, queue: s.discarded, delivered: s.submitted - min(s.discarded, s.submitted)}
	if r.output == "file" {
		c.delivered = s.processed
	}
	return c
}

func (r *rsyslogSubject) current() (counters, error) {
	s, err := r.readStats()
	return r.countersOf(s), err
}

// settle: impstats writes once a second, so the figures must hold for two
// emissions (2.5 s), with the main queue and the socket's receive queue empty.
func (r *rsyslogSubject) settle() (c counters, err error) {
	_, err = procs.Settle(2500*time.Millisecond, 90*time.Second, func() (string, bool, error) {
		s, err := r.readStats()
		if err != nil {
			return "", false, err
		}
		u, _ := procs.UDPPort(r.prt)
		c = r.countersOf(s)
		return fmt.Sprint(s.submitted, s.enqueued, s.processed, s.discarded, u.RxQueue), s.emissions > 0 && s.qsize == 0 && u.RxQueue == 0, nil
	})
	return c, err
}

func (r *rsyslogSubject) stop() error { return r.rs.Stop() }

func (r *rsyslogSubject) files() ([]string, error) {
	if r.outFile == "" {
		return nil, nil
	}
	return []string{r.outFile}, nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Command ingestbench measures Ferry's UDP syslog ingest against the bare
// receiver floor and rsyslogd, on loopback, with ferry-loadgen as the sender
// and loss checker. Run it through scripts/bench/ingest.sh, which builds ferryd,
// ferry-loadgen and this program from the tree.
//
// Subjects, each started fresh and fed the same load (500-byte RFC 5424
// messages from one ferry-loadgen sender; all traffic on 127.0.0.1):
//
//	floor             ferry-loadgen check --count-only: recvmmsg and count, nothing else
//	ferry-discard     ferryd, syslog.open udp -> discard output
//	ferry-file        ferryd, syslog.open udp -> file output, then check --file
//	rsyslog-def-file  rsyslogd, imudp and omfile with their defaults, then check --file
//	rsyslog-tun-file  rsyslogd tuned as its docs suggest (imudp threads/batchSize/
//	                  rcvbufSize, LinkedList main queue, async omfile), then check --file
//	rsyslog-def-discard, rsyslog-tun-discard
//	                  the same two rsyslog set-ups ending in `stop` instead of omfile:
//	                  the like-for-like peer of ferry-discard (parse, queue, rule, drop)
//
// Figures, per subject and run:
//
//	offered    messages the sender sent (its own count)
//	received   messages the subject took off its socket: the floor's count,
//	           Ferry's syslog.servers received, rsyslog's impstats imudp submitted
//	delivered  messages that reached the subject's output: Ferry's output
//	           events_in (discard) / events_written (file), rsyslog's submitted
//	           minus main-queue discards (stop) / omfile processed (file); for
//	           file outputs it is then replaced by the distinct sequence numbers
//	           `ferry-loadgen check --file --expect offered` found in the files
//	loss       (offered - delivered) / offered
//	kdrops     kernel drops (socket receive buffer full): Ferry's dropped_kernel,
//	           the floor's drops, rsyslog's row in /proc/net/udp (by local port)
//	qdrops     dropped inside the subject: Ferry's dropped_queue + dropped_malformed,
//	           rsyslog's main queue discarded.full + discarded.nf
//	CPU/msg    utime+stime of the subject's process, all threads (/proc/PID/stat),
//	           from just before the sender starts until the counters settled,
//	           divided by received; microseconds
//	peak RSS   VmHWM of the subject's process at the end of the run (its peak
//	           over its whole life, start-up included)
//
// "Settled" means: Ferry's counters unchanged for 1 s with its socket's receive
// queue empty; rsyslog's impstats figures unchanged over 2.5 s (two emissions)
// with its main queue and socket queue empty; the floor checker exits 1 s after
// its last datagram (--idle 1s).
//
// --ceiling instead looks for the highest loss-free rate of ferry-discard with
// a GSO sender, 5 s per step, plus the floor at the same rates and rsyslog
// tuned -> discard at a few rates for the peer figure.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

type bench struct {
	ferryd, loadgen, rsyslogd string
	work                      string
	pinCPU                    string // sender's CPU for taskset; "": not pinned
	size                      int
	maxOther                  float64       // cores the rest of the machine may use during a run
	quietWait                 time.Duration // how long to wait for a quiet machine before a run
	attempts                  int           // runs per measurement while others interfere
	retryBudget               time.Duration // total time for quiet waits and reruns
	retrySpent                time.Duration
}

// retryLeft is what remains of the time for waiting and rerunning.
func (b *bench) retryLeft() time.Duration { return max(0, b.retryBudget-b.retrySpent) }

func main() {
	var (
		b                bench
		rate             = flag.Float64("rate", 100000, "operating point: messages/s")
		dur              = flag.Duration("duration", 10*time.Second, "operating point: send time")
		gso              = flag.Bool("gso", false, "operating point: GSO sender (the ceiling always uses GSO)")
		ceiling          = flag.Bool("ceiling", false, "find ferry-discard's highest loss-free rate instead (GSO sender)")
		rates            = flag.String("rates", "300000,400000,500000,600000,700000,800000,900000", "ceiling: rates to step through")
		refine           = flag.Int("refine", 2, "ceiling: bisection steps between the highest loss-free step and the next")
		stepDur          = flag.Duration("step-duration", 5*time.Second, "ceiling: send time per rate")
		peerRates        = flag.String("peer-rates", "300000,400000", "ceiling: rates for rsyslog tuned -> discard")
		only             = flag.String("only", "", "operating point: comma-separated subjects to run (default all)")
		pin              = flag.String("pin", "auto", `sender's CPU for taskset: "auto" (the last CPU, if taskset is there and there are 2+), a number, or "none"`)
		jsonOut          = flag.String("json", "", "also write the JSON summary to this file")
		work             = flag.String("work", "", "scratch directory (default: a new temp dir, removed at the end)")
		ferrydFlag       = flag.String("ferryd", "ferryd", "ferryd binary")
		loadgenFlag      = flag.String("loadgen", "ferry-loadgen", "ferry-loadgen binary")
		rsyslogdFlag     = flag.String("rsyslogd", "/usr/sbin/rsyslogd", `rsyslogd binary ("" skips rsyslog)`)
		errInterrupted   = errors.New("interrupted")
		removeWorkAtExit = false
		err              error
	)
	flag.IntVar(&b.size, "size", 500, "bytes per message")
	flag.Float64Var(&b.maxOther, "max-other", 0.2, "CPU cores other processes may use during a run before it counts as interfered with")
	flag.DurationVar(&b.quietWait, "quiet-wait", 90*time.Second, "before each run, wait up to this long for other processes to use less than --max-other")
	flag.IntVar(&b.attempts, "attempts", 3, "runs of a measurement while other processes interfere (the last one is kept)")
	flag.DurationVar(&b.retryBudget, "retry-budget", 0, "most time spent on quiet waits and reruns over the whole bench (default 3m, --ceiling 2m30s)")
	flag.Parse()
	b.ferryd, b.loadgen, b.rsyslogd = benchutil.Abs(*ferrydFlag), benchutil.Abs(*loadgenFlag), *rsyslogdFlag
	if b.work, removeWorkAtExit, err = benchutil.WorkDir(*work, "ingestbench-"); err != nil {
		fatal(err)
	}
	cleanup := func() {
		procs.KillAll()
		if removeWorkAtExit {
			os.RemoveAll(b.work)
		}
	}
	benchutil.OnSignal("ingestbench", cleanup)
	if b.pinCPU, err = benchutil.PinChoice(*pin); err != nil {
		fatal(err)
	}
	if b.retryBudget == 0 {
		b.retryBudget = 3 * time.Minute
		if *ceiling {
			b.retryBudget = 150 * time.Second
		}
	}
	if *ceiling {
		steps, err1 := benchutil.ParseRates(*rates)
		peers, err2 := benchutil.ParseRates(*peerRates)
		if err := cmp.Or(err1, err2); err != nil {
			fatal(err)
		}
		err = b.runCeiling(steps, *refine, *stepDur, peers, *jsonOut)
	} else {
		err = b.runPoint(*rate, *dur, *gso, *only, *jsonOut)
	}
	cleanup()
	if err != nil && !errors.Is(err, errInterrupted) {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ingestbench:", err)
	procs.KillAll()
	os.Exit(1)
}

// ---- one measured run ----

// result is one subject at one rate.
type result struct {
	Subject       string   `json:"subject"`
	TargetRate    float64  `json:"target_rate"`
	Seconds       float64  `json:"send_seconds"`
	GSO           bool     `json:"gso"`
	Offered       uint64   `json:"offered"`
	SendRate      float64  `json:"send_rate"`
	SenderErrors  uint64   `json:"sender_errors"`
	SenderCPU     float64  `json:"sender_cpu_seconds"`
	Received      uint64   `json:"received"`
	Delivered     uint64   `json:"delivered"`
	Lost          int64    `json:"lost"`
	LossPct       float64  `json:"loss_pct"`
	KernelDrops   uint64   `json:"kernel_drops"`
	ProcUDPDrops  uint64   `json:"proc_net_udp_drops"`
	QueueDrops    uint64   `json:"queue_drops"`
	Missing       *uint64  `json:"file_missing,omitempty"`
	Duplicates    *uint64  `json:"file_duplicates,omitempty"`
	Unparsed      *uint64  `json:"file_unparsed,omitempty"`
	FileLines     *uint64  `json:"file_lines,omitempty"`
	CPUSeconds    float64  `json:"cpu_seconds"`
	CPUUsPerMsg   *float64 `json:"cpu_us_per_msg"`
	PeakRSSMiB    float64  `json:"peak_rss_mib"`
	SettleSeconds float64  `json:"settle_seconds"`
	WindowSeconds float64  `json:"window_seconds"`
	SoftirqCPU    float64  `json:"softirq_cpu_seconds"`
	OtherCPU      float64  `json:"other_cpu_seconds"`
	Attempts      int      `json:"attempts"`
	Interfered    bool     `json:"interfered"`
	LossFree      bool     `json:"loss_free"`
	Setup         string   `json:"setup,omitempty"`
}

// sampler keeps the latest /proc figures of a subject while it runs: the floor
// checker exits by itself, so its last sample is its final one.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	ps    procs.Usage
	udp   procs.UDPSockets
}

func startSampler(pid, port int) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	s.take(pid, port)
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.take(pid, port)
			}
		}
	}()
	return s
}

func (s *sampler) take(pid, port int) {
	// A process that has exited but is not yet reaped has no VmHWM: keep the
	// last sample taken while it ran.
	if ps, err := procs.Sample(pid); err == nil && ps.HWMKB > 0 {
		s.ps = ps
	}
	if u, err := procs.UDPPort(port); err == nil && u.Count > 0 {
		s.udp = u
	}
}

// final stops the sampler and returns the latest figures (fresh ones if the
// process still runs).
func (s *sampler) final(pid, port int) (procs.Usage, procs.UDPSockets) {
	close(s.stopc)
	<-s.done
	s.take(pid, port)
	return s.ps, s.udp
}

func (b *bench) send(port int, rate float64, dur time.Duration, gso bool) (benchutil.SendReport, float64, error) {
	argv := []string{b.loadgen, "send", "--udp", addr(port), "--rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"--duration", dur.String(), "--size", strconv.Itoa(b.size)}
	if gso {
		argv = append(argv, "--gso")
	}
	return benchutil.Send(b.pinCPU, dur+time.Minute, argv...)
}

// measure sends one load to a running subject and reads what it did with it.
// The figures are deltas, so one subject can take several loads in turn.
func (b *bench) measure(name string, s subject, rate float64, dur time.Duration, gso bool) (*result, error) {
	pid, port := s.proc().PID(), s.port()
	base, err := s.current()
	if err != nil {
		return nil, err
	}
	u0, _ := procs.UDPPort(port)
	smp := startSampler(pid, port)
	ps0 := smp.ps
	idle0, soft0 := procs.MachineTicks()
	self0 := procs.SelfTicks()
	t0 := time.Now()
	sent, senderCPU, err := b.send(port, rate, dur, gso)
	if err != nil {
		smp.final(pid, port)
		return nil, err
	}
	sendEnd := time.Now()
	c, err := s.settle()
	settled := time.Since(sendEnd)
	ps1, u1 := smp.final(pid, port)
	idle1, soft1 := procs.MachineTicks()
	self1 := procs.SelfTicks()
	window := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &result{Subject: name, TargetRate: rate, Seconds: sent.Seconds, GSO: gso, Offered: sent.Sent, SendRate: sent.Rate,
		SenderErrors: sent.Errors, SenderCPU: senderCPU, SettleSeconds: settled.Seconds(), Setup: s.describe()}
	r.Received = c.received - base.received
	r.Delivered = c.delivered - base.delivered
	r.QueueDrops = c.queue - base.queue
	r.ProcUDPDrops = u1.Drops - min(u0.Drops, u1.Drops)
	if _, ok := s.(*rsyslogSubject); ok {
		r.KernelDrops = r.ProcUDPDrops // rsyslog does not count them itself
	} else {
		r.KernelDrops = c.kernel - base.kernel
	}
	r.CPUSeconds = float64(ps1.Ticks-ps0.Ticks) / procs.UserHZ
	if r.Received > 0 {
		v := r.CPUSeconds * 1e6 / float64(r.Received)
		r.CPUUsPerMsg = &v
	}
	r.PeakRSSMiB = float64(ps1.HWMKB) / 1024
	// What the rest of the machine did meanwhile: neither the subject, nor the
	// sender, nor this program (kernel threads and whatever else runs on the
	// machine: interference; softirq not run in a process's context too).
	r.WindowSeconds = window.Seconds()
	r.SoftirqCPU = float64(soft1-soft0) / procs.UserHZ
	r.OtherCPU = procs.BusySeconds(idle0, idle1, window) - r.CPUSeconds - senderCPU - float64(self1-self0)/procs.UserHZ
	r.Interfered = r.OtherCPU > b.maxOther*r.WindowSeconds
	r.finish()
	return r, nil
}

func (r *result) finish() {
	r.Lost = int64(r.Offered) - int64(r.Delivered)
	if r.Offered > 0 {
		r.LossPct = 100 * float64(r.Lost) / float64(r.Offered)
	}
	r.LossFree = r.Offered > 0 && r.Delivered == r.Offered && r.KernelDrops == 0 && r.QueueDrops == 0
	if r.Missing != nil && (*r.Missing != 0 || *r.Duplicates != 0) {
		r.LossFree = false
	}
}

type fileReport struct {
	Received   uint64 `json:"received"`
	Missing    uint64 `json:"missing"`
	Duplicates uint64 `json:"duplicates"`
	Unparsed   uint64 `json:"unparsed"`
	Streams    map[string]struct {
		Unique uint64 `json:"unique"`
	} `json:"streams"`
}

// checkFiles runs `ferry-loadgen check --file` over what the subject wrote
// (after it stopped) and puts the distinct messages found in r.Delivered.
func (b *bench) checkFiles(r *result, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("%s wrote no files", r.Subject)
	}
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	args := append([]string{"check", "--expect", strconv.FormatUint(r.Offered, 10)}, files...)
	out, err := exec.Command(b.loadgen, args...).Output()
	if err != nil {
		return fmt.Errorf("check --file %v: %v %s", files, err, out)
	}
	var rep fileReport
	if err := json.Unmarshal(bytes.TrimSpace(out), &rep); err != nil {
		return fmt.Errorf("check --file output %q: %v", out, err)
	}
	var unique uint64
	for _, s := range rep.Streams {
		unique += s.Unique
	}
	lines := rep.Received + rep.Unparsed
	r.Missing, r.Duplicates, r.Unparsed, r.FileLines = &rep.Missing, &rep.Duplicates, &rep.Unparsed, &lines
	r.Delivered = unique
	r.finish()
	benchutil.Logf("check --file: %d file(s), %.0f MiB, %d lines, %d distinct, missing %d, duplicates %d, unparsed %d",
		len(files), float64(total)/(1<<20), lines, unique, rep.Missing, rep.Duplicates, rep.Unparsed)
	return nil
}

// quiet waits for the rest of the machine to calm down before a run.
func (b *bench) quiet() {
	limit := min(b.quietWait, b.retryLeft())
	waited, load := procs.WaitQuiet(b.maxOther, limit)
	if waited > time.Second {
		b.retrySpent += waited - time.Second // one second is the check itself
	}
	if waited > 1500*time.Millisecond || (load >= b.maxOther && limit == 0) {
		if load < b.maxOther {
			benchutil.Logf("waited %s for other processes to use < %.2f cores", waited.Round(time.Second), b.maxOther)
		} else {
			benchutil.Logf("other processes still use %.2f cores after %s; measuring anyway", load, waited.Round(time.Second))
		}
	}
}

// measureQuiet measures a long-lived subject, again (up to b.attempts runs)
// while other processes interfere.
func (b *bench) measureQuiet(name string, s subject, rate float64, dur time.Duration, gso bool) (*result, error) {
	for attempt := 1; ; attempt++ {
		b.quiet()
		t0 := time.Now()
		r, err := b.measure(name, s, rate, dur, gso)
		if err != nil {
			return nil, err
		}
		r.Attempts = attempt
		if !r.Interfered || attempt >= b.attempts || b.retryLeft() == 0 {
			return r, nil
		}
		b.retrySpent += time.Since(t0)
		benchutil.Logf("%.0f/s: other processes used %.2f cores during the run; again: %s", rate, r.OtherCPU/r.WindowSeconds, r.short())
	}
}

// runOnce starts a subject, measures one load, stops it, checks its files and
// removes its scratch directory; while other processes interfere, it does it
// all again (up to b.attempts times).
func (b *bench) runOnce(name string, start func() (subject, error), rate float64, dur time.Duration, gso bool) (*result, error) {
	fmt.Fprintf(os.Stderr, "== %s\n", name)
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		s, err := start()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		benchutil.Logf("ready in %s: %s", time.Since(t0).Round(time.Millisecond), s.describe())
		b.quiet()
		r, err := b.measure(name, s, rate, dur, gso)
		if err != nil {
			s.stop()
			return nil, err
		}
		r.Attempts = attempt
		if err := s.stop(); err != nil {
			benchutil.Logf("stop: %v", err)
		}
		files, err := s.files()
		if err != nil {
			return nil, err
		}
		if files != nil {
			if err := b.checkFiles(r, files); err != nil {
				return nil, err
			}
		}
		os.RemoveAll(filepath.Join(b.work, name))
		syscall.Sync() // no write-back of this subject's files during the next one
		if !r.Interfered || attempt >= b.attempts || b.retryLeft() == 0 {
			benchutil.Logf("%s", r.short())
			return r, nil
		}
		b.retrySpent += time.Since(t0)
		benchutil.Logf("other processes used %.2f cores during the run; again: %s", r.OtherCPU/r.WindowSeconds, r.short())
	}
}

func (r *result) short() string {
	return fmt.Sprintf("offered %d (%.0f/s) received %d delivered %d loss %.3f%% kdrops %d qdrops %d CPU %.2fs = %s µs/msg, peak RSS %.1f MiB, settled %.1fs, sender CPU %.2fs, other CPU %.2fs",
		r.Offered, r.SendRate, r.Received, r.Delivered, r.LossPct, r.KernelDrops, r.QueueDrops, r.CPUSeconds, benchutil.FmtPtr(r.CPUUsPerMsg, 3), r.PeakRSSMiB, r.SettleSeconds, r.SenderCPU, r.OtherCPU)
}

// warning says what makes this run's figures doubtful, if anything.
func (r *result) warning() string {
	var w []string
	if r.Interfered {
		w = append(w, fmt.Sprintf("other processes used %.2f cores during the run (attempt %d; --attempts and --retry-budget limit reruns)", r.OtherCPU/r.WindowSeconds, r.Attempts))
	}
	w = append(w, benchutil.SenderWarnings(r.SendRate, r.TargetRate, r.SenderErrors)...)
	if len(w) == 0 {
		return ""
	}
	return fmt.Sprintf("%s at %.0f/s: %s", r.Subject, r.TargetRate, strings.Join(w, "; "))
}

// ---- the header ----

type machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	RmemMax    string `json:"net_core_rmem_max"`
	RmemDef    string `json:"net_core_rmem_default"`
	Root       bool   `json:"root"`
	SenderPin  string `json:"sender_pinned_cpu"`
	Rsyslogd   string `json:"rsyslogd,omitempty"`
	GoVersion  string `json:"go"`
	StartedUTC string `json:"started_utc"`
}

func (b *bench) machine() machine {
	m := machine{CPUs: runtime.NumCPU(), Root: os.Geteuid() == 0, SenderPin: b.pinCPU, GoVersion: runtime.Version(),
		StartedUTC: time.Now().UTC().Format(time.RFC3339)}
	m.CPUModel = benchutil.CPUModel()
	m.Kernel = benchutil.KernelRelease()
	m.RmemMax = benchutil.ReadTrim("/proc/sys/net/core/rmem_max")
	m.RmemDef = benchutil.ReadTrim("/proc/sys/net/core/rmem_default")
	if b.rsyslogd != "" {
		m.Rsyslogd = benchutil.RsyslogdVersion(b.rsyslogd)
	}
	return m
}

func (m machine) print(load string) {
	fmt.Printf("Ingest benchmark, loopback UDP (127.0.0.1), %s\n", load)
	fmt.Printf("Machine: %d CPUs (%s), Linux %s, net.core.rmem_max=%s rmem_default=%s, root=%v (SO_RCVBUFFORCE allowed); %s\n",
		m.CPUs, m.CPUModel, m.Kernel, m.RmemMax, m.RmemDef, m.Root, m.GoVersion)
	if m.SenderPin != "" {
		fmt.Printf("Pinning: the sender runs on CPU %s (taskset -c %s); receivers are not pinned (the scheduler keeps them mostly off the sender's CPU).\n", m.SenderPin, m.SenderPin)
	} else {
		fmt.Printf("Pinning: none.\n")
	}
	if m.Rsyslogd != "" {
		fmt.Printf("Peer: %s\n", m.Rsyslogd)
	}
	fmt.Println("offered: sent by ferry-loadgen; received: taken off the socket by the subject; delivered: reached its output (files: distinct seq found by check --file);")
	fmt.Println("loss = (offered-delivered)/offered; kdrops: kernel receive-buffer drops; qdrops: dropped inside the subject;")
	fmt.Println("CPU/msg: utime+stime of the subject process (all threads) from send start to settled, / received; peak RSS: VmHWM;")
	fmt.Println("snd CPU: the sender's CPU seconds; other: cores used meanwhile by everything else, \"!\" = above --max-other, interfered.")
}

// ---- operating point ----

type pointSummary struct {
	Mode     string             `json:"mode"`
	Rate     float64            `json:"rate"`
	Duration string             `json:"duration"`
	GSO      bool               `json:"gso"`
	Size     int                `json:"size"`
	Machine  machine            `json:"machine"`
	Results  []*result          `json:"results"`
	Ratios   map[string]*ratio  `json:"ratios"`
	Elapsed  float64            `json:"elapsed_seconds"`
	Failures map[string]string  `json:"failures,omitempty"`
	Warnings []string           `json:"warnings,omitempty"`
	Extra    map[string]float64 `json:"-"`
}

// ratio compares subject A with subject B (A/B).
type ratio struct {
	A          string   `json:"a"`
	B          string   `json:"b"`
	CPURatio   *float64 `json:"cpu_per_msg_ratio"`
	LossPctA   float64  `json:"loss_pct_a"`
	LossPctB   float64  `json:"loss_pct_b"`
	LossRatio  *float64 `json:"loss_ratio"` // null when B lost nothing
	RSSRatio   float64  `json:"peak_rss_ratio"`
	cpuOnlyRow bool
}

func (b *bench) runPoint(rate float64, dur time.Duration, gso bool, only, jsonOut string) error {
	start := time.Now()
	type sub struct {
		name  string
		start func() (subject, error)
		peer  bool
	}
	subs := []sub{
		{"floor", b.startFloor, false},
		{"ferry-discard", func() (subject, error) { return b.startFerry("ferry-discard", "discard") }, false},
		{"ferry-file", func() (subject, error) { return b.startFerry("ferry-file", "file") }, false},
		{"rsyslog-def-file", func() (subject, error) { return b.startRsyslog("rsyslog-def-file", false, "file") }, true},
		{"rsyslog-tun-file", func() (subject, error) { return b.startRsyslog("rsyslog-tun-file", true, "file") }, true},
		{"rsyslog-def-discard", func() (subject, error) { return b.startRsyslog("rsyslog-def-discard", false, "discard") }, true},
		{"rsyslog-tun-discard", func() (subject, error) { return b.startRsyslog("rsyslog-tun-discard", true, "discard") }, true},
	}
	want := map[string]bool{}
	for n := range strings.SplitSeq(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	sum := pointSummary{Mode: "operating-point", Rate: rate, Duration: dur.String(), GSO: gso, Size: b.size, Machine: b.machine(),
		Ratios: map[string]*ratio{}, Failures: map[string]string{}}
	byName := map[string]*result{}
	for _, s := range subs {
		if (len(want) > 0 && !want[s.name]) || (s.peer && b.rsyslogd == "") {
			continue
		}
		r, err := b.runOnce(s.name, s.start, rate, dur, gso)
		if err != nil {
			// One subject failing (say, ferryd mid-edit) must not hide the others.
			fmt.Fprintf(os.Stderr, "ingestbench: %s failed: %v\n", s.name, err)
			sum.Failures[s.name] = err.Error()
			procs.KillAll()
			continue
		}
		sum.Results = append(sum.Results, r)
		byName[s.name] = r
	}
	addRatio := func(key, a, b string) {
		ra, rb := byName[a], byName[b]
		if ra == nil || rb == nil {
			return
		}
		x := &ratio{A: a, B: b, LossPctA: ra.LossPct, LossPctB: rb.LossPct}
		if ra.CPUUsPerMsg != nil && rb.CPUUsPerMsg != nil && *rb.CPUUsPerMsg > 0 {
			v := *ra.CPUUsPerMsg / *rb.CPUUsPerMsg
			x.CPURatio = &v
		}
		if rb.LossPct > 0 {
			v := ra.LossPct / rb.LossPct
			x.LossRatio = &v
		}
		if rb.PeakRSSMiB > 0 {
			x.RSSRatio = ra.PeakRSSMiB / rb.PeakRSSMiB
		}
		sum.Ratios[key] = x
	}
	addRatio("ferry_discard/floor", "ferry-discard", "floor")
	addRatio("ferry_file/floor", "ferry-file", "floor")
	addRatio("ferry_file/rsyslog_defaults_file", "ferry-file", "rsyslog-def-file")
	addRatio("ferry_file/rsyslog_tuned_file", "ferry-file", "rsyslog-tun-file")
	addRatio("ferry_discard/rsyslog_defaults_discard", "ferry-discard", "rsyslog-def-discard")
	addRatio("ferry_discard/rsyslog_tuned_discard", "ferry-discard", "rsyslog-tun-discard")
	sum.Elapsed = time.Since(start).Seconds()

	fmt.Println()
	load := fmt.Sprintf("%d-byte RFC 5424 messages at %.0f/s for %s from one sender (sendmmsg x64%s).", b.size, rate, dur, map[bool]string{true: ", UDP GSO", false: ", no GSO"}[gso])
	sum.Machine.print(load)
	fmt.Println()
	printTable(sum.Results)
	fmt.Println()
	fmt.Println("Ratios (A/B):")
	fmt.Printf("  %-42s %10s %10s %10s %10s %9s\n", "", "CPU/msg", "loss% A", "loss% B", "loss A/B", "RSS A/B")
	for _, k := range []string{"ferry_discard/floor", "ferry_file/floor", "ferry_file/rsyslog_defaults_file", "ferry_file/rsyslog_tuned_file",
		"ferry_discard/rsyslog_defaults_discard", "ferry_discard/rsyslog_tuned_discard"} {
		x := sum.Ratios[k]
		if x == nil {
			continue
		}
		lr := "-"
		if x.LossRatio != nil {
			lr = fmt.Sprintf("%.2f", *x.LossRatio)
		} else if x.LossPctA == 0 {
			lr = "both 0"
		}
		fmt.Printf("  %-42s %10s %10.3f %10.3f %10s %9.2f\n", k, benchutil.FmtPtr(x.CPURatio, 2), x.LossPctA, x.LossPctB, lr, x.RSSRatio)
	}
	fmt.Println()
	fmt.Println("Set-ups (every rsyslogd also has global(workDirectory=... net.enableDNS=\"off\") and impstats every 1 s to a file, read for its counters):")
	for _, r := range sum.Results {
		fmt.Printf("  %-20s %s\n", r.Subject, r.Setup)
	}
	for _, r := range sum.Results {
		if w := r.warning(); w != "" {
			sum.Warnings = append(sum.Warnings, w)
		}
	}
	benchutil.PrintEnd(sum.Warnings, sum.Failures, sum.Elapsed)
	return benchutil.WriteJSON(sum, jsonOut)
}

func printTable(rs []*result) {
	fmt.Printf("%-20s %8s %9s %9s %9s %9s %8s %8s %8s %11s %8s %8s %9s %7s %6s\n",
		"subject", "rate", "offered", "received", "delivered", "lost", "loss%", "kdrops", "qdrops", "miss/dup", "CPU s", "µs/msg", "RSS MiB", "snd CPU", "other")
	for _, r := range rs {
		md := "-"
		if r.Missing != nil {
			md = fmt.Sprintf("%d/%d", *r.Missing, *r.Duplicates)
		}
		other := fmt.Sprintf("%.2f", max(0, r.OtherCPU/r.WindowSeconds))
		if r.Interfered {
			other += "!"
		}
		fmt.Printf("%-20s %8.0f %9d %9d %9d %9d %8.3f %8d %8d %11s %8.2f %8s %9.1f %7.2f %6s\n",
			r.Subject, r.SendRate, r.Offered, r.Received, r.Delivered, r.Lost, r.LossPct, r.KernelDrops, r.QueueDrops, md,
			r.CPUSeconds, benchutil.FmtPtr(r.CPUUsPerMsg, 3), r.PeakRSSMiB, r.SenderCPU, other)
	}
}

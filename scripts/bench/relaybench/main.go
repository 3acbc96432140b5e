// Command relaybench measures Ferry's node-to-node relay end to end against
// rsyslog's plain forwarding path, on loopback, with ferry-loadgen as the
// sender. Run it through scripts/bench/relay.sh, which builds ferryd,
// ferry-loadgen and this program from the tree.
//
// Paths, each fed the same load (500-byte RFC 5424 messages over UDP from one
// ferry-loadgen sender at a fixed rate; all traffic on 127.0.0.1):
//
//	ferry    edge ferryd (syslog.open udp1 ... udp) -> its base "core" (a 2 GiB
//	         spool, defaults otherwise) -> relay over mutual TLS -> core ferryd
//	         (forwarder.listen: intake spool) -> route relay -> discard output.
//	         Each node has its own fresh data dir; the edge got its client
//	         certificate and truststore from the core by the documented
//	         procedure (certs.issue, certs.exportCa, keystore.register).
//	rsyslog  rsyslogd A (imudp) -> omfwd protocol tcp -> rsyslogd B (imtcp) ->
//	         `stop`: rsyslog's plain path with its defaults (no TLS, no
//	         compression, no disk queue), run after the Ferry nodes stopped.
//
// Before its operating point each path gets --warmup (3 s) of the same load,
// not measured: a fresh process's first seconds (heap growth, new spool
// files, caches) are not its steady state, for either peer.
//
// In both, the link between the two nodes goes through a byte-counting TCP
// proxy inside this program (127.0.0.1, one upstream connection per accepted
// one, a 256 KiB copy loop each way).
//
// Figures of one run ("edge" is Ferry's edge or rsyslogd A, "core" is
// Ferry's core or rsyslogd B):
//
//	sent       messages ferry-loadgen sent (its own count)
//	received   messages the edge took off its UDP socket: syslog.servers'
//	           received of udp1; rsyslogd A's impstats imudp submitted
//	arrived    messages that reached the core's sink: events_in of the core's
//	           discard output (forwarder.outputs --json); rsyslogd B's impstats
//	           imtcp submitted (B parses, then `stop` drops them)
//	loss       (sent - arrived) / sent
//	kdrops     kernel drops on the edge's UDP socket: Ferry's dropped_kernel;
//	           for rsyslog the socket's drops in /proc/net/udp
//	qdrops     dropped inside the nodes: Ferry's edge dropped_queue +
//	           dropped_malformed + its base spool's dropped (full, age,
//	           disk_full, corrupt); rsyslog A's and B's main queue
//	           discarded.full + discarded.nf
//	dups       Ferry's core: duplicates_suppressed of the relay listener
//	wire B/ev  bytes the edge sent to the core through the proxy (TLS records
//	           included: hello, batches, pings) / arrived; "ack B/ev" the
//	           bytes back / arrived; compression = message size / wire B/ev.
//	           ferry-loadgen's messages are one fixed line whose only change
//	           is ten sequence digits (padded with a-z), so this compression is
//	           far above what real logs give: it shows the relay compresses,
//	           not by how much it would on a network's own traffic
//	µs/msg     utime+stime of the node's process, all threads (/proc/PID/stat
//	           fields 14+15), from just before the sender starts until the
//	           counters settled, divided by received (edge) or arrived (core)
//	RSS        VmHWM of the node's process at the end of the run (its peak
//	           over its whole life so far, start-up and earlier runs included)
//	snd CPU    ferry-loadgen's CPU seconds (rusage)
//	bench CPU  this program's CPU seconds over the run: the proxy's copying
//	           and the status polls
//	other      cores used over the run by everything else on the machine
//	           (busy time from /proc/stat minus the nodes, the sender and
//	           this program); "!" when above --max-other
//
// "Settled" means the counters unchanged for 1 s (rsyslog: 2.5 s, two
// impstats emissions) with nothing waiting: for Ferry the edge's base spool
// has 0 events queued, the core's intake 0, the edge's UDP receive queue is
// empty; for rsyslog both main queues and A's UDP receive queue are empty.
//
// Ratios: Ferry edge µs/msg ÷ rsyslogd A's (target ≤ 1), core ÷ B,
// loss% Ferry vs rsyslog, RSS and wire bytes per event Ferry ÷ rsyslog.
//
// --ceiling adds Ferry's highest loss-free rate: the same two nodes take
// --rates in turn (--step-duration each, GSO sender), figures per step as
// deltas, stopping at the first step with any loss (arrived < sent, or any
// kdrops or qdrops).
//
// Drain (unless --no-drain): the core is stopped (SIGTERM); --backlog event
// bytes (default 1 GiB: ceil(backlog / size) messages) are sent to the edge's
// tcp receiver (newline framing, ferry-loadgen send --tcp at --backlog-rate)
// and the bench waits until the edge's base shows them queued
// (forwarder.bases --json, spool.events_queued). Then the core is started
// again on its data dir and the bench polls both nodes every 100 ms until the
// edge's queue is 0 and the core's discard (a fresh counter) has counted at
// least what was queued. drain events/s = arrived / (done - the first byte
// the proxy forwarded to the restarted core); "core start -> done" adds the
// core's start-up and the edge's reconnect (its backoff reaches 10 s).
// multiple = drain events/s ÷ --rate (target ≥ 3). VmRSS of both nodes is
// sampled every 200 ms from the core's start to done: max and final (target
// < 200 MiB and flat); for the edge also its VmRSS when the drain started.
//
// The last line of stdout is a JSON summary of all of it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/internal/units"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

type bench struct {
	ferryd, loadgen, rsyslogd string
	work                      string
	logLevel                  string
	pinCPU                    string
	size                      int
	maxOther                  float64
	quietWait                 time.Duration
	// startHook, if set, learns of each ferryd as soon as it is started.
	startHook func(*procs.Proc)
}

func main() {
	var (
		b            bench
		rate         = flag.Float64("rate", 100000, "messages/s of the operating point (and the drain's reference)")
		dur          = flag.Duration("duration", 10*time.Second, "send time of the operating point")
		gso          = flag.Bool("gso", false, "operating point: GSO sender (the ceiling always uses GSO)")
		warmup       = flag.Duration("warmup", 3*time.Second, "operating point: send this long at the rate first, unmeasured, to each path (0: none)")
		ceiling      = flag.Bool("ceiling", false, "also step Ferry through --rates to its highest loss-free rate")
		rates        = flag.String("rates", "100k,150k,200k,300k,400k,500k,600k,800k", "ceiling: rates to step through, stopping at the first with loss")
		stepDur      = flag.Duration("step-duration", 5*time.Second, "ceiling: send time per rate")
		backlog      = flag.String("backlog", "1GiB", "drain: event bytes queued on the edge while the core is down")
		backlogRate  = flag.Float64("backlog-rate", 100000, "drain: messages/s of the TCP sender that fills the backlog")
		noDrain      = flag.Bool("no-drain", false, "skip the drain")
		pin          = flag.String("pin", "auto", `sender's CPU for taskset: "auto" (the last CPU, if taskset is there and there are 2+), a number, or "none"`)
		jsonOut      = flag.String("json", "", "also write the JSON summary to this file")
		work         = flag.String("work", "", "scratch directory (default: a new temp dir, removed at the end)")
		keep         = flag.Bool("keep", false, "keep the scratch directory (data dirs, logs) at the end")
		ferrydFlag   = flag.String("ferryd", "ferryd", "ferryd binary")
		loadgenFlag  = flag.String("loadgen", "ferry-loadgen", "ferry-loadgen binary")
		rsyslogdFlag = flag.String("rsyslogd", "/usr/sbin/rsyslogd", `rsyslogd binary ("" skips rsyslog)`)
		removeWork   = false
	)
	flag.IntVar(&b.size, "size", 500, "bytes per message")
	flag.StringVar(&b.logLevel, "log-level", "info", "ferryd --log-level")
	flag.Float64Var(&b.maxOther, "max-other", 0.3, "CPU cores other processes may use during a run before it is flagged as interfered with")
	flag.DurationVar(&b.quietWait, "quiet-wait", 60*time.Second, "before each run, wait up to this long for other processes to use less than --max-other")
	flag.Parse()
	b.ferryd, b.loadgen = benchutil.Abs(*ferrydFlag), benchutil.Abs(*loadgenFlag)
	if *rsyslogdFlag != "" {
		if _, err := os.Stat(*rsyslogdFlag); err != nil {
			fmt.Fprintf(os.Stderr, "relaybench: %s not found; skipping rsyslog\n", *rsyslogdFlag)
		} else {
			b.rsyslogd = *rsyslogdFlag
		}
	}
	backlogBytes, err := units.ParseBytes(*backlog)
	if err != nil || backlogBytes <= 0 {
		fatal(fmt.Errorf("--backlog %q: %v", *backlog, err))
	}
	if b.work, removeWork, err = benchutil.WorkDir(*work, "relaybench-"); err != nil {
		fatal(err)
	}
	cleanup := func() {
		procs.KillAll()
		if removeWork && !*keep {
			os.RemoveAll(b.work)
		} else if *keep {
			fmt.Fprintf(os.Stderr, "relaybench: kept %s\n", b.work)
		}
	}
	benchutil.OnSignal("relaybench", func() {
		interrupted.Store(true)
		cleanup()
	})
	if b.pinCPU, err = benchutil.PinChoice(*pin); err != nil {
		fatal(err)
	}
	steps, err := benchutil.ParseRates(*rates)
	if err != nil {
		fatal(err)
	}
	cfg := runConfig{rate: *rate, dur: *dur, warmup: *warmup, gso: *gso, ceiling: *ceiling, rates: steps, step: *stepDur,
		backlogBytes: backlogBytes, backlogRate: *backlogRate, drain: !*noDrain, jsonOut: *jsonOut, backlogArg: *backlog}
	err = b.run(cfg)
	cleanup()
	if err != nil {
		fatal(err)
	}
}

// warm sends cfg.warmup at the rate to p, unmeasured, so that neither path
// is measured while it still grows its heap, caches and files (a fresh
// ferryd's first seconds cost up to twice the steady state per message).
func (b *bench) warm(p path, cfg runConfig) {
	if cfg.warmup <= 0 {
		return
	}
	benchutil.Logf("warming up: %.0f/s for %s, not measured", cfg.rate, cfg.warmup)
	if _, _, err := b.sendUDP(p.udpPort(), cfg.rate, cfg.warmup, cfg.gso); err != nil {
		benchutil.Logf("warm-up: %v (measuring anyway)", err)
	}
}

// interrupted is set when a signal stops the bench: the processes it kills
// then make the run fail, which is no finding to report.
var interrupted atomic.Bool

// waitIfInterrupted blocks while the signal handler cleans up and exits.
func waitIfInterrupted() {
	if interrupted.Load() {
		select {}
	}
}

func fatal(err error) {
	waitIfInterrupted()
	fmt.Fprintln(os.Stderr, "relaybench:", err)
	procs.KillAll()
	os.Exit(1)
}

// ---- sending ----

// send runs ferry-loadgen send with args (target, rate, count or duration)
// and returns its report and its CPU seconds.
func (b *bench) send(limit time.Duration, args ...string) (benchutil.SendReport, float64, error) {
	return benchutil.Send(b.pinCPU, limit, append([]string{b.loadgen, "send", "--size", strconv.Itoa(b.size)}, args...)...)
}

func (b *bench) sendUDP(port int, rate float64, dur time.Duration, gso bool) (benchutil.SendReport, float64, error) {
	args := []string{"--udp", addr(port), "--rate", strconv.FormatFloat(rate, 'f', 0, 64), "--duration", dur.String()}
	if gso {
		args = append(args, "--gso")
	}
	return b.send(dur+time.Minute, args...)
}

// quiet waits for the rest of the machine to calm down before a run.
func (b *bench) quiet() {
	waited, load := procs.WaitQuiet(b.maxOther, b.quietWait)
	if waited > 1500*time.Millisecond {
		if load < b.maxOther {
			benchutil.Logf("waited %s for other processes to use < %.2f cores", waited.Round(time.Second), b.maxOther)
		} else {
			benchutil.Logf("other processes still use %.2f cores after %s; measuring anyway", load, waited.Round(time.Second))
		}
	}
}

// ---- one measured run ----

// result is one path at one rate.
type result struct {
	Path           string   `json:"path"`
	Phase          string   `json:"phase"` // operating-point or ceiling
	TargetRate     float64  `json:"target_rate"`
	GSO            bool     `json:"gso"`
	Seconds        float64  `json:"send_seconds"`
	Sent           uint64   `json:"sent"`
	SendRate       float64  `json:"send_rate"`
	SenderErrors   uint64   `json:"sender_errors"`
	LoadgenCPU     float64  `json:"sender_cpu_seconds"`
	Received       uint64   `json:"received"`
	Arrived        uint64   `json:"arrived"`
	Lost           int64    `json:"lost"`
	LossPct        float64  `json:"loss_pct"`
	KernelDrops    uint64   `json:"kernel_drops"`
	QueueDrops     uint64   `json:"queue_drops"`
	Duplicates     uint64   `json:"duplicates_suppressed"`
	WireUp         uint64   `json:"wire_bytes_edge_to_core"`
	WireDown       uint64   `json:"wire_bytes_core_to_edge"`
	WirePerEvent   *float64 `json:"wire_bytes_per_event"`
	AckPerEvent    *float64 `json:"ack_bytes_per_event"`
	Compression    *float64 `json:"compression"`
	EdgeCPU        float64  `json:"edge_cpu_seconds"`
	EdgeCPUPerMsg  *float64 `json:"edge_cpu_us_per_msg"`
	CoreCPU        float64  `json:"core_cpu_seconds"`
	CoreCPUPerMsg  *float64 `json:"core_cpu_us_per_msg"`
	EdgePeakRSSMiB float64  `json:"edge_peak_rss_mib"`
	CorePeakRSSMiB float64  `json:"core_peak_rss_mib"`
	BenchCPU       float64  `json:"bench_cpu_seconds"`
	OtherCPU       float64  `json:"other_cpu_seconds"`
	WindowSeconds  float64  `json:"window_seconds"`
	SettleSeconds  float64  `json:"settle_seconds"`
	ProcUDPDrops   uint64   `json:"proc_net_udp_drops"`
	Interfered     bool     `json:"interfered"`
	LossFree       bool     `json:"loss_free"`
	SettleError    string   `json:"settle_error,omitempty"`
}

func ratioOf(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	v := a / b
	return &v
}

// measure sends one load into a running path and reads what became of it.
// The figures are deltas, so one path can take several loads in turn.
func (b *bench) measure(p path, phase string, rate float64, dur time.Duration, gso bool) (*result, error) {
	edgePID, corePID := p.nodes()
	c0, err := p.snapshot()
	if err != nil {
		return nil, err
	}
	u0, _ := procs.UDPPort(p.udpPort())
	up0, down0 := p.link().counts()
	e0, _ := procs.Sample(edgePID)
	k0, _ := procs.Sample(corePID)
	idle0, _ := procs.MachineTicks()
	self0 := procs.SelfTicks()
	t0 := time.Now()
	sent, loadCPU, err := b.sendUDP(p.udpPort(), rate, dur, gso)
	if err != nil {
		return nil, err
	}
	sendEnd := time.Now()
	var c1 pathCounters
	_, serr := procs.Settle(p.stable(), 120*time.Second, func() (string, bool, error) {
		c, err := p.snapshot()
		if err != nil {
			return "", false, err
		}
		c1 = c
		return c.key, c.idle, nil
	})
	settled := time.Since(sendEnd)
	e1, _ := procs.Sample(edgePID)
	k1, _ := procs.Sample(corePID)
	idle1, _ := procs.MachineTicks()
	self1 := procs.SelfTicks()
	u1, _ := procs.UDPPort(p.udpPort())
	up1, down1 := p.link().counts()
	window := time.Since(t0)
	if serr != nil {
		// Keep the figures (a wedge is a result too), but say so.
		benchutil.Logf("%s: %v", p.name(), serr)
		if c1.key == "" {
			return nil, serr
		}
	}
	r := &result{Path: p.name(), Phase: phase, TargetRate: rate, GSO: gso, Seconds: sent.Seconds, Sent: sent.Sent, SendRate: sent.Rate,
		SenderErrors: sent.Errors, LoadgenCPU: loadCPU, SettleSeconds: settled.Seconds(), WindowSeconds: window.Seconds()}
	if serr != nil {
		r.SettleError = serr.Error()
	}
	r.Received = c1.received - c0.received
	r.Arrived = c1.arrived - c0.arrived
	r.QueueDrops = c1.queue - c0.queue
	r.Duplicates = c1.dups - c0.dups
	r.ProcUDPDrops = u1.Drops - min(u0.Drops, u1.Drops)
	if p.name() == "rsyslog" {
		r.KernelDrops = r.ProcUDPDrops // rsyslog does not count them itself
	} else {
		r.KernelDrops = c1.kernel - c0.kernel
	}
	r.WireUp, r.WireDown = up1-up0, down1-down0
	r.WirePerEvent = ratioOf(float64(r.WireUp), float64(r.Arrived))
	r.AckPerEvent = ratioOf(float64(r.WireDown), float64(r.Arrived))
	if r.WirePerEvent != nil {
		r.Compression = ratioOf(float64(b.size), *r.WirePerEvent)
	}
	r.EdgeCPU = float64(e1.Ticks-e0.Ticks) / procs.UserHZ
	r.CoreCPU = float64(k1.Ticks-k0.Ticks) / procs.UserHZ
	if r.Received > 0 {
		v := r.EdgeCPU * 1e6 / float64(r.Received)
		r.EdgeCPUPerMsg = &v
	}
	if r.Arrived > 0 {
		v := r.CoreCPU * 1e6 / float64(r.Arrived)
		r.CoreCPUPerMsg = &v
	}
	r.EdgePeakRSSMiB, r.CorePeakRSSMiB = float64(e1.HWMKB)/1024, float64(k1.HWMKB)/1024
	r.BenchCPU = float64(self1-self0) / procs.UserHZ
	r.OtherCPU = procs.BusySeconds(idle0, idle1, window) - r.EdgeCPU - r.CoreCPU - loadCPU - r.BenchCPU
	r.Interfered = r.OtherCPU > b.maxOther*r.WindowSeconds
	r.Lost = int64(r.Sent) - int64(r.Arrived)
	if r.Sent > 0 {
		r.LossPct = 100 * float64(r.Lost) / float64(r.Sent)
	}
	r.LossFree = r.Sent > 0 && r.Arrived >= r.Sent && r.KernelDrops == 0 && r.QueueDrops == 0 && serr == nil
	return r, nil
}

func (r *result) short() string {
	return fmt.Sprintf("sent %d (%.0f/s) received %d arrived %d loss %.3f%% kdrops %d qdrops %d dups %d, wire %s B/ev, edge %s µs/msg, core %s µs/msg, RSS %.0f/%.0f MiB, settled %.1fs, other CPU %.2fs",
		r.Sent, r.SendRate, r.Received, r.Arrived, r.LossPct, r.KernelDrops, r.QueueDrops, r.Duplicates, benchutil.FmtPtr(r.WirePerEvent, 1),
		benchutil.FmtPtr(r.EdgeCPUPerMsg, 3), benchutil.FmtPtr(r.CoreCPUPerMsg, 3), r.EdgePeakRSSMiB, r.CorePeakRSSMiB, r.SettleSeconds, r.OtherCPU)
}

// warning says what makes this run's figures doubtful, if anything.
func (r *result) warning() string {
	var w []string
	if r.Interfered {
		w = append(w, fmt.Sprintf("other processes used %.2f cores during the run", r.OtherCPU/r.WindowSeconds))
	}
	w = append(w, benchutil.SenderWarnings(r.SendRate, r.TargetRate, r.SenderErrors)...)
	if r.SettleError != "" {
		w = append(w, "did not settle: "+r.SettleError)
	}
	if len(w) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s at %.0f/s: %s", r.Path, r.Phase, r.TargetRate, strings.Join(w, "; "))
}

// ---- the run ----

type runConfig struct {
	rate         float64
	dur          time.Duration
	warmup       time.Duration
	gso          bool
	ceiling      bool
	rates        []float64
	step         time.Duration
	backlogBytes int64
	backlogArg   string
	backlogRate  float64
	drain        bool
	jsonOut      string
}

type machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	SenderPin  string `json:"sender_pinned_cpu"`
	Ferryd     string `json:"ferryd"`
	Rsyslogd   string `json:"rsyslogd,omitempty"`
	GoVersion  string `json:"go"`
	StartedUTC string `json:"started_utc"`
}

// ratios compares Ferry with rsyslog at the operating point (Ferry ÷ rsyslog).
type ratios struct {
	EdgeCPU      *float64 `json:"edge_cpu_per_msg_ferry/rsyslog_a"`
	CoreCPU      *float64 `json:"core_cpu_per_msg_ferry/rsyslog_b"`
	LossPctFerry float64  `json:"loss_pct_ferry"`
	LossPctRsys  float64  `json:"loss_pct_rsyslog"`
	LossRatio    *float64 `json:"loss_ratio"` // null when rsyslog lost nothing
	EdgeRSS      *float64 `json:"edge_peak_rss_ferry/rsyslog_a"`
	CoreRSS      *float64 `json:"core_peak_rss_ferry/rsyslog_b"`
	Wire         *float64 `json:"wire_bytes_per_event_ferry/rsyslog"`
	EdgeTargetOK *bool    `json:"edge_cpu_target_met"` // ≤ 1
}

type summary struct {
	Mode        string            `json:"mode"`
	Rate        float64           `json:"rate"`
	Duration    string            `json:"duration"`
	GSO         bool              `json:"gso"`
	Size        int               `json:"size"`
	Machine     machine           `json:"machine"`
	Ferry       *result           `json:"ferry"`
	Rsyslog     *result           `json:"rsyslog,omitempty"`
	Ratios      *ratios           `json:"ratios,omitempty"`
	Ceiling     []*result         `json:"ceiling,omitempty"`
	CeilingRate *float64          `json:"ferry_highest_loss_free_rate,omitempty"`
	CeilingNote string            `json:"ceiling_note,omitempty"`
	Drain       *drainResult      `json:"drain,omitempty"`
	Setups      map[string]string `json:"setups"`
	Warnings    []string          `json:"warnings,omitempty"`
	Failures    map[string]string `json:"failures,omitempty"`
	ElapsedSecs float64           `json:"elapsed_seconds"`
	RsyslogNote string            `json:"rsyslog_note,omitempty"`
}

func (b *bench) machine() machine {
	m := machine{CPUs: runtime.NumCPU(), SenderPin: b.pinCPU, GoVersion: runtime.Version(), StartedUTC: time.Now().UTC().Format(time.RFC3339)}
	m.CPUModel = benchutil.CPUModel()
	m.Kernel = benchutil.KernelRelease()
	if b.rsyslogd != "" {
		m.Rsyslogd = benchutil.RsyslogdVersion(b.rsyslogd)
	}
	return m
}

func (b *bench) run(cfg runConfig) error {
	start := time.Now()
	sum := &summary{Mode: "relay", Rate: cfg.rate, Duration: cfg.dur.String(), GSO: cfg.gso, Size: b.size, Machine: b.machine(),
		Setups: map[string]string{}, Failures: map[string]string{}}

	fmt.Fprintf(os.Stderr, "== ferry: starting core, proxy and edge\n")
	t0 := time.Now()
	fp, err := b.startFerryPath()
	if err != nil {
		return fmt.Errorf("ferry set-up: %w", err)
	}
	sum.Machine.Ferryd = fp.version()
	sum.Setups["ferry"] = fp.describe()
	benchutil.Logf("ready in %s: %s", time.Since(t0).Round(time.Millisecond), fp.describe())
	failFerry := func(what string, err error) {
		waitIfInterrupted()
		msg := err.Error()
		fmt.Fprintf(os.Stderr, "relaybench: ferry %s failed: %v\n", what, err)
		fmt.Fprintf(os.Stderr, "edge log:\n%s\ncore log:\n%s\n", fp.edge.logTail(40), fp.core.logTail(40))
		sum.Failures["ferry "+what] = msg
	}

	fmt.Fprintf(os.Stderr, "== ferry: %.0f/s for %s\n", cfg.rate, cfg.dur)
	b.warm(fp, cfg)
	b.quiet()
	if r, err := b.measure(fp, "operating-point", cfg.rate, cfg.dur, cfg.gso); err != nil {
		failFerry("operating point", err)
	} else {
		benchutil.Logf("%s", r.short())
		sum.Ferry = r
	}

	if cfg.ceiling && len(sum.Failures) == 0 {
		fmt.Fprintf(os.Stderr, "== ferry ceiling: GSO sender, %s per rate, up to the first rate with loss\n", cfg.step)
		for _, rate := range cfg.rates {
			b.quiet()
			r, err := b.measure(fp, "ceiling", rate, cfg.step, true)
			if err != nil {
				failFerry("ceiling", err)
				break
			}
			benchutil.Logf("%.0f/s: %s", rate, r.short())
			sum.Ceiling = append(sum.Ceiling, r)
			if !r.LossFree {
				break
			}
			v := rate
			sum.CeilingRate = &v
		}
		if n := len(sum.Ceiling); n > 0 && sum.Ceiling[n-1].LossFree {
			sum.CeilingNote = "no rate tested lost anything: the ceiling is above the highest rate of --rates"
		}
		if n := len(sum.Ceiling); n > 0 && sum.Ceiling[n-1].SendRate < 0.98*sum.Ceiling[n-1].TargetRate {
			sum.CeilingNote += fmt.Sprintf(" (the last step's sender reached only %.0f/s)", sum.Ceiling[n-1].SendRate)
		}
	}

	if cfg.drain && len(sum.Failures) == 0 {
		events := (cfg.backlogBytes + int64(b.size) - 1) / int64(b.size)
		fmt.Fprintf(os.Stderr, "== ferry drain: %d messages (%s of event bytes) queued on the edge with the core down\n", events, cfg.backlogArg)
		d, err := b.runDrain(fp, uint64(events), cfg.backlogBytes, cfg.backlogRate, cfg.rate)
		if d != nil {
			sum.Drain = d
		}
		if err != nil {
			failFerry("drain", err)
		}
	}
	if err := fp.edge.stop(); err != nil {
		benchutil.Logf("edge stop: %v", err)
	}
	if err := fp.core.stop(); err != nil {
		benchutil.Logf("core stop: %v", err)
	}
	fp.px.close()

	if b.rsyslogd != "" {
		fmt.Fprintf(os.Stderr, "== rsyslog: A (imudp -> omfwd tcp) -> B (imtcp -> stop), %.0f/s for %s\n", cfg.rate, cfg.dur)
		rp, err := b.startRsyslogPath()
		if err != nil {
			waitIfInterrupted()
			fmt.Fprintf(os.Stderr, "relaybench: rsyslog set-up failed: %v\n", err)
			sum.Failures["rsyslog"] = err.Error()
		} else {
			sum.Setups["rsyslog"] = rp.describe()
			b.warm(rp, cfg)
			b.quiet()
			r, err := b.measure(rp, "operating-point", cfg.rate, cfg.dur, cfg.gso)
			if err != nil {
				waitIfInterrupted()
				fmt.Fprintf(os.Stderr, "relaybench: rsyslog failed: %v\n", err)
				sum.Failures["rsyslog"] = err.Error()
			} else {
				benchutil.Logf("%s", r.short())
				sum.Rsyslog = r
			}
			rp.stop()
		}
	} else {
		sum.RsyslogNote = "rsyslogd not found or --rsyslogd \"\": no rsyslog comparison"
	}
	if f, r := sum.Ferry, sum.Rsyslog; f != nil && r != nil {
		x := &ratios{LossPctFerry: f.LossPct, LossPctRsys: r.LossPct}
		if f.EdgeCPUPerMsg != nil && r.EdgeCPUPerMsg != nil {
			x.EdgeCPU = ratioOf(*f.EdgeCPUPerMsg, *r.EdgeCPUPerMsg)
			if x.EdgeCPU != nil {
				ok := *x.EdgeCPU <= 1
				x.EdgeTargetOK = &ok
			}
		}
		if f.CoreCPUPerMsg != nil && r.CoreCPUPerMsg != nil {
			x.CoreCPU = ratioOf(*f.CoreCPUPerMsg, *r.CoreCPUPerMsg)
		}
		if r.LossPct > 0 {
			x.LossRatio = ratioOf(f.LossPct, r.LossPct)
		}
		x.EdgeRSS = ratioOf(f.EdgePeakRSSMiB, r.EdgePeakRSSMiB)
		x.CoreRSS = ratioOf(f.CorePeakRSSMiB, r.CorePeakRSSMiB)
		if f.WirePerEvent != nil && r.WirePerEvent != nil {
			x.Wire = ratioOf(*f.WirePerEvent, *r.WirePerEvent)
		}
		sum.Ratios = x
	}
	for _, r := range append([]*result{sum.Ferry, sum.Rsyslog}, sum.Ceiling...) {
		if r != nil {
			if w := r.warning(); w != "" {
				sum.Warnings = append(sum.Warnings, w)
			}
		}
	}
	if d := sum.Drain; d != nil {
		sum.Warnings = append(sum.Warnings, d.Warnings...)
	}
	sum.ElapsedSecs = time.Since(start).Seconds()
	b.print(sum, cfg)
	if err := benchutil.WriteJSON(sum, cfg.jsonOut); err != nil {
		return err
	}
	if len(sum.Failures) > 0 {
		return errors.New("some parts failed (see FAILED above)")
	}
	return nil
}

// ---- the report ----

func (b *bench) print(sum *summary, cfg runConfig) {
	m := sum.Machine
	fmt.Println()
	fmt.Printf("Relay benchmark, loopback (127.0.0.1): %d-byte RFC 5424 messages over UDP at %.0f/s for %s from one sender (sendmmsg x64%s).\n",
		b.size, cfg.rate, cfg.dur, map[bool]string{true: ", UDP GSO", false: ", no GSO"}[cfg.gso])
	fmt.Printf("Machine: %d CPUs (%s), Linux %s; %s; ferryd %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Ferryd)
	if m.SenderPin != "" {
		fmt.Printf("Pinning: the sender runs on CPU %s (taskset); the nodes and this program (the proxy) are not pinned.\n", m.SenderPin)
	}
	if m.Rsyslogd != "" {
		fmt.Printf("Peer: %s\n", m.Rsyslogd)
	}
	fmt.Println("edge = Ferry's edge / rsyslogd A (UDP in); core = Ferry's core / rsyslogd B (the sink). received: taken off the edge's socket;")
	fmt.Println("arrived: counted at the core's sink; loss = (sent-arrived)/sent; kdrops: kernel drops at the edge's socket; qdrops: dropped inside")
	fmt.Println("the nodes; wire B/ev: bytes edge -> core through the proxy / arrived (ack: core -> edge); comp = message size / wire B/ev;")
	fmt.Println("µs/msg: utime+stime of the node (all threads) from send start to settled / received (edge) or arrived (core); RSS: VmHWM;")
	fmt.Println("snd: the sender's CPU s; bench: this program's (proxy, polls); other: cores used by everything else, \"!\" above --max-other.")
	fmt.Println("(ferry-loadgen's messages differ only in ten digits: comp is far above what real logs give.)")
	fmt.Println()
	rows := []*result{}
	for _, r := range []*result{sum.Ferry, sum.Rsyslog} {
		if r != nil {
			rows = append(rows, r)
		}
	}
	rows = append(rows, sum.Ceiling...)
	fmt.Printf("%-17s %8s %9s %9s %9s %8s %8s %7s %7s %5s %7s %6s %5s %8s %8s %7s %7s %5s %5s %6s\n",
		"path", "rate", "sent", "received", "arrived", "lost", "loss%", "kdrops", "qdrops", "dups", "wireB/ev", "ackB/e", "comp",
		"edge µs", "core µs", "edgeRSS", "coreRSS", "snd", "bench", "other")
	for _, r := range rows {
		label := r.Path
		if r.Phase == "ceiling" {
			label += " (ceiling)"
		}
		other := fmt.Sprintf("%.2f", max(0, r.OtherCPU/r.WindowSeconds))
		if r.Interfered {
			other += "!"
		}
		fmt.Printf("%-17s %8.0f %9d %9d %9d %8d %8.3f %7d %7d %5d %7s %6s %5s %8s %8s %7.1f %7.1f %5.2f %5.2f %6s\n",
			label, r.SendRate, r.Sent, r.Received, r.Arrived, r.Lost, r.LossPct, r.KernelDrops, r.QueueDrops, r.Duplicates,
			benchutil.FmtPtr(r.WirePerEvent, 1), benchutil.FmtPtr(r.AckPerEvent, 1), benchutil.FmtPtr(r.Compression, 1), benchutil.FmtPtr(r.EdgeCPUPerMsg, 3), benchutil.FmtPtr(r.CoreCPUPerMsg, 3),
			r.EdgePeakRSSMiB, r.CorePeakRSSMiB, r.LoadgenCPU, r.BenchCPU, other)
	}
	if x := sum.Ratios; x != nil {
		fmt.Println()
		fmt.Println("Ferry ÷ rsyslog at the operating point:")
		target := ""
		if x.EdgeTargetOK != nil {
			target = map[bool]string{true: "  (target ≤ 1: met)", false: "  (target ≤ 1: NOT met)"}[*x.EdgeTargetOK]
		}
		fmt.Printf("  edge CPU/msg  Ferry edge ÷ rsyslogd A   %s%s\n", benchutil.FmtPtr(x.EdgeCPU, 2), target)
		fmt.Printf("  core CPU/msg  Ferry core ÷ rsyslogd B   %s\n", benchutil.FmtPtr(x.CoreCPU, 2))
		lr := benchutil.FmtPtr(x.LossRatio, 2)
		if x.LossRatio == nil {
			lr = "- (rsyslog lost nothing)"
		}
		fmt.Printf("  loss          Ferry %.3f%% vs rsyslog %.3f%%  (ratio %s)\n", x.LossPctFerry, x.LossPctRsys, lr)
		fmt.Printf("  peak RSS      edge %s, core %s\n", benchutil.FmtPtr(x.EdgeRSS, 2), benchutil.FmtPtr(x.CoreRSS, 2))
		fmt.Printf("  wire B/ev     %s\n", benchutil.FmtPtr(x.Wire, 3))
	}
	if cfg.ceiling {
		fmt.Println()
		if sum.CeilingRate != nil {
			fmt.Printf("Ferry edge -> core -> discard, highest loss-free rate tested (GSO sender, %s per step): %.0f/s", cfg.step, *sum.CeilingRate)
		} else {
			fmt.Printf("Ferry edge -> core -> discard: no loss-free rate among those tested (GSO sender, %s per step)", cfg.step)
		}
		if sum.CeilingNote != "" {
			fmt.Printf("; %s", sum.CeilingNote)
		}
		fmt.Println()
	}
	if d := sum.Drain; d != nil {
		fmt.Println()
		d.print(cfg.rate)
	}
	fmt.Println()
	fmt.Println("Set-ups (every rsyslogd also has global(workDirectory=... net.enableDNS=\"off\") and impstats every 1 s to a file, read for its counters):")
	for _, k := range []string{"ferry", "rsyslog"} {
		if s, ok := sum.Setups[k]; ok {
			fmt.Printf("  %-8s %s\n", k, s)
		}
	}
	if sum.RsyslogNote != "" {
		fmt.Println("Note:", sum.RsyslogNote)
	}
	benchutil.PrintEnd(sum.Warnings, sum.Failures, sum.ElapsedSecs)
}

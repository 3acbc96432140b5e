package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// drainResult is the drain phase: a backlog queued on the edge while the
// core is down, then the core started again.
type drainResult struct {
	BacklogEvents     uint64  `json:"backlog_events"`
	Size              int     `json:"size"`
	BacklogEventBytes int64   `json:"backlog_event_bytes"`
	FillTargetRate    float64 `json:"fill_target_rate"`
	FillSent          uint64  `json:"fill_sent"`
	FillSeconds       float64 `json:"fill_send_seconds"`
	FillSendRate      float64 `json:"fill_send_rate"`
	FillReceived      uint64  `json:"fill_received"`
	FillDrops         uint64  `json:"fill_drops"`
	FillQueueSeconds  float64 `json:"fill_queue_wait_seconds"`
	Queued            uint64  `json:"queued_before_drain"`
	SpoolBytes        int64   `json:"spool_bytes_before_drain"`
	EdgeRSSFillMaxMiB float64 `json:"edge_rss_max_during_fill_mib"`

	CoreStartSeconds float64 `json:"core_start_seconds"`
	ReconnectSeconds float64 `json:"core_ready_to_first_byte_seconds"`
	DrainSeconds     float64 `json:"drain_seconds"`
	WallSeconds      float64 `json:"core_start_to_done_seconds"`
	Arrived          uint64  `json:"arrived"`
	Duplicates       uint64  `json:"duplicates_suppressed"`
	Resent           uint64  `json:"resent"`
	EventsPerSecond  float64 `json:"events_per_second"`
	WallEventsPerSec float64 `json:"events_per_second_from_core_start"`
	Reference        float64 `json:"reference_rate"`
	Multiple         float64 `json:"multiple_of_reference"`
	MultipleTarget   bool    `json:"multiple_target_met"` // ≥ 3
	WirePerEvent     float64 `json:"wire_bytes_per_event"`
	EdgeCPUPerMsg    float64 `json:"edge_cpu_us_per_msg"`
	CoreCPUPerMsg    float64 `json:"core_cpu_us_per_msg"`

	EdgeRSSStartMiB float64     `json:"edge_rss_at_start_mib"`
	EdgeRSSMaxMiB   float64     `json:"edge_rss_max_mib"`
	EdgeRSSFinalMiB float64     `json:"edge_rss_final_mib"`
	CoreRSSMaxMiB   float64     `json:"core_rss_max_mib"`
	CoreRSSFinalMiB float64     `json:"core_rss_final_mib"`
	CorePeakRSSMiB  float64     `json:"core_vmhwm_mib"`
	RSSTargetMet    bool        `json:"rss_target_met"` // both < 200 MiB
	RSSSamples      int         `json:"rss_samples"`
	RSSSeries       []rssSample `json:"rss_series"` // up to 11 samples, evenly spread over the drain
	Warnings        []string    `json:"warnings,omitempty"`
}

type rssSample struct {
	T       float64 `json:"t"` // seconds since the core's start
	EdgeMiB float64 `json:"edge_mib"`
	CoreMiB float64 `json:"core_mib"`
}

// rssSampler samples VmRSS of the edge and (once it runs) the core every interval.
type rssSampler struct {
	edge    int
	core    atomic.Int64
	t0      time.Time
	stopc   chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []rssSample
}

func startRSSSampler(edge int, every time.Duration) *rssSampler {
	s := &rssSampler{edge: edge, t0: time.Now(), stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) take() {
	var r rssSample
	r.T = time.Since(s.t0).Seconds()
	if ps, err := procs.Sample(s.edge); err == nil {
		r.EdgeMiB = float64(ps.RSSKB) / 1024
	}
	if pid := s.core.Load(); pid != 0 {
		if ps, err := procs.Sample(int(pid)); err == nil {
			r.CoreMiB = float64(ps.RSSKB) / 1024
		}
	}
	s.mu.Lock()
	s.samples = append(s.samples, r)
	s.mu.Unlock()
}

func (s *rssSampler) stop() []rssSample {
	close(s.stopc)
	<-s.done
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rssSample(nil), s.samples...)
}

func (b *bench) runDrain(f *ferryPath, events uint64, eventBytes int64, fillRate, reference float64) (*drainResult, error) {
	d := &drainResult{BacklogEvents: events, Size: b.size, BacklogEventBytes: eventBytes, FillTargetRate: fillRate, Reference: reference}
	e0, err := b.edgeStatus(f.edge)
	if err != nil {
		return nil, err
	}
	if e0.queued() != 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("drain: the edge's base had %d events queued before the core stopped", e0.queued()))
	}
	benchutil.Logf("stopping the core")
	if err := f.core.stop(); err != nil {
		return nil, fmt.Errorf("core stop: %w", err)
	}

	// Fill: TCP into the edge's tcp1 (no UDP loss), while the core is down.
	fill := startRSSSampler(f.edge.p.PID(), 200*time.Millisecond)
	benchutil.Logf("sending %d messages to the edge's tcp receiver at %.0f/s", events, fillRate)
	limit := 2*time.Minute + time.Duration(float64(events)/max(fillRate, 1000)*float64(time.Second))
	rep, _, err := b.send(limit, "--tcp", addr(f.tcp), "--rate", strconv.FormatFloat(fillRate, 'f', 0, 64), "--count", strconv.FormatUint(events, 10))
	if err != nil {
		fill.stop()
		return nil, err
	}
	d.FillSent, d.FillSeconds, d.FillSendRate = rep.Sent, rep.Seconds, rep.Rate
	sendEnd := time.Now()
	var e1 edgeState
	_, err = procs.Settle(time.Second, 5*time.Minute, func() (string, bool, error) {
		s, err := b.edgeStatus(f.edge)
		if err != nil {
			return "", false, err
		}
		e1 = s
		return fmt.Sprint(s.tcp.Received, s.tcp.QueueDrops, s.queued(), s.spoolBytes()), true, nil
	})
	d.FillQueueSeconds = time.Since(sendEnd).Seconds()
	for _, s := range fill.stop() {
		d.EdgeRSSFillMaxMiB = max(d.EdgeRSSFillMaxMiB, s.EdgeMiB)
	}
	if err != nil {
		return d, fmt.Errorf("the edge's queue did not settle: %w", err)
	}
	d.FillReceived = e1.tcp.Received - e0.tcp.Received
	d.FillDrops = (e1.tcp.QueueDrops + e1.tcp.Malformed + e1.spoolDrops()) - (e0.tcp.QueueDrops + e0.tcp.Malformed + e0.spoolDrops())
	d.Queued, d.SpoolBytes = e1.queued(), e1.spoolBytes()
	benchutil.Logf("queued on the edge: %d events, spool %.0f MiB (received %d, dropped %d) after %.1fs", d.Queued, float64(d.SpoolBytes)/(1<<20),
		d.FillReceived, d.FillDrops, d.FillQueueSeconds)
	if d.Queued < events {
		d.Warnings = append(d.Warnings, fmt.Sprintf("drain: only %d of %d backlog events were queued on the edge (received %d, dropped %d)",
			d.Queued, events, d.FillReceived, d.FillDrops))
	}
	if d.Queued == 0 {
		return d, fmt.Errorf("nothing queued on the edge")
	}

	// Drain: start the core again and time until the edge's queue is empty
	// and the core's discard has it all.
	f.px.markFirst()
	up0, _ := f.px.counts()
	edgeTicks0, _ := procs.Sample(f.edge.p.PID())
	rss := startRSSSampler(f.edge.p.PID(), 200*time.Millisecond)
	b.startHook = func(p *procs.Proc) { rss.core.Store(int64(p.PID())) }
	benchutil.Logf("starting the core again")
	t0 := time.Now()
	core, err := b.startNode("core", "", false)
	b.startHook = nil
	if err != nil {
		rss.stop()
		return d, fmt.Errorf("core restart: %w", err)
	}
	f.core = core
	tReady := time.Now()
	d.CoreStartSeconds = tReady.Sub(t0).Seconds()
	var (
		k1       coreState
		eLast    edgeState
		progress = time.Now()
		lastKey  string
		tDone    time.Time
	)
	deadline := time.Now().Add(30*time.Minute + time.Duration(float64(d.Queued)/10000*float64(time.Second)))
	for {
		k, err := b.coreStatus(core)
		if err != nil {
			rss.stop()
			return d, err
		}
		e, err := b.edgeStatus(f.edge)
		if err != nil {
			rss.stop()
			return d, err
		}
		now := time.Now()
		k1, eLast = k, e
		if e.queued() == 0 && k.sink.EventsIn >= d.Queued {
			tDone = now
			break
		}
		if key := fmt.Sprint(k.sink.EventsIn, e.queued(), e.acked()); key != lastKey {
			lastKey, progress = key, now
		}
		if now.Sub(progress) > 90*time.Second {
			rss.stop()
			return d, fmt.Errorf("the drain made no progress for 90 s: core discard %d of %d, edge queued %d, edge base %s, core intake queued %d",
				k.sink.EventsIn, d.Queued, e.queued(), e.baseDescr(), k.intakeQueued())
		}
		if now.After(deadline) {
			rss.stop()
			return d, fmt.Errorf("the drain did not finish by its deadline: core discard %d of %d, edge queued %d", k.sink.EventsIn, d.Queued, e.queued())
		}
		time.Sleep(100 * time.Millisecond)
	}
	samples := rss.stop()
	edgeTicks1, _ := procs.Sample(f.edge.p.PID())
	coreProc, _ := procs.Sample(core.p.PID())
	up1, _ := f.px.counts()
	first := f.px.first()
	if first.IsZero() || first.After(tDone) {
		first = tReady
	}
	d.ReconnectSeconds = first.Sub(tReady).Seconds()
	d.DrainSeconds = tDone.Sub(first).Seconds()
	d.WallSeconds = tDone.Sub(t0).Seconds()
	d.Arrived, d.Duplicates, d.Resent = k1.sink.EventsIn, k1.dups(), eLast.resent()
	if d.DrainSeconds > 0 {
		d.EventsPerSecond = float64(d.Arrived) / d.DrainSeconds
	}
	if d.WallSeconds > 0 {
		d.WallEventsPerSec = float64(d.Arrived) / d.WallSeconds
	}
	d.Multiple = d.EventsPerSecond / reference
	d.MultipleTarget = d.Multiple >= 3
	if d.Arrived > 0 {
		d.WirePerEvent = float64(up1-up0) / float64(d.Arrived)
		d.EdgeCPUPerMsg = float64(edgeTicks1.Ticks-edgeTicks0.Ticks) / procs.UserHZ * 1e6 / float64(d.Arrived)
		d.CoreCPUPerMsg = float64(coreProc.Ticks) / procs.UserHZ * 1e6 / float64(d.Arrived) // the core's whole life: this drain
	}
	d.CorePeakRSSMiB = float64(coreProc.HWMKB) / 1024
	if len(samples) > 0 {
		d.EdgeRSSStartMiB = samples[0].EdgeMiB
		last := samples[len(samples)-1]
		d.EdgeRSSFinalMiB, d.CoreRSSFinalMiB = last.EdgeMiB, last.CoreMiB
		for _, s := range samples {
			d.EdgeRSSMaxMiB = max(d.EdgeRSSMaxMiB, s.EdgeMiB)
			d.CoreRSSMaxMiB = max(d.CoreRSSMaxMiB, s.CoreMiB)
		}
		d.RSSSamples = len(samples)
		for i := 0; i <= 10; i++ {
			d.RSSSeries = append(d.RSSSeries, samples[i*(len(samples)-1)/10])
		}
	}
	d.RSSTargetMet = d.EdgeRSSMaxMiB < 200 && d.CoreRSSMaxMiB < 200 && d.CorePeakRSSMiB < 200
	if d.DrainSeconds < 2 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("drain: it took only %.2fs; the 100 ms polls and the connection's start weigh on the rate (a larger --backlog measures it better)", d.DrainSeconds))
	}
	if d.Arrived != d.Queued {
		d.Warnings = append(d.Warnings, fmt.Sprintf("drain: the core's discard counted %d, the edge had queued %d (duplicates suppressed %d, resent %d)",
			d.Arrived, d.Queued, d.Duplicates, d.Resent))
	}
	benchutil.Logf("drained %d events in %.2fs (%.0f/s = %.2fx %.0f/s); core start %.2fs, reconnect %.2fs; RSS edge max %.0f MiB, core max %.0f MiB",
		d.Arrived, d.DrainSeconds, d.EventsPerSecond, d.Multiple, reference, d.CoreStartSeconds, d.ReconnectSeconds, d.EdgeRSSMaxMiB, d.CoreRSSMaxMiB)
	return d, nil
}

func (d *drainResult) print(reference float64) {
	fmt.Printf("Drain: %d messages of %d bytes (%.0f MiB of event bytes) sent to the edge's tcp receiver at %.0f/s (%.1fs) with the core down;\n",
		d.BacklogEvents, d.Size, float64(d.BacklogEventBytes)/(1<<20), d.FillSendRate, d.FillSeconds)
	fmt.Printf("  queued on the edge: %d events, spool %.0f MiB on disk (received %d, dropped %d); edge VmRSS max during the fill %.1f MiB\n",
		d.Queued, float64(d.SpoolBytes)/(1<<20), d.FillReceived, d.FillDrops, d.EdgeRSSFillMaxMiB)
	fmt.Printf("  core start -> ready %.2fs, ready -> first relay byte %.2fs (the edge's reconnect backoff), first byte -> done %.2fs\n",
		d.CoreStartSeconds, d.ReconnectSeconds, d.DrainSeconds)
	fmt.Printf("  arrived at the core's discard: %d (duplicates suppressed %d, resent %d); wire %.1f B/ev; CPU edge %.3f µs/msg, core %.3f µs/msg\n",
		d.Arrived, d.Duplicates, d.Resent, d.WirePerEvent, d.EdgeCPUPerMsg, d.CoreCPUPerMsg)
	fmt.Printf("  drain rate %.0f events/s = %.2fx the %.0f/s ingest rate (target ≥ 3x: %s); from the core's start: %.0f events/s\n",
		d.EventsPerSecond, d.Multiple, reference, map[bool]string{true: "met", false: "NOT met"}[d.MultipleTarget], d.WallEventsPerSec)
	fmt.Printf("  VmRSS (every 200 ms, %d samples): edge at start %.1f, max %.1f, final %.1f MiB; core max %.1f, final %.1f MiB, VmHWM %.1f MiB (target < 200 MiB: %s)\n",
		d.RSSSamples, d.EdgeRSSStartMiB, d.EdgeRSSMaxMiB, d.EdgeRSSFinalMiB, d.CoreRSSMaxMiB, d.CoreRSSFinalMiB, d.CorePeakRSSMiB,
		map[bool]string{true: "met", false: "NOT met"}[d.RSSTargetMet])
	fmt.Printf("  VmRSS over the drain (s: edge/core MiB):")
	for _, s := range d.RSSSeries {
		fmt.Printf(" %.1f:%.0f/%.0f", s.T, s.EdgeMiB, s.CoreMiB)
	}
	fmt.Println()
}

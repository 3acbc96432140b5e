package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
)

type ceilingSummary struct {
	Mode          string      `json:"mode"`
	StepDuration  string      `json:"step_duration"`
	GSO           bool        `json:"gso"`
	Size          int         `json:"size"`
	Machine       machine     `json:"machine"`
	FerryCeiling  *float64    `json:"ferry_discard_highest_loss_free_rate"`
	FerryMonotone bool        `json:"ferry_loss_free_at_every_lower_rate"`
	FloorCeiling  *float64    `json:"floor_highest_loss_free_rate"`
	Ferry         []*result   `json:"ferry_discard"`
	Floor         []*result   `json:"floor"`
	Rsyslog       []*result   `json:"rsyslog_tuned_discard"`
	Ratios        []ceilRatio `json:"cpu_per_msg_ratios"`
	Notes         []string    `json:"notes,omitempty"`
	Elapsed       float64     `json:"elapsed_seconds"`
}

// ceilRatio is ferry-discard's CPU per message over the others' at one rate.
type ceilRatio struct {
	Rate         float64  `json:"rate"`
	FerryFloor   *float64 `json:"ferry_discard/floor"`
	FerryRsyslog *float64 `json:"ferry_discard/rsyslog_tuned_discard,omitempty"`
}

func cpuRatioOf(a, b *result) *float64 {
	if a == nil || b == nil || a.CPUUsPerMsg == nil || b.CPUUsPerMsg == nil || *b.CPUUsPerMsg == 0 {
		return nil
	}
	v := *a.CPUUsPerMsg / *b.CPUUsPerMsg
	return &v
}

// runCeiling steps ferry-discard (one daemon, deltas per step) through the
// rates with a GSO sender, bisects between the highest loss-free step and the
// next one, then runs the floor at every rate Ferry saw and rsyslog tuned ->
// discard at the peer rates.
func (b *bench) runCeiling(rates []float64, refine int, step time.Duration, peerRates []float64, jsonOut string) error {
	start := time.Now()
	slices.Sort(rates)
	sum := ceilingSummary{Mode: "ceiling", StepDuration: step.String(), GSO: true, Size: b.size, Machine: b.machine()}

	fmt.Fprintf(os.Stderr, "== ferry-discard, GSO sender, %s per rate\n", step)
	t0 := time.Now()
	fs, err := b.startFerry("ceiling-ferry", "discard")
	if err != nil {
		return err
	}
	benchutil.Logf("ready in %s: %s", time.Since(t0).Round(time.Millisecond), fs.describe())
	byRate := map[float64]*result{}
	run := func(rate float64) error {
		r, err := b.measureQuiet("ferry-discard", fs, rate, step, true)
		if err != nil {
			return err
		}
		benchutil.Logf("%.0f/s: %s", rate, r.short())
		sum.Ferry = append(sum.Ferry, r)
		byRate[rate] = r
		return nil
	}
	for _, rate := range rates {
		if err := run(rate); err != nil {
			fs.stop()
			return err
		}
	}
	// Bisect between the highest loss-free step and the step above it.
	lo, hi := -1.0, -1.0
	for _, rate := range rates {
		if byRate[rate].LossFree {
			lo = rate
		}
	}
	for _, rate := range rates {
		if rate > lo && lo >= 0 {
			hi = rate
			break
		}
	}
	for i := 0; i < refine && lo >= 0 && hi > 0; i++ {
		mid := math.Round((lo+hi)/2/10000) * 10000
		if mid <= lo || mid >= hi {
			break
		}
		if err := run(mid); err != nil {
			fs.stop()
			return err
		}
		if byRate[mid].LossFree {
			lo = mid
		} else {
			hi = mid
		}
	}
	if err := fs.stop(); err != nil {
		benchutil.Logf("stop: %v", err)
	}
	slices.SortFunc(sum.Ferry, func(a, b *result) int { return int(a.TargetRate - b.TargetRate) })
	sum.FerryMonotone = true
	for _, r := range sum.Ferry {
		if r.LossFree {
			v := r.TargetRate
			sum.FerryCeiling = &v
		}
	}
	for _, r := range sum.Ferry {
		if sum.FerryCeiling != nil && r.TargetRate < *sum.FerryCeiling && !r.LossFree {
			sum.FerryMonotone = false
		}
	}

	// The floor at the same rates: a fresh checker per rate.
	for _, r := range sum.Ferry {
		fr, err := b.runOnce("floor", b.startFloor, r.TargetRate, step, true)
		if err != nil {
			return err
		}
		sum.Floor = append(sum.Floor, fr)
		if fr.LossFree {
			v := fr.TargetRate
			sum.FloorCeiling = &v
		}
	}

	if b.rsyslogd != "" && len(peerRates) > 0 {
		fmt.Fprintf(os.Stderr, "== rsyslog-tun-discard, GSO sender, %s per rate\n", step)
		rs, err := b.startRsyslog("ceiling-rsyslog", true, "discard")
		if err != nil {
			return err
		}
		for _, rate := range peerRates {
			r, err := b.measureQuiet("rsyslog-tun-discard", rs, rate, step, true)
			if err != nil {
				rs.stop()
				return err
			}
			benchutil.Logf("%.0f/s: %s", rate, r.short())
			sum.Rsyslog = append(sum.Rsyslog, r)
		}
		rs.stop()
	}
	for _, list := range [][]*result{sum.Ferry, sum.Floor, sum.Rsyslog} {
		for _, r := range list {
			if w := r.warning(); w != "" {
				sum.Notes = append(sum.Notes, w)
			}
		}
	}
	sum.Elapsed = time.Since(start).Seconds()

	fmt.Println()
	sum.Machine.print(fmt.Sprintf("%d-byte RFC 5424 messages, one sender with UDP GSO (sendmmsg x64 of 64-message super-datagrams), %s per rate.", b.size, step))
	fmt.Println("Ferry: one ferryd (fresh data dir, syslog.open udp -> discard) takes every rate in turn; figures are per-step deltas, RSS is the")
	fmt.Println("peak so far. Floor: a fresh checker per rate. Loss-free: delivered == offered, zero kernel drops, zero queue drops.")
	fmt.Println()
	all := append(append(append([]*result{}, sum.Ferry...), sum.Floor...), sum.Rsyslog...)
	printTable(all)
	fmt.Println()
	fmt.Printf("%9s | %-34s | %-34s | %-34s | %s\n", "rate", "ferry-discard loss% kdrops µs/msg", "floor loss% kdrops µs/msg", "rsyslog-tun-discard loss% kdrops µs/msg",
		"CPU/msg ferry/floor ferry/rsyslog")
	cell := func(r *result) string {
		if r == nil {
			return "-"
		}
		ok := ""
		if r.LossFree {
			ok = " ok"
		}
		return fmt.Sprintf("%8.3f %8d %7s%s", r.LossPct, r.KernelDrops, benchutil.FmtPtr(r.CPUUsPerMsg, 3), ok)
	}
	find := func(list []*result, rate float64) *result {
		for _, r := range list {
			if r.TargetRate == rate {
				return r
			}
		}
		return nil
	}
	for _, r := range sum.Ferry {
		fl, rs := find(sum.Floor, r.TargetRate), find(sum.Rsyslog, r.TargetRate)
		cr := ceilRatio{Rate: r.TargetRate, FerryFloor: cpuRatioOf(r, fl), FerryRsyslog: cpuRatioOf(r, rs)}
		sum.Ratios = append(sum.Ratios, cr)
		fmt.Printf("%9.0f | %-34s | %-34s | %-34s | %11s %13s\n", r.TargetRate, cell(r), cell(fl), cell(rs), benchutil.FmtPtr(cr.FerryFloor, 2), benchutil.FmtPtr(cr.FerryRsyslog, 2))
	}
	fmt.Println()
	if sum.FerryCeiling != nil {
		fmt.Printf("Ferry UDP -> discard, highest loss-free rate tested: %.0f/s", *sum.FerryCeiling)
		if !sum.FerryMonotone {
			fmt.Printf(" (but some lower rate lost messages)")
		}
		fmt.Println()
	} else {
		fmt.Println("Ferry UDP -> discard: no loss-free rate among those tested.")
	}
	if sum.FloorCeiling != nil {
		fmt.Printf("Floor, highest loss-free rate tested: %.0f/s\n", *sum.FloorCeiling)
	} else {
		fmt.Println("Floor: no loss-free rate among those tested.")
	}
	for _, n := range sum.Notes {
		fmt.Println("Note:", n)
	}
	fmt.Printf("\nElapsed %.0f s.\n\nJSON summary:\n", sum.Elapsed)
	return benchutil.WriteJSON(sum, jsonOut)
}

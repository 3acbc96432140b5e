// Command spoolbench measures net/spool on a real file system against the
// disk's own rate. Run it through scripts/bench/spool.sh, which builds it and
// gives it a fresh directory (--work) on the file system under test.
//
// Phases, all in --work, one after the other:
//
//	raw      the disk's sequential write rate: 1 MiB write(2)s to a new file,
//	         each followed by fdatasync, for --raw-duration or --raw-max bytes
//	append   per sync policy (always, interval, never), a fresh spool fed
//	         batches of 256 events of 500 bytes (syslog-like text with varying
//	         digits, 16 different batches in turn) for --append-duration or
//	         --append-max event bytes. "event MB/s" is the events' raw bytes per
//	         second of Append calls; "disk MB/s" is the growth of Stats().Bytes
//	         (segment files) per second; "+close" includes the final Close,
//	         which syncs what interval/never left in the page cache. ratio =
//	         raw bytes / bytes on disk.
//	drain    a backlog of --backlog event bytes appended under SyncNever, then
//	         Close; the segment files' page cache is dropped (posix_fadvise
//	         DONTNEED, per file: nothing else on the machine is touched), the
//	         spool reopened (SyncInterval, the default; Open timed) and drained
//	         with Next -> Decode -> Release -> Ack until empty, as a sender into
//	         a discard output would. RSS (VmRSS of this process) is sampled every
//	         100 ms during the build and the drain.
//	big      (--big) the same start-up measurement with a backlog of --big-backlog
//	         event bytes, if the file system has at least --big-free bytes free:
//	         Open and the first Next, timed, with a cold page cache.
//
// MB are 10^6 bytes; MiB and GiB are powers of two. The last line of stdout is
// the JSON summary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"golang.org/x/sys/unix"
)

const (
	batchEvents = 256
	eventSize   = 500
	nBatches    = 16
	mb          = 1e6
	mib         = 1 << 20
	gib         = 1 << 30
)

// Targets from the issue.
const (
	targetAppendRatio = 0.70    // spool on-disk MB/s / raw MB/s
	targetDrainRatio  = 3.0     // drain events/s / 100k
	drainReference    = 100_000 // msgs/s
	targetRSS         = 150 * mib
)

type byteSize int64

func (b *byteSize) String() string { return fmtSize(int64(*b)) }
func (b *byteSize) Set(s string) error {
	v, err := parseSize(s)
	*b = byteSize(v)
	return err
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", gib}, {"MiB", mib}, {"KiB", 1 << 10}, {"G", gib}, {"M", mib}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want e.g. 1GiB, 512MiB", s)
	}
	return int64(f * float64(mult)), nil
}

func fmtSize(n int64) string {
	switch {
	case n >= gib:
		return strconv.FormatFloat(float64(n)/gib, 'f', 1, 64) + "GiB"
	case n >= mib:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// ---- summary ----

type machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go"`
	Dir        string `json:"dir"`
	FSType     string `json:"fs_type"`
	Device     string `json:"device"`
	FreeBytes  int64  `json:"free_bytes"`
	StartedUTC string `json:"started_utc"`
}

type rawResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_s"`
}

type appendResult struct {
	Policy          string  `json:"policy"`
	Appends         int64   `json:"appends"`
	Events          int64   `json:"events"`
	EventBytes      int64   `json:"event_bytes"`
	DiskBytes       int64   `json:"disk_bytes"`
	Seconds         float64 `json:"seconds"`
	CloseSeconds    float64 `json:"close_seconds"`
	EventMBps       float64 `json:"event_mb_per_s"`
	EventsPerSec    float64 `json:"events_per_s"`
	DiskMBps        float64 `json:"disk_mb_per_s"`
	DiskMBpsClose   float64 `json:"disk_mb_per_s_incl_close"`
	Compression     float64 `json:"compression_ratio"`
	RecordBytes     float64 `json:"avg_record_bytes"`
	DiskRatio       float64 `json:"disk_ratio_to_raw"`
	DiskRatioClose  float64 `json:"disk_ratio_to_raw_incl_close"`
	EventRatio      float64 `json:"event_ratio_to_raw"`
	MeetsDiskTarget bool    `json:"meets_0_70"`
	CPUCores        float64 `json:"cpu_cores"` // process CPU time / wall time of the appends
}

type drainResult struct {
	Backlog        int64   `json:"backlog_event_bytes"`
	Events         int64   `json:"events"`
	DiskBytes      int64   `json:"disk_bytes"`
	Segments       int     `json:"segments"`
	BuildSeconds   float64 `json:"build_seconds"`
	BuildMaxRSS    int64   `json:"build_max_rss_bytes"`
	BuildFinalRSS  int64   `json:"build_final_rss_bytes"`
	OpenMs         float64 `json:"open_ms"`
	FirstNextMs    float64 `json:"first_next_ms"`
	DrainSeconds   float64 `json:"drain_seconds"`
	DrainEvents    int64   `json:"drained_events"`
	EventsPerSec   float64 `json:"events_per_s"`
	EventMBps      float64 `json:"event_mb_per_s"`
	Ratio100k      float64 `json:"ratio_to_100k"`
	DrainMaxRSS    int64   `json:"drain_max_rss_bytes"`
	DrainFinalRSS  int64   `json:"drain_final_rss_bytes"`
	LeftSegments   int     `json:"segments_left_after_close"`
	MeetsRate      bool    `json:"meets_3x"`
	MeetsRSS       bool    `json:"rss_under_150MiB"`
	Dropped        uint64  `json:"dropped"`
	CorruptRecords uint64  `json:"corrupt_records"`
}

type bigResult struct {
	Skipped      string  `json:"skipped,omitempty"`
	Backlog      int64   `json:"backlog_event_bytes,omitempty"`
	DiskBytes    int64   `json:"disk_bytes,omitempty"`
	Segments     int     `json:"segments,omitempty"`
	BuildSeconds float64 `json:"build_seconds,omitempty"`
	OpenMs       float64 `json:"open_ms,omitempty"`
	FirstNextMs  float64 `json:"first_next_ms,omitempty"`
	StatsMs      float64 `json:"stats_ms,omitempty"`
}

type summary struct {
	Bench    string          `json:"bench"`
	Machine  machine         `json:"machine"`
	Raw      rawResult       `json:"raw"`
	Append   []*appendResult `json:"append"`
	Drain    *drainResult    `json:"drain,omitempty"`
	Big      *bigResult      `json:"big,omitempty"`
	Elapsed  float64         `json:"elapsed_seconds"`
	Warnings []string        `json:"warnings,omitempty"`
}

// ---- main ----

func main() {
	var (
		work       = flag.String("work", "", "directory to work in (must exist and be empty; spool.sh makes it)")
		rawDur     = flag.Duration("raw-duration", 3*time.Second, "raw: how long to write")
		rawMax     = byteSize(512 * mib)
		appendDur  = flag.Duration("append-duration", 5*time.Second, "append: how long per policy")
		appendMax  = byteSize(3 * gib)
		backlog    = byteSize(gib)
		big        = flag.Bool("big", false, "also measure start-up with --big-backlog (writes that much event data)")
		bigBacklog = byteSize(10 * gib)
		bigFree    = byteSize(12 * gib)
		policies   = flag.String("policies", "always,interval,never", "append: sync policies to run")
		jsonOut    = flag.String("json", "", "also write the JSON summary to this file")
	)
	flag.Var(&rawMax, "raw-max", "raw: at most this many bytes")
	flag.Var(&appendMax, "append-max", "append: at most this many event bytes per policy")
	flag.Var(&backlog, "backlog", "drain: backlog of event bytes")
	flag.Var(&bigBacklog, "big-backlog", "big: backlog of event bytes")
	flag.Var(&bigFree, "big-free", "big: free space the file system must have, else big is skipped")
	flag.Parse()
	if *work == "" {
		fatal(errors.New("--work is required (run scripts/bench/spool.sh)"))
	}
	start := time.Now()
	sum := &summary{Bench: "spool", Machine: describe(*work)}
	sum.Machine.print(int64(backlog))
	if int64(backlog) != gib {
		sum.warn(fmt.Sprintf("drain backlog set to %s (default 1GiB)", fmtSize(int64(backlog))))
	}

	batches := makeBatches()
	fmt.Printf("Events: %d per batch, %d bytes each, syslog-like text (%d different batches in turn); e.g.\n  %s\n",
		batchEvents, eventSize, nBatches, batches[0].Raw(7))

	fmt.Println()
	sum.Raw = runRaw(filepath.Join(*work, "raw"), *rawDur, int64(rawMax))
	fmt.Printf("raw: %s in %.2f s, 1 MiB writes + fdatasync each: %.1f MB/s\n", fmtSize(sum.Raw.Bytes), sum.Raw.Seconds, sum.Raw.MBps)

	for _, name := range strings.Split(*policies, ",") {
		p, ok := map[string]spool.SyncPolicy{"always": spool.SyncAlways, "interval": spool.SyncInterval, "never": spool.SyncNever}[strings.TrimSpace(name)]
		if !ok {
			fatal(fmt.Errorf("unknown policy %q", name))
		}
		r := runAppend(filepath.Join(*work, "append-"+p.String()), p, batches, *appendDur, int64(appendMax))
		r.DiskRatio, r.DiskRatioClose, r.EventRatio = r.DiskMBps/sum.Raw.MBps, r.DiskMBpsClose/sum.Raw.MBps, r.EventMBps/sum.Raw.MBps
		r.MeetsDiskTarget = r.DiskRatio >= targetAppendRatio
		sum.Append = append(sum.Append, r)
		fmt.Printf("append %-8s %d appends in %.2f s (+%.2f s Close): %.1f event MB/s, %.1f disk MB/s\n",
			p, r.Appends, r.Seconds, r.CloseSeconds, r.EventMBps, r.DiskMBps)
	}

	d := runDrain(filepath.Join(*work, "drain"), batches, int64(backlog), sum)
	sum.Drain = d

	if *big {
		sum.Big = runBig(filepath.Join(*work, "big"), batches[0], int64(bigBacklog), int64(bigFree))
	}

	sum.Elapsed = time.Since(start).Seconds()
	sum.print()
	out, err := json.Marshal(sum)
	if err != nil {
		fatal(err)
	}
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(out, '\n'), 0o644); err != nil {
			fatal(err)
		}
	}
	fmt.Println(string(out))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "spoolbench:", err)
	os.Exit(1)
}

func (s *summary) warn(w string) {
	s.Warnings = append(s.Warnings, w)
	fmt.Fprintln(os.Stderr, "spoolbench: warning:", w)
}

// ---- the events ----

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// makeBatches makes nBatches batches of syslog-like messages: a few message
// shapes with varying numbers, hosts, addresses and paths, padded to 500
// bytes with key=value fields, from a fixed seed.
func makeBatches() []*event.Batch {
	pool := event.NewPool(batchEvents, batchEvents*eventSize)
	r := rand.New(rand.NewPCG(1, 2))
	hosts := []string{"web-01", "web-02", "web-07", "db-3", "cache-a", "edge-fra-2", "edge-ams-1", "worker-11"}
	paths := []string{"/api/v1/items", "/api/v1/users", "/static/app.js", "/login", "/api/v2/orders", "/healthz", "/search"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"curl/8.5.0", "Go-http-client/2.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15"}
	users := []string{"root", "admin", "deploy", "alice", "bob", "backup", "git"}
	words := []string{"request", "completed", "retrying", "connection", "upstream", "timeout", "cache", "miss", "hit",
		"queue", "flushed", "segment", "worker", "started", "session", "closed", "bytes", "latency"}
	ip := func() string { return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)) }
	var out []*event.Batch
	seq := 0
	for range nBatches {
		b := pool.Get("bench")
		for range batchEvents {
			seq++
			ts := t0.Add(time.Duration(seq)*1731*time.Microsecond + time.Duration(r.IntN(1000))*time.Microsecond)
			host := hosts[r.IntN(len(hosts))]
			var m []byte
			m = fmt.Appendf(m, "<%d>1 %s ", 8*(1+r.IntN(20))+r.IntN(8), ts.Format("2006-01-02T15:04:05.000000Z"))
			switch r.IntN(4) {
			case 0:
				m = fmt.Appendf(m, "%s nginx %d - - %s - - [%s] \"GET %s/%d?page=%d HTTP/1.1\" %d %d \"-\" \"%s\" rt=%d.%03d",
					host, 1000+r.IntN(60000), ip(), ts.Format("02/Jan/2006:15:04:05 -0700"), paths[r.IntN(len(paths))],
					r.IntN(1000000), r.IntN(50), []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(200000),
					agents[r.IntN(len(agents))], r.IntN(3), r.IntN(1000))
			case 1:
				m = fmt.Appendf(m, "%s sshd %d - - Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:%016x%016x",
					host, 1000+r.IntN(60000), users[r.IntN(len(users))], ip(), 1024+r.IntN(64000), r.Uint64(), r.Uint64())
			case 2:
				m = fmt.Appendf(m, "%s kernel - - - [%d.%06d] eth0: rx_dropped=%d tx_errors=%d link up %d Mbps full duplex",
					host, r.IntN(900000), r.IntN(1000000), r.IntN(10000), r.IntN(100), []int{1000, 10000, 25000}[r.IntN(3)])
			default:
				m = fmt.Appendf(m, "%s app %d ID%d [meta trace=\"%016x\" span=\"%08x\"] {\"level\":\"info\",\"msg\":\"%s %s\",\"duration_ms\":%d,\"status\":%d",
					host, 1000+r.IntN(60000), r.IntN(100), r.Uint64(), r.Uint32(), words[r.IntN(len(words))], words[r.IntN(len(words))],
					r.IntN(5000), r.IntN(600))
			}
			for len(m) < eventSize {
				m = fmt.Appendf(m, " %s=%d", words[r.IntN(len(words))], r.IntN(100000))
			}
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(1 + r.IntN(200))}), 514)
			if !b.Add(ts, src, m[:eventSize]) {
				panic("batch full")
			}
		}
		out = append(out, b)
	}
	return out
}

// ---- raw ----

func runRaw(path string, dur time.Duration, maxBytes int64) rawResult {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		fatal(err)
	}
	buf := make([]byte, mib)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(buf); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
	fd := int(f.Fd())
	var n int64
	start := time.Now()
	for time.Since(start) < dur && n < maxBytes {
		if _, err := f.Write(buf); err != nil {
			fatal(fmt.Errorf("raw: %w", err))
		}
		if err := unix.Fdatasync(fd); err != nil {
			fatal(fmt.Errorf("raw: fdatasync: %w", err))
		}
		n += int64(len(buf))
	}
	el := time.Since(start).Seconds()
	f.Close()
	os.Remove(path)
	return rawResult{Bytes: n, Seconds: el, MBps: float64(n) / el / mb}
}

// ---- append ----

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openSpool(dir string, p spool.SyncPolicy, maxBytes int64) *spool.Spool {
	s, err := spool.Open(spool.Options{Dir: dir, MaxBytes: maxBytes, Sync: p, Log: quiet})
	if err != nil {
		fatal(err)
	}
	return s
}

func runAppend(dir string, p spool.SyncPolicy, batches []*event.Batch, dur time.Duration, maxEventBytes int64) *appendResult {
	// Room for everything: nothing is dropped to make room.
	s := openSpool(dir, p, maxEventBytes+4*gib)
	ctx := context.Background()
	r := &appendResult{Policy: p.String()}
	disk0 := s.Stats().Bytes
	cpu0 := cpuTime()
	start := time.Now()
	for time.Since(start) < dur && r.EventBytes < maxEventBytes {
		b := batches[r.Appends%nBatches]
		if err := s.Append(ctx, b); err != nil {
			fatal(fmt.Errorf("append %s: %w", p, err))
		}
		r.Appends++
		r.Events += int64(b.Len())
		r.EventBytes += int64(b.Bytes())
	}
	el := time.Since(start)
	r.CPUCores = (cpuTime() - cpu0).Seconds() / el.Seconds()
	st := s.Stats()
	if st.Dropped != (spool.Dropped{}) {
		fatal(fmt.Errorf("append %s: dropped %+v", p, st.Dropped))
	}
	r.DiskBytes = st.Bytes - disk0
	c0 := time.Now()
	if err := s.Close(); err != nil {
		fatal(fmt.Errorf("append %s: close: %w", p, err))
	}
	r.CloseSeconds = time.Since(c0).Seconds()
	r.Seconds = el.Seconds()
	r.EventMBps = float64(r.EventBytes) / r.Seconds / mb
	r.EventsPerSec = float64(r.Events) / r.Seconds
	r.DiskMBps = float64(r.DiskBytes) / r.Seconds / mb
	r.DiskMBpsClose = float64(r.DiskBytes) / (r.Seconds + r.CloseSeconds) / mb
	r.Compression = float64(r.EventBytes) / float64(r.DiskBytes)
	r.RecordBytes = float64(r.DiskBytes) / float64(r.Appends)
	os.RemoveAll(dir)
	return r
}

// ---- drain ----

// build appends batches until backlog event bytes are in the spool (SyncNever).
func build(dir string, batches []*event.Batch, backlog int64) (events int64, el time.Duration) {
	s := openSpool(dir, spool.SyncNever, 2*backlog+4*gib)
	ctx := context.Background()
	var n, bytes int64
	start := time.Now()
	for bytes < backlog {
		b := batches[n%int64(len(batches))]
		if err := s.Append(ctx, b); err != nil {
			fatal(fmt.Errorf("build: %w", err))
		}
		n++
		events += int64(b.Len())
		bytes += int64(b.Bytes())
	}
	if st := s.Stats(); st.Dropped != (spool.Dropped{}) {
		fatal(fmt.Errorf("build: dropped %+v", st.Dropped))
	}
	if err := s.Close(); err != nil {
		fatal(fmt.Errorf("build: close: %w", err))
	}
	return events, time.Since(start)
}

// dropCache drops the page cache of dir's files (they were synced by Close
// and the rolls), so that Open and the reads go to the disk.
func dropCache(dir string) (bytes int64, segs int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			fatal(err)
		}
		unix.Fdatasync(int(f.Fd()))
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			fatal(fmt.Errorf("fadvise %s: %w", p, err))
		}
		if fi, err := f.Stat(); err == nil && strings.HasSuffix(e.Name(), ".seg") {
			bytes += fi.Size()
			segs++
		}
		f.Close()
	}
	return bytes, segs
}

func runDrain(dir string, batches []*event.Batch, backlog int64, sum *summary) *drainResult {
	d := &drainResult{Backlog: backlog}
	fmt.Printf("drain: building a backlog of %s event bytes (SyncNever) ...\n", fmtSize(backlog))
	rss := startRSS()
	events, el := build(dir, batches, backlog)
	d.BuildMaxRSS, d.BuildFinalRSS = rss.stop()
	d.Events, d.BuildSeconds = events, el.Seconds()
	d.DiskBytes, d.Segments = dropCache(dir)
	runtime.GC()

	rss = startRSS()
	t := time.Now()
	s := openSpool(dir, spool.SyncInterval, 2*backlog+4*gib)
	d.OpenMs = ms(time.Since(t))
	pool := event.NewPool(batchEvents, batchEvents*eventSize)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var bytes int64
	start := time.Now()
	for d.DrainEvents < events {
		rec, err := s.Next(ctx)
		if err != nil {
			fatal(fmt.Errorf("drain: next after %d of %d events: %w", d.DrainEvents, events, err))
		}
		if d.FirstNextMs == 0 {
			// Next first, as a sender would: Stats would index the oldest
			// segment and hide that cost from it.
			d.FirstNextMs = ms(time.Since(start))
			if st := s.Stats(); st.Events != uint64(events) {
				fatal(fmt.Errorf("drain: reopened spool holds %d events, %d were appended", st.Events, events))
			}
		}
		b, err := rec.Decode(pool)
		if err != nil {
			fatal(fmt.Errorf("drain: %w", err))
		}
		d.DrainEvents += int64(b.Len())
		bytes += int64(b.Bytes())
		b.Release()
		if err := s.Ack(rec.LastSeq()); err != nil {
			fatal(fmt.Errorf("drain: ack: %w", err))
		}
	}
	d.DrainSeconds = time.Since(start).Seconds()
	d.DrainMaxRSS, d.DrainFinalRSS = rss.stop()
	st := s.Stats()
	d.Dropped = st.Dropped.Full + st.Dropped.Age + st.Dropped.DiskFull + st.Dropped.Corrupt
	d.CorruptRecords = st.Dropped.CorruptRecords
	if err := s.Close(); err != nil {
		fatal(fmt.Errorf("drain: close: %w", err))
	}
	if ents, err := filepath.Glob(filepath.Join(dir, "*.seg")); err == nil {
		d.LeftSegments = len(ents)
	}
	d.EventsPerSec = float64(d.DrainEvents) / d.DrainSeconds
	d.EventMBps = float64(bytes) / d.DrainSeconds / mb
	d.Ratio100k = d.EventsPerSec / drainReference
	d.MeetsRate = d.Ratio100k >= targetDrainRatio
	d.MeetsRSS = max(d.BuildMaxRSS, d.DrainMaxRSS) < targetRSS
	os.RemoveAll(dir)
	return d
}

// ---- big ----

func runBig(dir string, b *event.Batch, backlog, need int64) *bigResult {
	r := &bigResult{}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(dir), &st); err != nil {
		fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need {
		r.Skipped = fmt.Sprintf("%s free on the file system, %s needed", fmtSize(free), fmtSize(need))
		fmt.Printf("big: skipped: %s\n", r.Skipped)
		return r
	}
	r.Backlog = backlog
	fmt.Printf("big: building a backlog of %s event bytes (SyncNever, one batch over and over) ...\n", fmtSize(backlog))
	events, el := build(dir, []*event.Batch{b}, backlog)
	r.BuildSeconds = el.Seconds()
	r.DiskBytes, r.Segments = dropCache(dir)
	runtime.GC()
	t := time.Now()
	s := openSpool(dir, spool.SyncInterval, 2*backlog+4*gib)
	r.OpenMs = ms(time.Since(t))
	t = time.Now()
	if _, err := s.Next(context.Background()); err != nil {
		fatal(fmt.Errorf("big: next: %w", err))
	}
	r.FirstNextMs = ms(time.Since(t))
	t = time.Now()
	if got := s.Stats(); got.Events != uint64(events) {
		fmt.Fprintf(os.Stderr, "spoolbench: big: reopened spool holds %d events, %d were appended\n", got.Events, events)
	}
	r.StatsMs = ms(time.Since(t))
	s.Close()
	os.RemoveAll(dir)
	return r
}

// ---- RSS ----

type rssSampler struct {
	mu   sync.Mutex
	max  int64
	quit chan struct{}
	done chan struct{}
}

func startRSS() *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() int64 {
	v := vmRSS()
	s.mu.Lock()
	s.max = max(s.max, v)
	s.mu.Unlock()
	return v
}

// stop returns the highest sample and a final one.
func (s *rssSampler) stop() (maxRSS, final int64) {
	close(s.quit)
	<-s.done
	final = s.sample()
	return s.max, final
}

func vmRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ---- header and table ----

func describe(dir string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Dir: dir, StartedUTC: time.Now().UTC().Format(time.RFC3339)}
	m.CPUModel = benchutil.CPUModel()
	m.Kernel = benchutil.KernelRelease()
	if out, err := exec.Command("stat", "-f", "-c", "%T", dir).Output(); err == nil {
		m.FSType = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("df", "-P", dir).Output(); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) == 2 {
			if f := strings.Fields(lines[1]); len(f) > 0 {
				m.Device = f[0]
			}
		}
	}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil {
		m.FreeBytes = int64(st.Bavail) * int64(st.Bsize)
	}
	return m
}

func (m machine) print(backlog int64) {
	fmt.Printf("Spool benchmark (net/spool on the real file system), drain backlog %s\n", fmtSize(backlog))
	fmt.Printf("Machine: %d CPUs (%s), Linux %s; %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Printf("Disk: %s, file system %s (stat -f -c %%T) on %s, %s free\n", m.Dir, m.FSType, m.Device, fmtSize(m.FreeBytes))
	if m.FSType == "tmpfs" || m.FSType == "ramfs" {
		fmt.Println("WARNING: this is a memory file system, not a disk: the figures say nothing about a disk.")
	}
	fmt.Println("MB = 10^6 bytes. raw: 1 MiB writes, fdatasync after each. event MB/s: events' raw bytes per second of Append;")
	fmt.Println("disk MB/s: growth of Stats().Bytes (segment files) per second of Append; +close: including the final Close's sync;")
	fmt.Println("compr = event bytes / disk bytes; rec = average record on disk; CPU: this process's CPU time / wall time")
	fmt.Println("(cores busy) during the appends. Ratios are to raw MB/s.")
}

func (s *summary) print() {
	fmt.Println()
	fmt.Printf("%-16s %10s %10s %10s %10s %7s %9s %9s %9s %9s %5s\n",
		"phase", "event MB/s", "events/s", "disk MB/s", "+close", "compr", "rec KiB", "disk/raw", "+close", "event/raw", "CPU")
	fmt.Printf("%-16s %10s %10s %10.1f %10s %7s %9s %9s %9s %9s\n", "raw", "-", "-", s.Raw.MBps, "-", "-", "1024", "1.00", "-", "-")
	for _, r := range s.Append {
		fmt.Printf("%-16s %10.1f %10.0f %10.1f %10.1f %7.2f %9.1f %9.2f %9.2f %9.2f %5.2f\n", "append "+r.Policy,
			r.EventMBps, r.EventsPerSec, r.DiskMBps, r.DiskMBpsClose, r.Compression, r.RecordBytes/1024, r.DiskRatio, r.DiskRatioClose, r.EventRatio, r.CPUCores)
	}
	if d := s.Drain; d != nil {
		fmt.Printf("%-16s %10.1f %10.0f %10s %10s %7.2f %9s %9s %9s %9s\n", "drain",
			d.EventMBps, d.EventsPerSec, "-", "-", float64(d.Backlog)/float64(d.DiskBytes), "-", "-", "-", "-")
	}
	fmt.Println()
	fmt.Printf("Targets (from the issue):\n")
	for _, r := range s.Append {
		fmt.Printf("  append %-8s on-disk MB/s / raw = %.2f (%.2f incl. Close), target >= %.2f: %s; event MB/s / raw = %.2f\n",
			r.Policy, r.DiskRatio, r.DiskRatioClose, targetAppendRatio, verdict(r.MeetsDiskTarget), r.EventRatio)
	}
	if d := s.Drain; d != nil {
		fmt.Printf("  drain  %.0f events/s / 100k msgs/s = %.2fx, target >= %.0fx: %s\n", d.EventsPerSec, d.Ratio100k, targetDrainRatio, verdict(d.MeetsRate))
		fmt.Printf("  RSS    build max %s final %s; drain max %s final %s; target flat, < 150 MiB: %s\n",
			fmtMiB(d.BuildMaxRSS), fmtMiB(d.BuildFinalRSS), fmtMiB(d.DrainMaxRSS), fmtMiB(d.DrainFinalRSS), verdict(d.MeetsRSS))
		fmt.Printf("Drain backlog: %s event bytes = %d events in %d segments, %s on disk; built in %.1f s;\n",
			fmtSize(d.Backlog), d.Events, d.Segments, fmtSize(d.DiskBytes), d.BuildSeconds)
		fmt.Printf("  reopen (cold page cache): Open %.1f ms, first Next %.1f ms; drained %d events in %.2f s; dropped %d; %d segment files left after Close\n",
			d.OpenMs, d.FirstNextMs, d.DrainEvents, d.DrainSeconds, d.Dropped, d.LeftSegments)
	}
	if b := s.Big; b != nil {
		if b.Skipped != "" {
			fmt.Printf("Start-up with a big backlog: skipped: %s\n", b.Skipped)
		} else {
			fmt.Printf("Start-up with a %s backlog (event bytes; %s on disk in %d segments, built in %.1f s), cold page cache: Open %.1f ms, first Next %.1f ms, first Stats %.1f ms\n",
				fmtSize(b.Backlog), fmtSize(b.DiskBytes), b.Segments, b.BuildSeconds, b.OpenMs, b.FirstNextMs, b.StatsMs)
		}
	} else {
		fmt.Println("Start-up with a 10 GiB backlog: not run (--big).")
	}
	fmt.Printf("Elapsed: %.1f s\n", s.Elapsed)
}

func fmtMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

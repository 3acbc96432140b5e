package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A paused destination spools N messages (sync always); ferryd is killed
// with SIGKILL; after a restart the destination is still paused, and on
// forwarder.resume every message arrives once, in order.
func TestSpoolSurvivesKillWhilePaused(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	archive, port := pausedArchive(t, d, "tcp1", "tcp", "--sync always")
	const n = 2000
	sendTCP(t, port, n, func(i int) string { return fmt.Sprintf("<13>Dec  2 10:00:00 host app: seq=%05d", i) })
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "forwarder.outputs", ""), fmt.Sprintf("queued=%d,", n))
	})
	out := d.mustRun(t, "forwarder.outputs", "")
	if !strings.Contains(out, "state=paused") || !strings.Contains(out, "written=0,") || !strings.Contains(out, "sync=always") {
		t.Fatalf("forwarder.outputs while paused: %q", out)
	}
	d.kill()

	d2 := startDaemon(t, dir)
	waitUntil(t, func() bool {
		return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), fmt.Sprintf("queued=%d,", n))
	})
	if out := d2.mustRun(t, "forwarder.outputs", ""); !strings.Contains(out, "state=paused") {
		t.Fatalf("the pause did not survive the restart: %q", out)
	}
	if out := d2.mustRun(t, "spool.verify arch", ""); !strings.HasPrefix(out, "segments=") || !strings.Contains(out, fmt.Sprintf("events=%d,", n)) || !strings.Contains(out, "bad=0") {
		t.Errorf("spool.verify: %q", out)
	}
	if out := d2.mustRun(t, "spool.peek arch 2", ""); !strings.Contains(out, "seq=00000") || !strings.Contains(out, "seq=00001") || strings.Contains(out, "seq=00002") {
		t.Errorf("spool.peek arch 2: %q", out)
	}
	// Replacing it (another sync policy) keeps its spool and its pause.
	d2.mustRun(t, "forwarder.addOutput arch file "+archive+" --sync interval", "")
	if out := d2.mustRun(t, "forwarder.outputs", ""); !strings.Contains(out, "state=paused") || !strings.Contains(out, fmt.Sprintf("queued=%d,", n)) || !strings.Contains(out, "sync=interval") {
		t.Fatalf("after replacing the destination: %q", out)
	}
	// Removing it now would lose what it holds: refused.
	d2.mustRun(t, "route.remove tcp1 arch", "")
	if r := d2.openssh(t, "root", changedPassword, "", "forwarder.removeOutput arch"); r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("%d events are still spooled", n)) {
		t.Fatalf("forwarder.removeOutput with a backlog: exit %d, %q", r.code, r.stderr)
	}
	d2.mustRun(t, "forwarder.resume arch", "")
	waitUntil(t, func() bool {
		return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), fmt.Sprintf("written=%d,", n))
	})
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), "queued=0,") })
	d2.mustRun(t, "forwarder.removeOutput arch", "")
	if _, err := os.Stat(filepath.Join(dir, "spool", "arch")); !os.IsNotExist(err) {
		t.Errorf("the removed destination's spool directory is still there: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(archive, "tcp1", time.Now().Format("2006-01-02")+".log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines in the archive, want %d", len(lines), n)
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, fmt.Sprintf("seq=%05d", i)) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
}

// Bytes flipped in the middle of a segment that is not the last: the daemon
// starts (it scans only the last segment), spool.verify names the segment
// and offset, spool.repair sets the rest of that segment aside, and every
// good record is delivered once, in order; what was set aside is counted
// as dropped (corrupt).
func TestCorruptSegmentAtStart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	// A small bound makes small segments (an eighth of it each): several of them.
	archive, port := pausedArchive(t, d, "tcp1", "tcp", "--sync always --buffer 1MiB")
	const conns, each = 8, 100
	rnd := rand.New(rand.NewPCG(1, 2))
	for k := range conns {
		sendTCP(t, port, each, func(i int) string {
			noise := make([]byte, 300) // hard to compress: the records stay large
			for j := range noise {
				noise[j] = "0123456789abcdef"[rnd.IntN(16)]
			}
			return fmt.Sprintf("<13>Dec  2 10:00:00 host app: seq=%05d %s", k*each+i, noise)
		})
		waitUntil(t, func() bool {
			return strings.Contains(d.mustRun(t, "forwarder.outputs", ""), fmt.Sprintf("queued=%d,", (k+1)*each))
		})
	}
	d.stop()

	segs, _ := filepath.Glob(filepath.Join(dir, "spool", "arch", "*.seg"))
	if len(segs) < 2 {
		t.Fatalf("want several segments, have %v", segs)
	}
	raw, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	at := len(raw) / 2
	raw[at] ^= 0xff
	raw[at+1] ^= 0xff
	if err := os.WriteFile(segs[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}

	d2 := startDaemon(t, dir)
	out := d2.mustRun(t, "spool.verify arch", "")
	if strings.Contains(out, "bad=0") || !strings.Contains(out, "bad: spool \"arch\": segment "+filepath.Base(segs[0])+" offset ") {
		t.Fatalf("spool.verify after the damage: %q", out)
	}
	out = d2.mustRun(t, "spool.repair arch", "")
	if !strings.Contains(out, "set aside: ") {
		t.Fatalf("spool.repair: %q", out)
	}
	if out := d2.mustRun(t, "spool.verify arch", ""); !strings.Contains(out, "bad=0") {
		t.Errorf("spool.verify after the repair: %q", out)
	}
	d2.mustRun(t, "forwarder.resume arch", "")
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), "queued=0,") })
	out = d2.mustRun(t, "forwarder.outputs", "")
	var written, corrupt int
	if i := strings.Index(out, "written="); i >= 0 {
		fmt.Sscanf(out[i:], "written=%d,", &written)
	}
	if i := strings.Index(out, "corrupt="); i >= 0 {
		fmt.Sscanf(out[i:], "corrupt=%d)", &corrupt)
	}
	if written < each || corrupt == 0 || written+corrupt != conns*each {
		t.Fatalf("written %d + corrupt %d != %d sent (want some of each): %q", written, corrupt, conns*each, out)
	}
	b, _ := os.ReadFile(filepath.Join(archive, "tcp1", time.Now().Format("2006-01-02")+".log"))
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != written {
		t.Fatalf("%d lines in the archive, %d written", len(lines), written)
	}
	prev := -1
	for i, l := range lines {
		var seq int
		if j := strings.Index(l, "seq="); j < 0 || func() bool { _, err := fmt.Sscanf(l[j:], "seq=%d ", &seq); return err != nil }() || seq <= prev {
			t.Fatalf("line %d (%.60q) is out of order or repeated after seq %d", i, l, prev)
		}
		prev = seq
	}
}

// pausedArchive opens receiver input (tcp or udp) on a free port of
// 127.0.0.1, routed to a paused file destination "arch" added with flags; it
// returns the archive directory and the port.
func pausedArchive(t *testing.T, d *daemon, input, proto, flags string) (string, int) {
	t.Helper()
	archive := t.TempDir()
	port := freePort(t)
	if proto == "udp" {
		port = freeUDPPort(t)
	}
	d.mustRun(t, "", fmt.Sprintf("syslog.open %s %d %s --bind 127.0.0.1\nforwarder.addOutput arch file %s %s\n"+
		"forwarder.pause arch\nroute.add %s arch\n", input, port, proto, archive, flags, input))
	return archive, port
}

// pacedSender writes seqLine(0), seqLine(1), ... over one new connection at
// about 20k lines/s (a backlog a loaded CI machine drains in time), n of
// them, or with n < 0 until the connection breaks. The channel gets how
// many it wrote and the error that stopped it (nil when all n went).
func pacedSender(t *testing.T, port, n int) (net.Conn, <-chan pacedResult) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan pacedResult, 1)
	go func() {
		i := 0
		for ; n < 0 || i < n; i++ {
			if _, err := fmt.Fprintf(c, "%s\n", seqLine(i)); err != nil {
				done <- pacedResult{i, err}
				return
			}
			if i%20 == 19 {
				time.Sleep(time.Millisecond)
			}
		}
		done <- pacedResult{i, nil}
	}()
	return c, done
}

type pacedResult struct {
	sent int
	err  error
}

// sendTCP sends n lines, line(i) each, over one new connection, then closes it.
func sendTCP(t *testing.T, port, n int, line func(i int) string) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		if _, err := fmt.Fprintf(c, "%s\n", line(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// outputFigure reads one name=N figure from forwarder.outputs.
func outputFigure(t *testing.T, d *daemon, name string) int {
	t.Helper()
	out := d.mustRun(t, "forwarder.outputs", "")
	for _, prefix := range []string{" ", "("} {
		if i := strings.Index(out, prefix+name+"="); i >= 0 {
			var v int
			fmt.Sscanf(out[i+len(prefix+name+"="):], "%d", &v)
			return v
		}
	}
	t.Fatalf("forwarder.outputs has no %s: %q", name, out)
	return 0
}

// noisy returns a message hard to compress, so a spool fills.
func noisy(rnd *rand.Rand, seq int) string {
	b := make([]byte, 400)
	for j := range b {
		b[j] = "0123456789abcdef"[rnd.IntN(16)]
	}
	return fmt.Sprintf("<13>Dec  2 10:00:00 host app: seq=%06d %s", seq, b)
}

// A full spool under each policy: drop-oldest sheds exactly what the
// counters say (delivered + dropped = sent); block holds the pipeline back
// and the UDP receiver's drops account for the rest. The daemon stays healthy.
func TestSpoolFullPolicies(t *testing.T) {
	for _, policy := range []string{"drop-oldest", "block"} {
		t.Run(policy, func(t *testing.T) {
			d := startDaemon(t, "").ready(t)
			archive, port := pausedArchive(t, d, "u1", "udp", "--buffer 256KiB --when-full "+policy)
			c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rnd := rand.New(rand.NewPCG(3, 4))
			// drop-oldest: about 2.4 MB of hard-to-compress text into a 256 KiB
			// spool. block: enough more to fill the pipeline's queue of batches
			// behind the full spool, so the receiver must drop.
			sent := 6000
			if policy == "block" {
				sent = 80000
			}
			for i := range sent {
				c.Write([]byte(noisy(rnd, i)))
				if i%500 == 499 {
					time.Sleep(time.Millisecond)
				}
			}
			waitUntil(t, func() bool { return udpAccounted(t, d) == sent })
			if policy == "drop-oldest" && outputFigure(t, d, "full") == 0 {
				t.Fatalf("a 256 KiB spool took %d events of 400 bytes without dropping", sent)
			}
			d.mustRun(t, "forwarder.resume arch", "")
			// Everything the receiver took is written, dropped full, or dropped by the receiver.
			var written, full, queueDrops int
			waitUntil(t, func() bool {
				written, full = outputFigure(t, d, "written"), outputFigure(t, d, "full")
				st := parseStatus(t, d.mustRun(t, "system.status --json", ""))
				queueDrops = int(st.number(t, "syslog", "dropped_total", "listener", "u1", "reason", "queue") + st.number(t, "syslog", "dropped_total", "listener", "u1", "reason", "kernel"))
				return outputFigure(t, d, "queued") == 0 && written+full+queueDrops >= sent
			})
			if written+full+queueDrops != sent {
				t.Errorf("%s: written %d + dropped full %d + receiver drops %d != %d sent", policy, written, full, queueDrops, sent)
			}
			if policy == "block" && (full != 0 || queueDrops == 0) {
				t.Errorf("block: dropped full %d (want 0), receiver drops %d (want some)", full, queueDrops)
			}
			if got := countLines(t, filepath.Join(archive, "u1")); got != written {
				t.Errorf("%d lines in the archive, %d written", got, written)
			}
			if out := d.mustRun(t, "system.status", ""); out == "" {
				t.Error("the daemon does not answer after the spool filled")
			}
		})
	}
}

// udpAccounted is what receiver u1 took in plus what it dropped.
func udpAccounted(t *testing.T, d *daemon) int {
	st := parseStatus(t, d.mustRun(t, "system.status --json", ""))
	return int(st.number(t, "syslog", "received_total", "listener", "u1") + st.number(t, "syslog", "dropped_total", "listener", "u1", "reason", "kernel"))
}

func countLines(t *testing.T, dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n += strings.Count(string(b), "\n")
	}
	return n
}

// A spool on a small tmpfs fills the disk: nothing crashes, what could not
// be spooled is counted as disk_full, and once the destination drains and
// space returns, spooling resumes without a restart.
func TestSpoolDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs: run the suite as root (CI does)")
	}
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	os.MkdirAll(spoolDir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", spoolDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", spoolDir).Run() })
	d := startDaemon(t, dir).ready(t)
	archive, port := pausedArchive(t, d, "u1", "udp", "--buffer 64MiB")
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rnd := rand.New(rand.NewPCG(5, 6))
	seq := 0
	send := func(n int) {
		for range n {
			c.Write([]byte(noisy(rnd, seq)))
			seq++
			if seq%200 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		want := seq
		waitUntil(t, func() bool { return udpAccounted(t, d) == want })
	}
	send(8000) // about 3.4 MB into a 1 MiB file system
	waitUntil(t, func() bool { return outputFigure(t, d, "disk_full") > 0 })
	if out := d.mustRun(t, "system.status", ""); out == "" {
		t.Fatal("the daemon does not answer with its disk full")
	}
	d.mustRun(t, "forwarder.resume arch", "")
	waitUntil(t, func() bool { return outputFigure(t, d, "queued") == 0 })
	full := outputFigure(t, d, "disk_full")
	// The sender, caught up, lets go of the segment it read (else a batch
	// may still meet the full disk while it holds the removed file open).
	time.Sleep(200 * time.Millisecond)
	send(500) // space is back: spooled and delivered again, without a restart
	waitUntil(t, func() bool {
		return outputFigure(t, d, "queued") == 0 && outputFigure(t, d, "written")+outputFigure(t, d, "disk_full") >= seq
	})
	if after := outputFigure(t, d, "disk_full"); after != full {
		t.Errorf("disk_full went from %d to %d after space returned", full, after)
	}
	written, dropped := outputFigure(t, d, "written"), outputFigure(t, d, "dropped")
	if written+dropped != seq {
		t.Errorf("written %d + dropped %d != %d sent", written, dropped, seq)
	}
	if got := countLines(t, filepath.Join(archive, "u1")); got != written {
		t.Errorf("%d lines in the archive, %d written", got, written)
	}
}

// SIGKILL while traffic flows, with the default sync interval: after a
// restart the output holds every message up to some point, with no hole
// before it (what was lost is a tail: in the kernel, or within the interval),
// and what came twice (the last second delivered again) is reported.
func TestKillUnderTrafficLeavesNoHoles(t *testing.T) {
	dir := t.TempDir()
	archive := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	port := freePort(t)
	d.mustRun(t, "", fmt.Sprintf("syslog.open tcp1 %d tcp --bind 127.0.0.1\nforwarder.addOutput arch file %s\nroute.add tcp1 arch\n", port, archive))
	c, sent := pacedSender(t, port, -1)
	waitUntil(t, func() bool { return outputFigure(t, d, "written") > 5000 })
	d.kill()
	c.Close()
	n := (<-sent).sent

	d2 := startDaemon(t, dir)
	for deadline := time.Now().Add(waitFor); outputFigure(t, d2, "queued") != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spool did not drain after the restart:\n%s\n%s", d2.mustRun(t, "forwarder.outputs", ""), d2.logs.String())
		}
	}
	seen := map[int]int{}
	maxSeq := -1
	files, _ := filepath.Glob(filepath.Join(archive, "tcp1", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var seq int
			if i := strings.Index(l, "seq="); i >= 0 {
				fmt.Sscanf(l[i:], "seq=%d", &seq)
				seen[seq]++
				maxSeq = max(maxSeq, seq)
			}
		}
	}
	dups := 0
	for seq := 0; seq <= maxSeq; seq++ {
		switch c := seen[seq]; {
		case c == 0:
			t.Fatalf("seq %d is missing below the highest delivered, %d: a hole, not a tail", seq, maxSeq)
		case c > 1:
			dups += c - 1
		}
	}
	// Duplicates are the spool's replay after the crash, and it counts them.
	if replayed := outputFigureOr0(t, d2, "replayed_at_start"); dups > replayed {
		t.Fatalf("%d delivered twice, but forwarder.outputs shows %d replayed_at_start:\n%s", dups, replayed, d2.mustRun(t, "forwarder.outputs", ""))
	}
	t.Logf("sent %d (the sender stopped when the connection broke), delivered 0..%d, lost tail %d, delivered twice %d (counted as possible: %d)",
		n, maxSeq, n-1-maxSeq, dups, outputFigureOr0(t, d2, "replayed_at_start"))
}

// A truncated segment and a cursor file of garbage at start: the daemon
// starts, the torn tail is cut, spool.verify reports the cursor, spool.repair
// sets it aside, and every whole record is delivered.
func TestTruncatedSegmentAndGarbageCursor(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	archive, port := pausedArchive(t, d, "tcp1", "tcp", "--sync always")
	const conns, each = 4, 50
	for k := range conns {
		sendTCP(t, port, each, func(i int) string { return fmt.Sprintf("<13>Dec  2 10:00:00 host app: seq=%05d", k*each+i) })
		waitUntil(t, func() bool { return outputFigure(t, d, "queued") == (k+1)*each })
	}
	d.stop()
	spoolDir := filepath.Join(dir, "spool", "arch")
	segs, _ := filepath.Glob(filepath.Join(spoolDir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	st, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], st.Size()-7); err != nil { // the last record cut short
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spoolDir, "cursor"), []byte(strings.Repeat("garbage!", 128)), 0o600); err != nil {
		t.Fatal(err)
	}

	d2 := startDaemon(t, dir)
	out := d2.mustRun(t, "spool.verify arch", "")
	if !strings.Contains(out, "bad: spool \"arch\": cursor offset 0: ") {
		t.Fatalf("spool.verify: %q", out)
	}
	if out := d2.mustRun(t, "spool.repair arch", ""); !strings.Contains(out, "set aside: ") {
		t.Fatalf("spool.repair: %q", out)
	}
	if out := d2.mustRun(t, "spool.verify arch", ""); !strings.Contains(out, "bad=0") {
		t.Errorf("spool.verify after the repair: %q", out)
	}
	queued := outputFigure(t, d2, "queued")
	if queued < (conns-1)*each || queued >= conns*each {
		t.Errorf("queued %d after cutting the last record: want the whole records before it", queued)
	}
	d2.mustRun(t, "forwarder.resume arch", "")
	waitUntil(t, func() bool { return outputFigure(t, d2, "queued") == 0 })
	if got := countLines(t, filepath.Join(archive, "tcp1")); got != queued {
		t.Errorf("%d lines delivered, %d were queued", got, queued)
	}
}

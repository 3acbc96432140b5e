package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const relayPW = "Relay-Pass-0001"

// core is a receiving Ferry: a relay listener on a free port, everything it
// receives written to an archive (route.add relay archive).
type core struct {
	*daemon
	port    int
	archive string
}

func startCore(t *testing.T, dir, archive string, port int) *core {
	t.Helper()
	d := startDaemon(t, dir).ready(t)
	d.mustRun(t, "", fmt.Sprintf("forwarder.setGuid core-%d\nforwarder.listen %d ferry-base ferry-ca --bind 127.0.0.1\n"+
		"forwarder.addOutput archive file %s\nroute.add relay archive\n", port, port, archive))
	return &core{daemon: d, port: port, archive: archive}
}

// restartCore starts a core again on its data dir (its records bring the listener back).
func restartCore(t *testing.T, c *core) *core {
	t.Helper()
	return &core{daemon: startDaemon(t, c.dir), port: c.port, archive: c.archive}
}

// edgeCredentials is the documented procedure's first half, on the core:
// a client certificate for the edge and the CA as a truststore, both
// copied into the edge's certificate directory.
func edgeCredentials(t *testing.T, c *core, edge *daemon) string {
	t.Helper()
	out := t.TempDir()
	c.mustRun(t, "", fmt.Sprintf("certs.issue %[1]s/sentry.pfx edge-sentry client\n%[2]s\ncerts.exportCa %[1]s/ca.jks\n%[2]s\n", out, relayPW))
	certDir := filepath.Join(edge.dir, "ca", "certs")
	for _, f := range []string{"ca.jks", "sentry.pfx"} {
		raw, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, "core-"+f), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`keystore.unregister ferry-ca
keystore.unregister ferry-sentry
keystore.register ferry-ca JKS %[1]s/core-ca.jks
%[2]s
keystore.register ferry-sentry PKCS12 %[1]s/core-sentry.pfx
%[2]s
`, certDir, relayPW)
}

// startEdge starts an edge with a tcp receiver that goes to base "core".
func startEdge(t *testing.T, dir string, c *core, baseFlags string) (*daemon, int) {
	t.Helper()
	edge := startDaemon(t, dir).ready(t)
	port := freePort(t)
	edge.mustRun(t, "", edgeCredentials(t, c, edge)+fmt.Sprintf("forwarder.setGuid edge-1\nsyslog.open tcp1 %d tcp --bind 127.0.0.1\n"+
		"forwarder.addBase core 127.0.0.1 %d ferry-sentry ferry-ca 1073741824 %s\n", port, c.port, baseFlags))
	return edge, port
}

// archived counts each seq=N in an archive's files of input.
func archived(t *testing.T, archive, input string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	files, _ := filepath.Glob(filepath.Join(archive, input, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.Index(l, "seq="); i >= 0 {
				var seq int
				fmt.Sscanf(l[i:], "seq=%d", &seq)
				seen[seq]++
			}
		}
	}
	return seen
}

func seqLine(i int) string { return fmt.Sprintf("<13>Dec  2 10:00:00 host app: seq=%07d", i) }

// baseFigure reads name=N from forwarder.bases' line for base.
func baseFigure(t *testing.T, d *daemon, base, name string) int {
	t.Helper()
	out := d.mustRun(t, "forwarder.bases", "")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "["+base+"]") {
			if m := regexp.MustCompile(`\b` + name + `=(\d+)`).FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n
			}
		}
	}
	t.Fatalf("forwarder.bases has no %s for %s:\n%s", name, base, out)
	return 0
}

// listenerFigure reads name=N from forwarder.listeners.
func listenerFigure(t *testing.T, d *daemon, name string) int {
	t.Helper()
	out := d.mustRun(t, "forwarder.listeners", "")
	m := regexp.MustCompile(`\b` + name + `=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("forwarder.listeners has no %s:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The guide's RPC connection and system-log procedure as one SSH batch on
// the edge, against a core set up as docs/operations.md says: syslog sent
// to the edge, and the edge's own log, arrive at the core's file output.
func TestRelayGuideProcedure(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edge := startDaemon(t, "").ready(t)
	port := freePort(t)
	batch := edgeCredentials(t, c, edge) + fmt.Sprintf(`syslog.open tcp1 %[1]d tcp --bind 127.0.0.1
forwarder.setGuid f1
forwarder.addBase control_1 127.0.0.1 %[2]d ferry-sentry ferry-ca 1073741824
forwarder.addBasePair control control_1 control_1
sentry.setGuid f1-sentry
sentry.addBase control 127.0.0.1 %[2]d ferry-sentry ferry-ca 10485760000
`, port, c.port)
	got := edge.mustRun(t, "", batch)
	if !strings.Contains(got, "base added") || !strings.Contains(got, "ok") {
		t.Fatalf("the batch said:\n%s", got)
	}
	// One base in a pair with itself: the guide's single-server form.
	bases := edge.mustRun(t, "forwarder.bases", "")
	if !strings.Contains(bases, "[control_1] base 127.0.0.1:") || !strings.Contains(bases, "state=in pair control") ||
		!strings.Contains(bases, "[control] pair control_1 + control_1, state=running") {
		t.Fatalf("forwarder.bases:\n%s", bases)
	}
	sendTCP(t, port, 500, seqLine)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) == 500 })
	for seq, n := range archived(t, c.archive, "tcp1") {
		if n != 1 {
			t.Fatalf("seq %d arrived %d times", seq, n)
		}
	}
	conns := edge.mustRun(t, "forwarder.connections", "")
	want := regexp.MustCompile(`(?m)^\[control_1\] id=\d+, peer=\(core-\d+, /127\.0\.0\.1:\d+\), ssl=true, props=\{phase=post_hello, ping_failure=\d+, type=pair`)
	if !strings.HasPrefix(conns, "Connections\n----") || !want.MatchString(conns) || !strings.Contains(conns, "type=sentry") {
		t.Fatalf("forwarder.connections:\n%s", conns)
	}
	// The edge's own log (its audit records of this very batch among them) at the core, as input ferry.
	waitUntil(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(c.archive, "ferry", "*.log"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "forwarder.addBasePair") {
				return true
			}
		}
		return false
	})
	if got := c.mustRun(t, "forwarder.listeners", ""); !strings.Contains(got, "state=listening, connections=2,") {
		t.Errorf("forwarder.listeners on the core:\n%s", got)
	}
	// The same figures in the status model (/metrics, /api/status, the console).
	cst := parseStatus(t, c.mustRun(t, "system.status --json", ""))
	if cst.number(t, "relay", "connections", "listener", fmt.Sprintf("relay-%d", c.port)) != 2 ||
		cst.number(t, "relay", "stored_total", "listener", fmt.Sprintf("relay-%d", c.port)) < 500 {
		t.Errorf("the core's relay status section is not right")
	}
	est := parseStatus(t, edge.mustRun(t, "system.status --json", ""))
	if est.number(t, "sentry", "log_records_total") == 0 || est.number(t, "sentry", "log_dropped_total", "reason", "buffer_full") != 0 {
		t.Errorf("the edge's sentry section is not right")
	}
	if est.number(t, "output", "relay_acknowledged_total", "destination", "control") != 500 ||
		est.number(t, "output", "relay_up", "destination", "control", "base", "control_1") != 1 {
		t.Errorf("the edge's output status section is not right")
	}
}

// The base is down (the core stopped) for longer than any timeout the
// sender has (its backoff tops out at 10 s): everything sent meanwhile
// waits in the edge's spool, and arrives once, in order, when it is back.
func TestRelayBaseDownThenUp(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edge, port := startEdge(t, "", c, "")
	sendTCP(t, port, 100, seqLine)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) == 100 })
	c.stop()
	sendTCP(t, port, 2000, func(i int) string { return seqLine(100 + i) })
	waitUntil(t, func() bool { return baseFigure(t, edge, "core", "queued") == 2000 })
	time.Sleep(12 * time.Second)
	if out := edge.mustRun(t, "forwarder.bases", ""); !strings.Contains(out, "queued=2000,") || !strings.Contains(out, "last error: ") {
		t.Fatalf("forwarder.bases while the base is down:\n%s", out)
	}
	restartCore(t, c)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) == 2100 })
	for seq, n := range archived(t, c.archive, "tcp1") {
		if n != 1 {
			t.Fatalf("seq %d arrived %d times", seq, n)
		}
	}
	waitUntil(t, func() bool { return baseFigure(t, edge, "core", "queued") == 0 })
}

// kill -9 of the edge while traffic flows, with the default sync interval:
// after a restart, nothing arrives twice at the core (it suppresses what
// the edge resends), and what arrived has no holes but a tail.
func TestRelayEdgeKilledNoDuplicates(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edgeDir := t.TempDir()
	edge, port := startEdge(t, edgeDir, c, "")
	conn, sent := pacedSender(t, port, -1)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) > 5000 })
	edge.kill()
	conn.Close()
	n := (<-sent).sent
	edge2 := startDaemon(t, edgeDir)
	waitUntil(t, func() bool { return baseFigure(t, edge2, "core", "queued") == 0 })
	time.Sleep(500 * time.Millisecond) // the core's file output writes what it took
	seen := archived(t, c.archive, "tcp1")
	maxSeq := -1
	for seq, k := range seen {
		maxSeq = max(maxSeq, seq)
		if k > 1 {
			t.Errorf("seq %d arrived %d times", seq, k)
		}
	}
	for seq := 0; seq <= maxSeq; seq++ {
		if seen[seq] == 0 {
			t.Fatalf("seq %d is missing below the highest delivered, %d", seq, maxSeq)
		}
	}
	t.Logf("sent %d, delivered 0..%d once each, lost tail %d (within the edge's sync interval), suppressed at the core %d",
		n, maxSeq, n-1-maxSeq, listenerFigure(t, c.daemon, "duplicates_suppressed"))
}

// With sync always, what the edge reported spooled survives kill -9 of the
// edge: paused, N spooled, killed, restarted, resumed: all N arrive once.
func TestRelayEdgeKilledSyncAlways(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edgeDir := t.TempDir()
	edge, port := startEdge(t, edgeDir, c, "--sync always")
	edge.mustRun(t, "forwarder.pause core", "")
	const n = 3000
	sendTCP(t, port, n, seqLine)
	waitUntil(t, func() bool { return baseFigure(t, edge, "core", "queued") == n })
	edge.kill()
	edge2 := startDaemon(t, edgeDir)
	edge2.mustRun(t, "forwarder.resume core", "")
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) == n })
	for seq, k := range archived(t, c.archive, "tcp1") {
		if k != 1 || seq >= n {
			t.Fatalf("seq %d arrived %d times", seq, k)
		}
	}
}

// kill -9 of the core while batches are in flight: the edge sends again
// what was not acknowledged; nothing is lost, and what arrives twice can
// only be the core's own replay, which it counts (replayed_at_start).
func TestRelayCoreKilled(t *testing.T) {
	coreDir := t.TempDir()
	c := startCore(t, coreDir, t.TempDir(), freePort(t))
	_, port := startEdge(t, "", c, "")
	const n = 60000
	conn, done := pacedSender(t, port, n)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) > 5000 })
	c.kill()
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	conn.Close()
	c2 := restartCore(t, c)
	waitUntil(t, func() bool { return len(archived(t, c.archive, "tcp1")) == n })
	time.Sleep(500 * time.Millisecond)
	dups := 0
	for _, k := range archived(t, c.archive, "tcp1") {
		dups += k - 1
	}
	replayed := listenerFigure(t, c2.daemon, "replayed_at_start") + outputFigureOr0(t, c2.daemon, "replayed_at_start")
	if dups > replayed {
		t.Fatalf("%d events arrived twice, but the core counted only %d it may have replayed:\n%s", dups, replayed, c2.mustRun(t, "forwarder.outputs", ""))
	}
	t.Logf("%d events, none lost; %d written twice by the core's own replay (it counted %d possible)", n, dups, replayed)
}

// Certificates that do not match: the edge keeps its own generated CA and
// client certificate, so neither side trusts the other. forwarder.bases and
// the log say so in the guide's words, and nothing wedges.
func TestRelayForeignCA(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edge := startDaemon(t, "").ready(t)
	edge.mustRun(t, "", fmt.Sprintf("forwarder.addBase core 127.0.0.1 %d ferry-sentry ferry-ca 1048576\n", c.port))
	waitUntil(t, func() bool {
		return strings.Contains(edge.mustRun(t, "forwarder.bases", ""), "No trusted certificate found")
	})
	waitUntil(t, func() bool { return strings.Contains(edge.logs.String(), "No trusted certificate found") })
	if got := c.mustRun(t, "forwarder.listeners", ""); !strings.Contains(got, "refused=") || strings.Contains(got, "refused=0,") {
		t.Fatalf("the core does not count the refused handshake:\n%s", got)
	}
	// Registering the right credentials mends it without a restart.
	edge.mustRun(t, "", edgeCredentials(t, c, edge))
	waitUntil(t, func() bool { return strings.Contains(edge.mustRun(t, "forwarder.connections", ""), "[core] id=") })
}

// outputFigureOr0 reads name=N from forwarder.outputs, 0 when it is not shown.
func outputFigureOr0(t *testing.T, d *daemon, name string) int {
	t.Helper()
	m := regexp.MustCompile(`\b` + name + `=(\d+)`).FindStringSubmatch(d.mustRun(t, "forwarder.outputs", ""))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A base pair over two cores: the load spreads over both; kill -9 of the
// one carrying traffic, and the other takes what it had not acknowledged.
// What a had acknowledged is in its intake spool: once it is back, every
// event has arrived, at one core or the other.
func TestRelayPairFailover(t *testing.T) {
	a := startCore(t, "", t.TempDir(), freePort(t))
	b := startCore(t, "", t.TempDir(), freePort(t))
	// Both cores must trust the edge's certificate: b's listener trusts a's CA too.
	edge := startDaemon(t, "").ready(t)
	port := freePort(t)
	creds := edgeCredentials(t, a, edge)
	out := t.TempDir()
	a.mustRun(t, "", fmt.Sprintf("certs.exportCa %s/a-ca.jks\n%s\n", out, relayPW))
	// b: trust a's CA for clients (keystore ferry-ca-a), and serve a certificate a's CA issued.
	a.mustRun(t, "", fmt.Sprintf("certs.issue %[1]s/b-base.pfx 127.0.0.1 server\n%[2]s\n", out, relayPW))
	b.mustRun(t, "", fmt.Sprintf("keystore.register ferry-ca-a JKS %[1]s/a-ca.jks\n%[2]s\nkeystore.register ferry-base-a PKCS12 %[1]s/b-base.pfx\n%[2]s\n"+
		"forwarder.listen %[3]d ferry-base-a ferry-ca-a --bind 127.0.0.1\n", out, relayPW, b.port))
	edge.mustRun(t, "", creds+fmt.Sprintf(`syslog.open tcp1 %d tcp --bind 127.0.0.1
forwarder.addBase a 127.0.0.1 %d ferry-sentry ferry-ca 1073741824
forwarder.addBase b 127.0.0.1 %d ferry-sentry ferry-ca 1073741824
forwarder.addBasePair ab a b
`, port, a.port, b.port))
	for deadline := time.Now().Add(waitFor); strings.Count(edge.mustRun(t, "forwarder.connections", ""), "type=pair") != 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pair's connections are not both up:\n%s\n%s", edge.mustRun(t, "forwarder.bases", ""), b.mustRun(t, "forwarder.listeners", ""))
		}
	}
	const n = 40000
	conn, done := pacedSender(t, port, n)
	waitUntil(t, func() bool {
		return len(archived(t, a.archive, "tcp1")) > 3000 && len(archived(t, b.archive, "tcp1")) > 3000
	})
	a.kill()
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	conn.Close()
	all := func() map[int]int {
		m := archived(t, a.archive, "tcp1")
		for seq, k := range archived(t, b.archive, "tcp1") {
			m[seq] += k
		}
		return m
	}
	waitUntil(t, func() bool { return baseFigure(t, edge, "ab", "queued") == 0 })
	if got := edge.mustRun(t, "forwarder.bases", ""); !strings.Contains(got, "a=failed: ") || !strings.Contains(got, "b=up") {
		t.Errorf("forwarder.bases after a was killed:\n%s", got)
	}
	restartCore(t, a)
	for deadline := time.Now().Add(waitFor); len(all()) != n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events arrived:\n%s\n%s", len(all()), n, edge.mustRun(t, "forwarder.bases", ""), b.mustRun(t, "forwarder.listeners", ""))
		}
	}
	resent := baseFigure(t, edge, "ab", "resent")
	dups := 0
	for _, k := range all() {
		dups += k - 1
	}
	t.Logf("%d events at a or b, none missing; %d at both (resent on failover: %d)", n, dups, resent)
}

// The keystore file behind ferry-sentry is replaced by one with another
// password, and ferryd restarts: the base shows the guide's line, the log
// says it, and registering the file with its password mends it live.
func TestRelayWrongKeystorePassword(t *testing.T) {
	c := startCore(t, "", t.TempDir(), freePort(t))
	edgeDir := t.TempDir()
	edge, _ := startEdge(t, edgeDir, c, "")
	waitUntil(t, func() bool { return strings.Contains(edge.mustRun(t, "forwarder.connections", ""), "[core] id=") })
	out := t.TempDir()
	const otherPW = "Other-Pass-0002"
	c.mustRun(t, "", fmt.Sprintf("certs.issue %s/other.pfx edge-sentry client\n%s\n", out, otherPW))
	edge.stop()
	raw, err := os.ReadFile(filepath.Join(out, "other.pfx"))
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(edgeDir, "ca", "certs", "core-sentry.pfx")
	if err := os.WriteFile(target, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	edge2 := startDaemon(t, edgeDir)
	waitUntil(t, func() bool {
		return strings.Contains(edge2.mustRun(t, "forwarder.bases", ""), "keystore password was incorrect")
	})
	if !strings.Contains(edge2.logs.String(), "keystore password was incorrect") {
		t.Fatalf("the daemon log does not say it:\n%s", edge2.logs.String())
	}
	edge2.mustRun(t, "", fmt.Sprintf("keystore.unregister ferry-sentry\nkeystore.register ferry-sentry PKCS12 %s\n%s\n", target, otherPW))
	waitUntil(t, func() bool { return strings.Contains(edge2.mustRun(t, "forwarder.connections", ""), "[core] id=") })
}

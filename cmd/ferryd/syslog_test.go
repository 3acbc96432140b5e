package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/certs"
)

// The guide's Syslog 수신 진단 view: a receiver opened live, a real logger
// message counted in syslog.servers, a busy port failing cleanly while the rest
// runs, and the receivers back after a restart.
func TestSyslogReceiversLive(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	port := strconv.Itoa(freeUDPPort(t))
	out := d.mustRun(t, "syslog.open udp1 "+port+" udp --bind 127.0.0.1 --readers 2", "")
	if !strings.Contains(out, "[udp1] 127.0.0.1:"+port+" (udp), charset=UTF-8, rx_buf_size=") || !strings.Contains(out, "readers=2, state=listening") {
		t.Fatalf("syslog.open: %q", out)
	}
	for i := range 3 {
		if b, err := exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", port, "-t", "ferrytest", "message "+strconv.Itoa(i)).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v\n%s", err, b)
		}
	}
	waitUntil(t, func() bool { return strings.Contains(d.mustRun(t, "syslog.servers", ""), "received=3,") })
	if stats := d.mustRun(t, "syslog.stats udp1", ""); !strings.HasPrefix(stats, "127.0.0.1 => 3 (first seen ") {
		t.Errorf("syslog.stats: %q", stats)
	}

	// A port held by another socket: the receiver fails, nothing is saved, the rest runs.
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.LocalAddr().String())
	r := d.openssh(t, "root", changedPassword, "", "syslog.open udp2 "+takenPort+" udp --bind 127.0.0.1")
	if r.code != 1 || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("syslog.open on a taken port: exit %d, %q", r.code, r.stderr)
	}
	if list := d.mustRun(t, "syslog.servers", ""); strings.Contains(list, "udp2") || !strings.Contains(list, "[udp1]") {
		t.Errorf("after the failed open: %s", list)
	}
	d.stop()

	// Back after a restart; a receiver whose port is now taken is failed and listed.
	hold, err := net.ListenPacket("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, dir)
	list := d2.mustRun(t, "syslog.servers", "")
	if !strings.Contains(list, "[udp1] 127.0.0.1:"+port+" (udp)") || !strings.Contains(list, "state=failed: 127.0.0.1:"+port+": address already in use") {
		t.Errorf("after a restart with the port taken: %s", list)
	}
	hold.Close()
	d2.mustRun(t, "syslog.open udp1 "+port+" udp --bind 127.0.0.1", "")
	exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", port, "again").Run()
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "syslog.servers", ""), "received=1,") })
	// The pipeline has no destination yet: the events are counted, not lost silently.
	st := parseStatus(t, d2.mustRun(t, "system.status --json", ""))
	if n := st.number(t, "pipeline", "unrouted_total"); n < 1 {
		t.Errorf("pipeline unrouted_total = %v", n)
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// TCP with logger in both framings, and RFC 5425 TLS with a client
// certificate required: what the keystore registry holds serves the handshake.
func TestSyslogTCPAndTLS(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	tcpPort, tlsPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	d.mustRun(t, "syslog.open tcp1 "+tcpPort+" tcp --bind 127.0.0.1", "")
	for _, extra := range [][]string{{"--tcp"}, {"--tcp", "--octet-count"}} {
		args := append([]string{"--server", "127.0.0.1", "--port", tcpPort}, extra...)
		if b, err := exec.Command("logger", append(args, "over tcp")...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", extra, err, b)
		}
	}
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "syslog.servers", ""), "(tcp), charset=UTF-8, rx_buf_size=0, readers=0, state=listening, received=2,")
	})

	dir := t.TempDir()
	d.mustRun(t, "", "certs.issue "+dir+"/client.pfx sender client\nClient-Pass-1\ncerts.exportCa "+dir+"/ca.pem\n")
	d.mustRun(t, "syslog.open tls1 "+tlsPort+" tls --bind 127.0.0.1 --key ferry-web --trust ferry-ca", "")
	ks, err := certs.Load(dir+"/client.pfx", certs.PKCS12, []byte("Client-Pass-1"))
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := ks.KeyPair()
	caPEM, _ := os.ReadFile(dir + "/ca.pem")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	send := func(client []tls.Certificate) error {
		c, err := tls.Dial("tcp", "127.0.0.1:"+tlsPort, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: client})
		if err != nil {
			return err
		}
		defer c.Close()
		msg := "<13>1 - - tlsapp - - - over tls"
		if _, err := fmt.Fprintf(c, "%d %s", len(msg), msg); err != nil {
			return err
		}
		// A refused client certificate shows on the first read (TLS 1.3).
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return err
	}
	if err := send([]tls.Certificate{kp.TLSCertificate()}); err != nil {
		t.Fatalf("TLS send with a client certificate: %v", err)
	}
	if err := send(nil); err == nil {
		t.Error("a TLS client without a certificate was served")
	}
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "syslog.servers", ""), "(tls), charset=UTF-8, rx_buf_size=0, readers=0, state=listening, received=1,")
	})
}

// syslog.trace over a real PTY while traffic flows: matching lines appear, a
// filtered one does not, Ctrl-C ends it and the shell goes on.
func TestSyslogTraceOverPTY(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	port := strconv.Itoa(freeUDPPort(t))
	d.mustRun(t, "syslog.open udp1 "+port+" udp --bind 127.0.0.1", "")
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	tm.send("syslog.trace udp1 --grep keep --from 127.0.0.0/8\r")
	tm.expect("press ctrl-c to stop")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", port, "-t", "app", "skip "+strconv.Itoa(i)).Run()
			exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", port, "-t", "app", "keep "+strconv.Itoa(i)).Run()
		}
	}()
	out := tm.expect("] keep ")
	out += tm.expect("] keep ")
	close(stop)
	<-done
	tm.send(keyCtrlC)
	rest := tm.expect(promptFor("root"))
	if strings.Contains(out+rest, "skip ") {
		t.Errorf("the trace showed a line --grep excludes:\n%s%s", out, rest)
	}
	if !strings.Contains(out, "127.0.0.1:") {
		t.Errorf("trace lines lack the source: %q", out)
	}
	tm.send("syslog.servers\r")
	tm.expect("[udp1]")
}

// make run's first boot: syslog on high ports into files under the data dir.
// The test runs scripts/dev-bootstrap.ferry with its ports moved to free ones.
func TestDevBootstrapArchivesLogger(t *testing.T) {
	raw, err := os.ReadFile("../../scripts/dev-bootstrap.ferry")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := dir + "/archive"
	udp, traps, web := strconv.Itoa(freeUDPPort(t)), strconv.Itoa(freeUDPPort(t)), strconv.Itoa(freePort(t))
	boot := strings.NewReplacer("@ARCHIVE@", archive, "5514", udp, "5162", traps, "8443", web).Replace(string(raw))
	bootFile := t.TempDir() + "/boot.ferry"
	os.WriteFile(bootFile, []byte(boot), 0o600)
	d := startDaemon(t, dir+"/data", "--bootstrap", bootFile).ready(t)
	if b, err := exec.Command("logger", "-n", "127.0.0.1", "-P", udp, "-d", "hello from logger").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, b)
	}
	path := archive + "/dev/" + time.Now().Format("2006-01-02") + ".log"
	waitUntil(t, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "hello from logger")
	})
	if out := d.mustRun(t, "forwarder.outputs", ""); !strings.Contains(out, "[archive] file "+archive+", state=running, in=1, written=1, errors=0") {
		t.Errorf("forwarder.outputs: %q", out)
	}
	if out := d.mustRun(t, "route.list", ""); strings.TrimSpace(out) != "* -> archive" {
		t.Errorf("route.list: %q", out)
	}
}

// Filters by CIDR and by regular expression, routes and a file destination
// rotated by size, all set live, and all back after a restart.
func TestFiltersRoutesAndRotationLive(t *testing.T) {
	dir := t.TempDir()
	archive := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	port := freeUDPPort(t)
	d.mustRun(t, "", strings.Join([]string{
		"syslog.open fw " + strconv.Itoa(port) + " udp --bind 127.0.0.1",
		"forwarder.addOutput arch file " + archive + " --max-size 2KiB",
		"route.add fw arch",
		`filter.add lab fw drop 'cidr(source, "127.0.0.2/32")'`,
		`filter.add chatter * drop 'message matches "^debug: [0-9]+$"'`,
	}, "\n")+"\n")
	if out := d.mustRun(t, "filter.list", ""); out != "[lab] input=fw, drop 'cidr(source, \"127.0.0.2/32\")', dropped=0\n"+
		"[chatter] input=*, drop 'message matches \"^debug: [0-9]+$\"', dropped=0\n" {
		t.Fatalf("filter.list: %q", out)
	}
	// From 127.0.0.1: kept unless it is chatter. From 127.0.0.2: dropped.
	send := func(from string, msgs ...string) {
		t.Helper()
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, m := range msgs {
			if _, err := c.Write([]byte("<13>Dec  2 10:00:00 host app: " + m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var kept []string
	for i := range 40 {
		kept = append(kept, fmt.Sprintf("kept %02d %s", i, strings.Repeat("x", 80)))
	}
	send("127.0.0.1", kept[:20]...)
	send("127.0.0.1", "debug: 1", "debug: 22")
	send("127.0.0.2", "from the lab", "debug: 3")
	send("127.0.0.1", kept[20:]...)
	waitUntil(t, func() bool { return strings.Contains(d.mustRun(t, "forwarder.outputs", ""), "written=40,") })
	want := "[lab] input=fw, drop 'cidr(source, \"127.0.0.2/32\")', dropped=2\n" +
		"[chatter] input=*, drop 'message matches \"^debug: [0-9]+$\"', dropped=2\n"
	if out := d.mustRun(t, "filter.list", ""); out != want {
		t.Errorf("filter.list after traffic: %q", out)
	}
	// 40 lines of ~120 bytes past a 2 KiB limit: the day's file and rotated ones.
	day := time.Now().Format("2006-01-02")
	files, _ := filepath.Glob(archive + "/fw/" + day + "*.log")
	if len(files) < 2 {
		t.Errorf("no rotation by size: %v", files)
	}
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	for _, m := range kept {
		if strings.Count(all.String(), m) != 1 {
			t.Errorf("%q is in the archive %d times", m[:7], strings.Count(all.String(), m))
		}
	}
	if strings.Contains(all.String(), "debug: ") || strings.Contains(all.String(), "from the lab") {
		t.Errorf("a filtered message reached the archive:\n%s", all.String())
	}
	st := parseStatus(t, d.mustRun(t, "system.status --json", ""))
	if n := st.number(t, "filter", "dropped_total", "filter", "lab"); n != 2 {
		t.Errorf("ferry_filter_dropped_total{filter=lab} = %v", n)
	}
	d.stop()

	// Back after a restart: the same filters apply to new traffic.
	d2 := startDaemon(t, dir)
	if out := d2.mustRun(t, "route.list", ""); out != "fw -> arch\n" {
		t.Errorf("route.list after a restart: %q", out)
	}
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "syslog.servers", ""), "state=listening") })
	send("127.0.0.2", "lab again")
	send("127.0.0.1", "debug: 4", "after restart")
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), "written=1,") })
	if out := d2.mustRun(t, "filter.list", ""); !strings.Contains(out, "[lab] input=fw, drop 'cidr(source, \"127.0.0.2/32\")', dropped=1\n") ||
		!strings.Contains(out, "[chatter] input=*, drop 'message matches \"^debug: [0-9]+$\"', dropped=1\n") {
		t.Errorf("filter.list after a restart: %q", out)
	}
	d2.mustRun(t, "filter.remove lab", "")
	send("127.0.0.2", "lab unfiltered")
	waitUntil(t, func() bool { return strings.Contains(d2.mustRun(t, "forwarder.outputs", ""), "written=2,") })
}

// The appliance's own first boot: the default receivers on 514 that cannot
// bind (no privilege, or, as root, a port another daemon holds) are kept as
// failed with the reason, ferryd runs on, and they listen at the first start
// that can bind them.
func TestDefaultReceiversKeptWhenTheyCannotBind(t *testing.T) {
	var hold []io.Closer
	if os.Geteuid() == 0 {
		u, err := net.ListenPacket("udp", ":514")
		if err != nil {
			t.Fatalf("holding udp 514: %v", err)
		}
		l, err := net.Listen("tcp", ":514")
		if err != nil {
			t.Fatalf("holding tcp 514: %v", err)
		}
		tr, err := net.ListenPacket("udp", ":162")
		if err != nil {
			t.Fatalf("holding udp 162: %v", err)
		}
		hold = append(hold, u, l, tr)
	}
	boot := strings.Replace(string(defaultBootstrap), "httpd.openSsl 8443 webconsole ferry-web",
		"httpd.openSsl "+strconv.Itoa(freePort(t))+" webconsole ferry-web --bind 127.0.0.1", 1)
	bootFile := t.TempDir() + "/boot.ferry"
	os.WriteFile(bootFile, []byte(boot), 0o600)
	dir := t.TempDir()
	d := startDaemon(t, dir, "--bootstrap", bootFile).ready(t)
	reason := "address already in use"
	if os.Geteuid() != 0 {
		reason = "permission denied (run as root or grant CAP_NET_BIND_SERVICE)"
	}
	list := d.mustRun(t, "syslog.servers", "")
	for _, want := range []string{"[default] 0.0.0.0:514 (udp), charset=UTF-8", "[default-tcp] 0.0.0.0:514 (tcp), charset=UTF-8"} {
		i := strings.Index(list, want)
		if i < 0 {
			t.Fatalf("syslog.servers lacks %q:\n%s", want, list)
		}
		if line, _, _ := strings.Cut(list[i:], "\n"); !strings.Contains(line, "state=failed: ") || !strings.Contains(line, reason) {
			t.Errorf("want failed: ...%s in %q", reason, line)
		}
	}
	if traps := d.mustRun(t, "snmptrap.servers", ""); !strings.HasPrefix(traps, "[traps] 0.0.0.0:162 (udp), state=failed: ") || !strings.Contains(traps, reason) {
		t.Errorf("snmptrap.servers: %q", traps)
	}
	// An operator's own syslog.open on such a port is refused and saves nothing.
	if r := d.openssh(t, "root", changedPassword, "", "syslog.open mine 514 udp"); r.code != 1 || !strings.Contains(r.stderr, reason) {
		t.Errorf("syslog.open on 514: exit %d, %q", r.code, r.stderr)
	}
	if os.Geteuid() != 0 {
		return // the rest needs the port
	}
	d.stop()
	for _, h := range hold {
		h.Close()
	}
	d2 := startDaemon(t, dir)
	waitUntil(t, func() bool {
		return strings.Count(d2.mustRun(t, "syslog.servers", ""), "state=listening") == 2 &&
			strings.Contains(d2.mustRun(t, "snmptrap.servers", ""), "state=listening")
	})
	if out, err := exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", "514", "to the default").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, out)
	}
	waitUntil(t, func() bool {
		return strings.Contains(d2.mustRun(t, "syslog.servers", ""), "[default] 0.0.0.0:514 (udp), charset=UTF-8, rx_buf_size=") &&
			strings.Contains(d2.mustRun(t, "syslog.servers", ""), "received=1,")
	})
}

// 1,000 TCP connections at once through the daemon, from four loopback
// addresses (under the per-source cap): each message reaches the file output
// once, syslog.servers counts the open connections, and they all end.
func TestThousandTCPConnectionsLive(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	archive := t.TempDir()
	port := freePort(t)
	d.mustRun(t, "", fmt.Sprintf("syslog.open many %d tcp --bind 127.0.0.1\nforwarder.addOutput arch file %s\nroute.add many arch\n", port, archive))
	const conns, each = 1000, 3
	open := make([]net.Conn, conns)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%4))}
			c, err := (&net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}).Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				errs <- err
				return
			}
			open[i] = c
			for j := range each {
				if _, err := fmt.Fprintf(c, "<13>Dec  2 10:00:00 host app: conn %04d msg %d\n", i, j); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		out := d.mustRun(t, "syslog.servers", "")
		return strings.Contains(out, fmt.Sprintf("readers=%d, state=listening, received=%d,", conns, conns*each))
	})
	for _, c := range open {
		c.Close()
	}
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "syslog.servers", ""), fmt.Sprintf("readers=0, state=listening, received=%d,", conns*each))
	})
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "forwarder.outputs", ""), fmt.Sprintf("written=%d,", conns*each))
	})
	b, err := os.ReadFile(archive + "/many/" + time.Now().Format("2006-01-02") + ".log")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		_, msg, _ := strings.Cut(line, "app: ")
		seen[msg]++
	}
	for i := range conns {
		for j := range each {
			if m := fmt.Sprintf("conn %04d msg %d", i, j); seen[m] != 1 {
				t.Fatalf("%q is in the file %d times", m, seen[m])
			}
		}
	}
}

package main

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
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

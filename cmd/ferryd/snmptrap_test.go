package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// SNMP traps from Debian's snmptrap, through the daemon: the right community
// reaches the file output as one line naming the trap and its varbinds, a
// wrong one is counted, and the community is never shown, exported or logged.
func TestSNMPTrapsLive(t *testing.T) {
	if _, err := exec.LookPath("snmptrap"); err != nil {
		t.Fatal("snmptrap (Debian package snmp) is not installed: make test-deps installs it")
	}
	d := startDaemon(t, "").ready(t)
	archive := t.TempDir()
	port := freeUDPPort(t)
	d.mustRun(t, "", fmt.Sprintf("snmptrap.open traps %d --bind 127.0.0.1 --community Wh1sper-C0mm\n"+
		"forwarder.addOutput arch file %s\nroute.add traps arch\n", port, archive))
	trap := func(community string, extra ...string) {
		t.Helper()
		args := append([]string{"-v", "2c", "-c", community, "-m", "", fmt.Sprintf("127.0.0.1:%d", port), "",
			"1.3.6.1.4.1.8072.2.3.0.1", "1.3.6.1.2.1.2.2.1.2.1", "s", "eth0 link down"}, extra...)
		cmd := exec.Command("snmptrap", args...)
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("snmptrap: %v\n%s", err, out)
		}
	}
	trap("Wh1sper-C0mm")
	trap("public")
	waitUntil(t, func() bool {
		return strings.Contains(d.mustRun(t, "snmptrap.servers", ""), "received=1, dropped=1 (queue=0, malformed=0, community=1)")
	})
	out := d.mustRun(t, "snmptrap.servers", "")
	if !strings.HasPrefix(out, fmt.Sprintf("[traps] 127.0.0.1:%d (udp), state=listening, received=1,", port)) {
		t.Errorf("snmptrap.servers: %q", out)
	}
	if list := d.mustRun(t, "syslog.servers", ""); strings.Contains(list, "[traps]") {
		t.Errorf("syslog.servers lists the trap receiver: %q", list)
	}
	if stats := d.mustRun(t, "snmptrap.stats traps", ""); !strings.HasPrefix(stats, "127.0.0.1 => 1 (first seen ") {
		t.Errorf("snmptrap.stats: %q", stats)
	}
	path := archive + "/traps/" + time.Now().Format("2006-01-02") + ".log"
	waitUntil(t, func() bool { b, _ := os.ReadFile(path); return len(b) > 0 })
	b, _ := os.ReadFile(path)
	line := strings.TrimSpace(string(b))
	for _, want := range []string{"trap=1.3.6.1.4.1.8072.2.3.0.1", "1.3.6.1.2.1.2.2.1.2.1=", "eth0 link down", "127.0.0.1"} {
		if !strings.Contains(line, want) {
			t.Errorf("the trap's line lacks %q: %q", want, line)
		}
	}
	if strings.Count(string(b), "\n") != 1 {
		t.Errorf("want one line for one trap:\n%s", b)
	}
	// The syslog commands refuse a trap receiver by name, and the other way round.
	if r := d.openssh(t, "root", changedPassword, "", "syslog.close traps"); r.code != 1 || !strings.Contains(r.stderr, "snmptrap receiver") {
		t.Errorf("syslog.close on a trap receiver: exit %d, %q", r.code, r.stderr)
	}
	for _, where := range []string{d.mustRun(t, "confdb.export", ""), d.mustRun(t, "snmptrap.servers --json", ""), d.logs.String()} {
		if strings.Contains(where, "Wh1sper-C0mm") {
			t.Fatal("the community is shown, exported or logged")
		}
	}
	log, _ := os.ReadFile(d.dir + "/log/ferry.log")
	if strings.Contains(string(log), "Wh1sper-C0mm") {
		t.Fatal("the daemon log carries the community")
	}
	d.mustRun(t, "snmptrap.close traps", "")
	if out := d.mustRun(t, "snmptrap.servers", ""); out != "" {
		t.Errorf("after snmptrap.close: %q", out)
	}
}

package snmptrap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/event/eventtest"
	"github.com/ferry-appliance/ferry/net/syslog"
)

type sink = eventtest.Sink

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, cfg Config) *Receiver {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "traps"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Pool == nil {
		cfg.Pool = event.NewPool(64, 1<<20)
	}
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// netsnmp runs one of Debian's net-snmp tools (package snmp) with no MIBs
// and no configuration but its own.
func netsnmp(t *testing.T, tool string, args ...string) ([]byte, error) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: these tests need the real net-snmp client (apt-get install snmp): %v", tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-m", ""}, args...)...)
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir, "MIBS=")
	return cmd.CombinedOutput()
}

// The examples of the brief: a v2c trap and a v1 enterprise-specific trap.
var (
	v2cTrap = []string{"-v 2c -c public", "", "1.3.6.1.4.1.8072.2.3.0.1",
		"1.3.6.1.4.1.8072.2.3.2.1", "i", "42", "1.3.6.1.2.1.2.2.1.2.1", "s", "eth0 link down"}
	v1Trap = []string{"-v 1 -c public", "1.3.6.1.4.1.8072.2.3", "127.0.0.1", "6", "17", "",
		"1.3.6.1.4.1.8072.2.3.2.1", "i", "7"}
)

// trapArgs turns one of the lists above into arguments: the options (split
// at spaces, the community replaced when asked), then the address, then the
// rest.
func trapArgs(list []string, community, addr string) []string {
	opts := strings.Fields(list[0])
	if community != "" {
		opts[len(opts)-1] = community
	}
	return append(append(opts, addr), list[1:]...)
}

func run(t *testing.T, tool string, list []string, community, addr string) ([]byte, error) {
	t.Helper()
	return netsnmp(t, tool, trapArgs(list, community, addr)...)
}

func mustRun(t *testing.T, tool string, list []string, community, addr string) {
	t.Helper()
	if out, err := run(t, tool, list, community, addr); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

const stampRE = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`

func TestV2cTrapFromSnmptrap(t *testing.T) {
	s := &sink{}
	sources := syslog.NewSources(0)
	r := start(t, Config{Sink: s, Sources: sources})
	mustRun(t, "snmptrap", v2cTrap, "", r.Addr())
	waitFor(t, "the trap", func() bool { return s.Count() == 1 })
	line := s.Messages()[0]
	t.Logf("v2c event: %s", line)
	want := regexp.MustCompile(`^<133>1 ` + stampRE + ` 127\.0\.0\.1 snmptrap - - - ` +
		`trap=1\.3\.6\.1\.4\.1\.8072\.2\.3\.0\.1 version=v2c uptime=\d+ ` +
		`1\.3\.6\.1\.4\.1\.8072\.2\.3\.2\.1=int:42 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1=str:"eth0 link down"$`)
	if !want.MatchString(line) {
		t.Errorf("event = %q\nwant %s", line, want)
	}
	if strings.Contains(line, "public") {
		t.Errorf("the community is in the event: %q", line)
	}
	if s.Input() != "traps" || s.Sources()[0].Addr() != netip.MustParseAddr("127.0.0.1") || s.Sources()[0].Port() == 0 {
		t.Errorf("input %q, source %v", s.Input(), s.Sources()[0])
	}
	if st := r.Stats(); st != (Stats{Received: 1}) {
		t.Errorf("stats = %+v", st)
	}
	list, tracked, _ := sources.Top(0)
	if tracked != 1 || list[0].Addr != netip.MustParseAddr("127.0.0.1") || list[0].Count != 1 {
		t.Errorf("sources = %+v", list)
	}
}

func TestV1TrapFromSnmptrap(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s})
	mustRun(t, "snmptrap", v1Trap, "", r.Addr())
	waitFor(t, "the trap", func() bool { return s.Count() == 1 })
	line := s.Messages()[0]
	t.Logf("v1 event: %s", line)
	want := regexp.MustCompile(`^<133>1 ` + stampRE + ` 127\.0\.0\.1 snmptrap - - - ` +
		`trap=1\.3\.6\.1\.4\.1\.8072\.2\.3\.0\.17 version=v1 enterprise=1\.3\.6\.1\.4\.1\.8072\.2\.3 agent=127\.0\.0\.1 uptime=\d+ ` +
		`1\.3\.6\.1\.4\.1\.8072\.2\.3\.2\.1=int:7$`)
	if !want.MatchString(line) {
		t.Errorf("event = %q\nwant %s", line, want)
	}
	if st := r.Stats(); st != (Stats{Received: 1}) {
		t.Errorf("stats = %+v", st)
	}
}

// A v1 generic trap (linkDown) maps to its RFC 3584 OID, and a configured
// community replaces "public".
func TestV1GenericTrapOwnCommunity(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s, Community: "s3cret"})
	linkDown := []string{"-v 1 -c X", "1.3.6.1.4.1.9", "10.1.2.3", "2", "0", "1234", "1.3.6.1.2.1.2.2.1.1.5", "i", "5"}
	mustRun(t, "snmptrap", linkDown, "public", r.Addr())
	mustRun(t, "snmptrap", linkDown, "s3cret", r.Addr())
	waitFor(t, "the trap", func() bool { return s.Count() == 1 })
	if st := r.Stats(); st != (Stats{Received: 1, BadCommunity: 1}) {
		t.Errorf("stats = %+v", st)
	}
	line := s.Messages()[0]
	if !strings.HasSuffix(line, " snmptrap - - - trap=1.3.6.1.6.3.1.1.5.3 version=v1 enterprise=1.3.6.1.4.1.9 agent=10.1.2.3 uptime=1234 1.3.6.1.2.1.2.2.1.1.5=int:5") {
		t.Errorf("event = %q", line)
	}
	if strings.Contains(line, "s3cret") {
		t.Errorf("the community is in the event: %q", line)
	}
}

// snmpinform waits for the Response: it exits 0 only if the receiver answered.
func TestInformFromSnmpinform(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s})
	out, err := netsnmp(t, "snmpinform", append([]string{"-v", "2c", "-c", "public", "-t", "3", "-r", "0", r.Addr()}, v2cTrap[1:]...)...)
	if err != nil {
		t.Fatalf("snmpinform: %v\n%s", err, out)
	}
	waitFor(t, "the inform", func() bool { return s.Count() == 1 })
	line := s.Messages()[0]
	if !regexp.MustCompile(` snmptrap - - - trap=1\.3\.6\.1\.4\.1\.8072\.2\.3\.0\.1 version=v2c pdu=inform uptime=\d+ 1\.3\.6\.1\.4\.1\.8072\.2\.3\.2\.1=int:42 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1=str:"eth0 link down"$`).MatchString(line) {
		t.Errorf("event = %q", line)
	}
	if st := r.Stats(); st != (Stats{Received: 1, Informs: 1}) {
		t.Errorf("stats = %+v", st)
	}
}

// An inform the sink refuses is not acknowledged (its sender retries), and
// one with the wrong community neither.
func TestInformNotAcknowledged(t *testing.T) {
	s := &sink{Refuse: true}
	r := start(t, Config{Sink: s})
	for _, community := range []string{"public", "wrong"} {
		out, err := netsnmp(t, "snmpinform", append([]string{"-v", "2c", "-c", community, "-t", "1", "-r", "0", r.Addr()}, v2cTrap[1:]...)...)
		if err == nil {
			t.Errorf("snmpinform -c %s succeeded without an acknowledgement:\n%s", community, out)
		}
	}
	if st := r.Stats(); st != (Stats{Received: 1, QueueDrops: 1, BadCommunity: 1}) {
		t.Errorf("stats = %+v", st)
	}
}

func TestWrongCommunityDropped(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s})
	mustRun(t, "snmptrap", v2cTrap, "private", r.Addr())
	mustRun(t, "snmptrap", v1Trap, "Public", r.Addr())
	mustRun(t, "snmptrap", v2cTrap, "", r.Addr()) // one reader: this one comes after the others
	waitFor(t, "the good trap", func() bool { return s.Count() == 1 })
	if st := r.Stats(); st != (Stats{Received: 1, BadCommunity: 2}) {
		t.Errorf("stats = %+v", st)
	}
}

// captureTrap returns the datagram snmptrap sends for list.
func captureTrap(t *testing.T, list []string, community string) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	mustRun(t, "snmptrap", list, community, pc.LocalAddr().String())
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, datagramMax)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func send(t *testing.T, addr string, msgs ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
}

// Garbage, a cut trap, an SNMPv3 trap and a GetRequest are malformed; the
// receiver goes on.
func TestMalformedCountedAndReceiverGoesOn(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s})
	real := captureTrap(t, v2cTrap, "")
	v3, err := netsnmp(t, "snmptrap", "-v", "3", "-u", "ferry", "-l", "noAuthNoPriv", "-e", "0x8000000001020304", r.Addr(), "", "1.3.6.1.4.1.8072.2.3.0.1")
	if err != nil {
		t.Fatalf("snmptrap -v 3: %v\n%s", err, v3)
	}
	get, err := (&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetRequest, RequestID: 7,
		Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.Null}}}).MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	send(t, r.Addr(), []byte("hello, not SNMP\n"), real[:len(real)-5], real[:len(real)/2], get, []byte{})
	send(t, r.Addr(), real)
	waitFor(t, "the good trap", func() bool { return s.Count() == 1 })
	if st := r.Stats(); st != (Stats{Received: 1, Malformed: 6}) {
		t.Errorf("stats = %+v", st)
	}
	if !strings.Contains(s.Messages()[0], " trap=1.3.6.1.4.1.8072.2.3.0.1 version=v2c ") {
		t.Errorf("event = %q", s.Messages()[0])
	}
}

// What the sink refuses is counted by event, and nothing blocks.
func TestQueueDropsCounted(t *testing.T) {
	s := &sink{Refuse: true}
	r := start(t, Config{Sink: s})
	real := captureTrap(t, v2cTrap, "")
	send(t, r.Addr(), real, real, real)
	waitFor(t, "three queue drops", func() bool { return r.Stats().QueueDrops == 3 })
	if st := r.Stats(); st != (Stats{Received: 3, QueueDrops: 3}) {
		t.Errorf("stats = %+v", st)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	r, err := New(Config{Name: "t", Addr: "127.0.0.1:0", Sink: &sink{}, Pool: event.NewPool(0, 0), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Addr() != "" {
		t.Errorf("Addr before Start = %q", r.Addr())
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := r.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Errorf("Addr = %q", addr)
	}
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `snmptrap receiver "t": already started`) {
		t.Errorf("second Start = %v", err)
	}
	for range 3 {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
	// The port is free again.
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	pc.Close()

	// Shutdown before Start is fine too.
	r2, _ := New(Config{Name: "t2", Addr: "127.0.0.1:0", Sink: &sink{}, Pool: event.NewPool(0, 0)})
	if err := r2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, err := New(Config{Name: "busy", Addr: pc.LocalAddr().String(), Sink: &sink{}, Pool: event.NewPool(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background())
	want := `snmptrap receiver "busy": ` + pc.LocalAddr().String() + ": address already in use"
	if err == nil || err.Error() != want || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start on a taken port = %v, want %s", err, want)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Without the privilege a low port says what to do (as root here, the
// kernel's error is made up).
func TestBindErrorMessages(t *testing.T) {
	for _, c := range []struct {
		errno syscall.Errno
		want  string
	}{
		{syscall.EACCES, "0.0.0.0:162: permission denied (run as root or grant CAP_NET_BIND_SERVICE)"},
		{syscall.EADDRINUSE, "0.0.0.0:162: address already in use"},
		{syscall.EADDRNOTAVAIL, "0.0.0.0:162: the bind address is not on this host"},
		{syscall.EINVAL, "0.0.0.0:162: listen udp 0.0.0.0:162: bind: invalid argument"},
	} {
		sys := &net.OpError{Op: "listen", Net: "udp", Addr: &net.UDPAddr{IP: net.IPv4zero, Port: 162}, Err: os.NewSyscallError("bind", c.errno)}
		err := bindError("0.0.0.0:162", sys)
		if err.Error() != c.want || !errors.Is(err, c.errno) {
			t.Errorf("bindError(%v) = %q, want %q", c.errno, err, c.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	pool := event.NewPool(0, 0)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: ":162", Sink: &sink{}, Pool: pool}, "snmptrap receiver: no name"},
		{Config{Name: "a", Addr: "162", Sink: &sink{}, Pool: pool}, `snmptrap receiver "a": address "162"`},
		{Config{Name: "a", Addr: ":162", Pool: pool}, `snmptrap receiver "a": no sink or batch pool`},
		{Config{Name: "a", Addr: ":162", Sink: &sink{}}, `snmptrap receiver "a": no sink or batch pool`},
	} {
		if _, err := New(c.cfg); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %s", c.cfg, err, c.want)
		}
	}
	r, err := New(Config{Name: "a", Addr: ":162", Sink: &sink{}, Pool: pool})
	if err != nil || r.cfg.Community != "public" {
		t.Errorf("New with defaults = %v, community %q", err, r.cfg.Community)
	}
}

// Bound to every address (a dual-stack socket), an IPv4 sender is shown as
// IPv4 and its inform is answered.
func TestEveryAddress(t *testing.T) {
	s := &sink{}
	r := start(t, Config{Sink: s, Addr: ":0"})
	_, port, err := net.SplitHostPort(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	out, err := netsnmp(t, "snmpinform", append([]string{"-v", "2c", "-c", "public", "-t", "3", "-r", "0", "127.0.0.1:" + port}, v2cTrap[1:]...)...)
	if err != nil {
		t.Fatalf("snmpinform: %v\n%s", err, out)
	}
	waitFor(t, "the inform", func() bool { return s.Count() == 1 })
	if line := s.Messages()[0]; !strings.Contains(line, "Z 127.0.0.1 snmptrap - - - trap=") || s.Sources()[0].Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("event %q from %v", line, s.Sources()[0])
	}
	if st := r.Stats(); st != (Stats{Received: 1, Informs: 1}) {
		t.Errorf("stats = %+v", st)
	}
}

// Shutdown in the middle of a stream of traps ends the reader promptly, and
// nothing arrives after it.
func TestShutdownUnderLoad(t *testing.T) {
	s := &sink{}
	r, err := New(Config{Name: "load", Addr: "127.0.0.1:0", Sink: s, Pool: event.NewPool(0, 0), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	trap := captureTrap(t, v2cTrap, "")
	c, err := net.Dial("udp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Write(trap) // refused once the socket is closed: ignored
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	waitFor(t, "some traps", func() bool { return r.Stats().Received >= 50 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown under load: %v", err)
	}
	n := s.Count()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	<-sent
	if s.Count() != n || uint64(n) != r.Stats().Received {
		t.Errorf("after Shutdown: %d events, then %d; stats %+v", n, s.Count(), r.Stats())
	}
}

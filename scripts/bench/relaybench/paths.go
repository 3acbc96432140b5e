package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// pathCounters are one path's cumulative figures at one moment.
type pathCounters struct {
	received uint64 // taken off the UDP socket by the first node
	arrived  uint64 // reached the second node's sink
	kernel   uint64 // kernel drops the first node reports (Ferry); 0 for rsyslog
	queue    uint64 // dropped inside either node
	dups     uint64 // duplicates the second node suppressed (Ferry)
	key      string // changes while anything still moves
	idle     bool   // nothing waits anywhere (queues, spools, socket)
}

// path is a sender node -> receiver node chain under test, fed UDP on
// 127.0.0.1:udpPort, with the link between the two through a counting proxy.
type path interface {
	name() string
	nodes() (edgePID, corePID int)
	udpPort() int
	link() *proxy
	snapshot() (pathCounters, error)
	// stable is how long the counters must hold still to count as settled.
	stable() time.Duration
	describe() string
}

// ---- Ferry: edge -> relay (mutual TLS) -> core -> discard ----

type ferryPath struct {
	b                   *bench
	edge, core          *node
	px                  *proxy
	udp, tcp, relayPort int
	udpInfo             inputInfo
}

// startFerryPath starts the core (relay listener -> discard), the proxy in
// front of its relay port, and the edge (syslog udp and tcp receivers), then
// runs the documented credential procedure and adds the core as the edge's
// base, and waits for the base's connection.
func (b *bench) startFerryPath() (*ferryPath, error) {
	f := &ferryPath{b: b}
	f.relayPort = freeTCPPort()
	coreBoot := fmt.Sprintf("forwarder.setGuid core\nforwarder.listen %d ferry-base ferry-ca --bind 127.0.0.1\n"+
		"forwarder.addOutput sink discard\nroute.add relay sink\n", f.relayPort)
	var err error
	if f.core, err = b.startNode("core", coreBoot, true); err != nil {
		return nil, err
	}
	if f.px, err = startProxy(addr(f.relayPort)); err != nil {
		return nil, err
	}
	if f.udp, err = procs.FreeUDPPort(); err != nil {
		return nil, err
	}
	f.tcp = freeTCPPort()
	edgeBoot := fmt.Sprintf("forwarder.setGuid edge\nsyslog.open udp1 %d udp --bind 127.0.0.1\nsyslog.open tcp1 %d tcp --bind 127.0.0.1\n", f.udp, f.tcp)
	if f.edge, err = b.startNode("edge", edgeBoot, true); err != nil {
		return nil, err
	}
	// The core issues the edge's client certificate and exports its CA as a truststore.
	creds := filepath.Join(f.core.dir, "creds")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		return nil, err
	}
	if _, err := f.core.batch(fmt.Sprintf("certs.issue %[1]s/sentry.pfx edge-sentry client\n%[2]s\ncerts.exportCa %[1]s/ca.jks\n%[2]s\n", creds, relayPassword)); err != nil {
		return nil, err
	}
	certDir := filepath.Join(f.edge.data, "ca", "certs")
	for _, name := range []string{"ca.jks", "sentry.pfx"} {
		raw, err := os.ReadFile(filepath.Join(creds, name))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(certDir, "core-"+name), raw, 0o600); err != nil {
			return nil, err
		}
	}
	// The edge swaps its keystores for the core's and adds the core (through the proxy) as its base.
	if _, err := f.edge.batch(fmt.Sprintf(`keystore.unregister ferry-ca
keystore.unregister ferry-sentry
keystore.register ferry-ca JKS %[1]s/core-ca.jks
%[2]s
keystore.register ferry-sentry PKCS12 %[1]s/core-sentry.pfx
%[2]s
forwarder.addBase core 127.0.0.1 %[3]d ferry-sentry ferry-ca 2147483648
`, certDir, relayPassword, f.px.port())); err != nil {
		return nil, err
	}
	if err := f.waitUp(30 * time.Second); err != nil {
		return nil, err
	}
	if err := procs.WaitUDPBound(f.edge.p, f.udp, 5*time.Second); err != nil {
		return nil, err
	}
	s, err := b.edgeStatus(f.edge)
	if err != nil {
		return nil, err
	}
	f.udpInfo = s.udp
	return f, nil
}

// waitUp waits for the edge's base connection to be up.
func (f *ferryPath) waitUp(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		s, err := f.b.edgeStatus(f.edge)
		if err != nil {
			return err
		}
		if s.up() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the edge's base is not up within %s: %s", limit, s.baseDescr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *ferryPath) name() string                    { return "ferry" }
func (f *ferryPath) nodes() (int, int)               { return f.edge.p.PID(), f.core.p.PID() }
func (f *ferryPath) udpPort() int                    { return f.udp }
func (f *ferryPath) link() *proxy                    { return f.px }
func (f *ferryPath) stable() time.Duration           { return time.Second }
func (f *ferryPath) version() string                 { return f.edge.version }
func (f *ferryPath) stop()                           { f.edge.stop(); f.core.stop(); f.px.close() }
func (f *ferryPath) snapshot() (pathCounters, error) { return f.counters() }

func (f *ferryPath) describe() string {
	return fmt.Sprintf("ferryd %s: edge syslog.open udp (readers=%d, rx_buf_size=%d) -> base core (spool 2 GiB, defaults: sync interval, drop-oldest) "+
		"-> relay, mutual TLS, via the counting proxy -> core forwarder.listen (intake spool) -> route relay -> discard",
		f.edge.version, f.udpInfo.Readers, f.udpInfo.RcvBuf)
}

func (f *ferryPath) counters() (pathCounters, error) {
	var c pathCounters
	e, err := f.b.edgeStatus(f.edge)
	if err != nil {
		return c, err
	}
	k, err := f.b.coreStatus(f.core)
	if err != nil {
		return c, err
	}
	u, _ := procs.UDPPort(f.udp)
	c.received, c.arrived, c.kernel = e.udp.Received, k.sink.EventsIn, e.udp.KernelDrops
	c.queue = e.udp.QueueDrops + e.udp.Malformed + e.spoolDrops()
	c.dups = k.dups()
	c.key = fmt.Sprint(e.udp.Received, e.udp.KernelDrops, e.udp.QueueDrops, e.acked(), e.queued(), k.sink.EventsIn, u.RxQueue, k.intakeQueued())
	c.idle = e.queued() == 0 && u.RxQueue == 0 && k.intakeQueued() == 0
	return c, nil
}

// ---- rsyslog: A (imudp -> omfwd tcp) -> B (imtcp -> stop) ----

type rsyslogPath struct {
	a, b  *rsyslogd
	px    *proxy
	udp   int
	tcp   int
	bench *bench
}

func (b *bench) startRsyslogPath() (*rsyslogPath, error) {
	r := &rsyslogPath{bench: b}
	var err error
	if r.udp, err = procs.FreeUDPPort(); err != nil {
		return nil, err
	}
	r.tcp = freeTCPPort()
	// B: plain imtcp, then `stop` (rsyslogd refuses a configuration without any
	// action, error 2103, hence the one after it, which nothing reaches).
	r.b, err = b.startRsyslogd("rsyslog-b", fmt.Sprintf("module(load=\"imtcp\")\ninput(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\")\n"+
		"*.* stop\n*.* action(type=\"omfile\" file=\"/dev/null\")\n", r.tcp))
	if err != nil {
		return nil, err
	}
	if err := procs.WaitTCPListening(r.b.Proc, r.tcp, 20*time.Second); err != nil {
		return nil, err
	}
	if r.px, err = startProxy(addr(r.tcp)); err != nil {
		return nil, err
	}
	// A: plain imudp, omfwd over TCP (through the proxy) with its defaults.
	r.a, err = b.startRsyslogd("rsyslog-a", fmt.Sprintf("module(load=\"imudp\")\ninput(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\")\n"+
		"*.* action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"tcp\")\n", r.udp, r.px.port()))
	if err != nil {
		return nil, err
	}
	if err := procs.WaitUDPBound(r.a.Proc, r.udp, 20*time.Second); err != nil {
		return nil, err
	}
	// Both must have written their first impstats emission (the counters' zero).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		sa, _ := r.a.readStats()
		sb, _ := r.b.readStats()
		if sa.emissions > 0 && sb.emissions > 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("rsyslogd wrote no impstats within 10 s (%s, %s)", r.a.Stats, r.b.Stats)
		}
	}
	return r, nil
}

func (r *rsyslogPath) name() string          { return "rsyslog" }
func (r *rsyslogPath) nodes() (int, int)     { return r.a.Proc.PID(), r.b.Proc.PID() }
func (r *rsyslogPath) udpPort() int          { return r.udp }
func (r *rsyslogPath) link() *proxy          { return r.px }
func (r *rsyslogPath) stable() time.Duration { return 2500 * time.Millisecond } // two impstats emissions
func (r *rsyslogPath) stop()                 { r.a.Stop(); r.b.Stop(); r.px.close() }

func (r *rsyslogPath) describe() string {
	return "rsyslogd A: " + r.a.Describe() + "  |  rsyslogd B: " + r.b.Describe()
}

func (r *rsyslogPath) snapshot() (pathCounters, error) {
	var c pathCounters
	sa, err := r.a.readStats()
	if err != nil {
		return c, err
	}
	sb, err := r.b.readStats()
	if err != nil {
		return c, err
	}
	if sb.imtcpName == "" && sb.emissions > 0 {
		raw, _ := os.ReadFile(r.b.Stats)
		return c, fmt.Errorf("rsyslogd B's impstats has no imtcp counter: %.2000s", raw)
	}
	u, _ := procs.UDPPort(r.udp)
	c.received, c.arrived = sa.imudp, sb.imtcp
	c.queue = sa.discarded + sb.discarded
	c.key = fmt.Sprint(sa.imudp, sa.enqueued, sa.fwdProcessed, sb.imtcp, sb.enqueued, u.RxQueue)
	c.idle = sa.emissions > 0 && sb.emissions > 0 && sa.qsize == 0 && sb.qsize == 0 && u.RxQueue == 0
	return c, nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// freeTCPPort is a loopback TCP port nothing listens on right now.
func freeTCPPort() int {
	_, p, _ := net.SplitHostPort(benchutil.FreeAddr())
	n, _ := strconv.Atoi(p)
	return n
}

package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/spool"
)

func client(t testing.TB, keys Keys, name string, members ...Member) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Name: name, Members: members, Keys: keys, Identity: ident("edge"),
		StreamFile: filepath.Join(t.TempDir(), "relay-stream"), Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func base(name, addr string) Member {
	return Member{Name: name, Addr: addr, Key: "sentry", Trust: "ca"}
}

// TestShip: every record arrives once, in order, with its input name and
// source; the spool is acknowledged to the end.
func TestShip(t *testing.T) {
	p := newPKI(t, "core")
	out := newSink()
	l := startListener(t, p, t.TempDir(), "127.0.0.1:0", out)
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	fill(t, sp, 0, 200, 50)
	ship(t, client(t, p, "core", base("core", l.Addr())), sp)
	waitFor(t, "10000 events", 20*time.Second, func() bool { return out.count() >= 10000 })
	waitFor(t, "the spool acknowledged", 5*time.Second, func() bool { return sp.Stats().Events == 0 })
	checkOnce(t, out.all(), 0, 10000)
	if out.keys["relay"] != 10000 || out.inputs["fw"] != 10000 || out.srcs[0] != src {
		t.Fatalf("routed as %v, inputs %v, source %v", out.keys, out.inputs, out.srcs[0])
	}
	if st := l.Stats(); st.Stored != 10000 || st.Routed != 10000 || st.DupEvents != 0 {
		t.Fatalf("listener stats %+v", st)
	}
}

// TestBaseDownThenUp: the base is down while records are appended; they
// wait in the spool and all arrive once it is back, in order.
func TestBaseDownThenUp(t *testing.T) {
	p := newPKI(t, "core")
	addr := freeAddr(t)
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	c := client(t, p, "core", base("core", addr))
	ship(t, c, sp)
	fill(t, sp, 0, 40, 25)
	waitFor(t, "the base reported down", 5*time.Second, func() bool {
		return strings.Contains(c.Stats().Members[0].LastError, "connection refused")
	})
	out := newSink()
	startListener(t, p, t.TempDir(), addr, out)
	fill(t, sp, 1000, 40, 25)
	waitFor(t, "2000 events", 30*time.Second, func() bool { return out.count() >= 2000 })
	got := out.all()
	checkOnce(t, got[:1000], 0, 1000)
	checkOnce(t, got[1000:], 1000, 1000)
}

// TestResendSuppressed: a listener restarted, and a sender whose spool
// holds again what the listener stored (an edge that crashed before its
// acknowledged position was synced: the same stream, the same numbers).
// What was stored is acknowledged again, not stored twice, across the
// listener's restart; the sender is told which acknowledgements those were.
func TestResendSuppressed(t *testing.T) {
	p := newPKI(t, "core")
	addr, ldir := freeAddr(t), t.TempDir()
	out := newSink()
	l := startListener(t, p, ldir, addr, out)
	stream := filepath.Join(t.TempDir(), "relay-stream")
	mk := func() *Client {
		c, err := NewClient(ClientConfig{Name: "core", Members: []Member{base("core", addr)}, Keys: p, Identity: ident("edge"),
			StreamFile: stream, Log: discardLog()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	fill(t, sp, 0, 100, 10)
	s := ship(t, mk(), sp)
	waitFor(t, "1000 events", 20*time.Second, func() bool { return out.count() >= 1000 })
	s.stop()
	l.Shutdown(context.Background())
	l2 := startListener(t, p, ldir, addr, out)
	again := openSpool(t, t.TempDir())
	defer again.Close()
	fill(t, again, 0, 100, 10)
	fill(t, again, 1000, 10, 10)
	resender := mk()
	ship(t, resender, again)
	waitFor(t, "1100 events", 20*time.Second, func() bool { return out.count() >= 1100 })
	time.Sleep(200 * time.Millisecond)
	checkOnce(t, out.all(), 0, 1100)
	if st := l2.Stats(); st.DupEvents != 1000 {
		t.Fatalf("duplicates suppressed %d, want 1000", st.DupEvents)
	}
	waitFor(t, "the sender told of them", 5*time.Second, func() bool { return resender.Stats().Suppressed == 1000 })
}

// TestPairFailover: two bases share the load; when one stops, the other
// takes what it had in flight, and nothing is missing.
func TestPairFailover(t *testing.T) {
	p := newPKI(t, "core")
	a, b := newSink(), newSink()
	la := startListener(t, p, t.TempDir(), "127.0.0.1:0", a)
	lb := startListener(t, p, t.TempDir(), "127.0.0.1:0", b)
	pa := newProxy(t, la.Addr()) // a goes dark, rather than closing cleanly
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	c := client(t, p, "pair", base("a", pa.addr()), base("b", lb.Addr()))
	ship(t, c, sp)
	fill(t, sp, 0, 400, 25)
	waitFor(t, "10000 events", 20*time.Second, func() bool { return a.count()+b.count() >= 10000 })
	if a.count() == 0 || b.count() == 0 {
		t.Fatalf("load not spread: a %d, b %d", a.count(), b.count())
	}
	// Stop a while records are in flight to both.
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for k := range 40 {
			fill(t, sp, 10000+k*250, 10, 25)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor(t, "traffic to a", 10*time.Second, func() bool { return a.count() > 5500 })
	pa.freeze()
	<-filled
	waitFor(t, "a given up", 10*time.Second, func() bool { return strings.Contains(c.Stats().Members[0].LastError, "heartbeats") })
	waitFor(t, "20000 events", 20*time.Second, func() bool {
		seen := map[string]bool{}
		for _, s := range append(a.all(), b.all()...) {
			seen[s] = true
		}
		return len(seen) >= 20000
	})
	all := append(a.all(), b.all()...)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) != 20000 {
		t.Fatalf("%d distinct events, want 20000", len(all))
	}
	if c.Stats().Resent == 0 {
		t.Fatalf("nothing resent: a went dark with nothing in flight, so failover was not exercised")
	}
}

// TestRefusals: each fault gives its clear line in the base's last error.
func TestRefusals(t *testing.T) {
	p := newPKI(t, "core")
	foreign := newPKI(t, "other")
	out := newSink()
	l := startListener(t, p, t.TempDir(), "127.0.0.1:0", out)

	httpd := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer httpd.Close()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			time.AfterFunc(10*time.Second, func() { c.Close() })
		}
	}()
	wrongPW := newPKI(t, "core")
	wrongPW.certs, wrongPW.pools = p.certs, p.pools
	wrongPW.fail("sentry", errors.New(`keystore "sentry": failed: keystore "/x/sentry.pfx": keystore password was incorrect`))

	for _, tc := range []struct {
		name string
		keys Keys
		addr string
		want string
	}{
		{"foreign CA at the edge", foreign, l.Addr(), "No trusted certificate found"},
		{"wrong keystore password", wrongPW, l.Addr(), "keystore password was incorrect"},
		{"not Ferry (HTTPS)", p, httpd.Listener.Addr().String(), "No trusted certificate found"},
		{"not TLS", p, plain.Addr().String(), "not a Ferry relay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := openSpool(t, t.TempDir())
			defer sp.Close()
			fill(t, sp, 0, 1, 1)
			c := client(t, tc.keys, "x", base("x", tc.addr))
			s := ship(t, c, sp)
			waitFor(t, "an error", 15*time.Second, func() bool { return c.Stats().Members[0].LastError != "" })
			s.stop()
			if got := c.Stats().Members[0].LastError; !strings.Contains(got, tc.want) {
				t.Fatalf("last error %q, want %q in it", got, tc.want)
			}
		})
	}
	if out.count() != 0 {
		t.Fatalf("%d events got through a refused connection", out.count())
	}
	// The foreign CA's client made the listener refuse too, with the guide's words.
	if le := l.Stats().LastError; !strings.Contains(le, "No trusted certificate found") && !strings.Contains(le, "certificate") {
		t.Fatalf("listener's last error %q", le)
	}
}

// TestNotFerryAfterTLS: a TLS server with our CA's certificate that is not
// Ferry: the hello gets nothing back that parses, and the sender says so.
func TestNotFerryAfterTLS(t *testing.T) {
	p := newPKI(t, "core")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*p.certs["base"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				time.Sleep(2 * time.Second)
			}()
		}
	}()
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	fill(t, sp, 0, 1, 1)
	c := client(t, p, "x", base("x", ln.Addr().String()))
	s := ship(t, c, sp)
	waitFor(t, "an error", 15*time.Second, func() bool { return c.Stats().Members[0].LastError != "" })
	s.stop()
	if got := c.Stats().Members[0].LastError; !strings.Contains(got, "does not speak the Ferry relay protocol") {
		t.Fatalf("last error %q", got)
	}
}

// TestWrongVersion: a hello with another version gets an error frame
// naming both versions.
func TestWrongVersion(t *testing.T) {
	p := newPKI(t, "core")
	l := startListener(t, p, t.TempDir(), "127.0.0.1:0", newSink())
	conn, err := tls.Dial("tcp", l.Addr(), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*p.certs["sentry"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(appendFrame(nil, &frame{typ: typeHello, version: 9, guid: "g", name: "n"}))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := newReader(conn).next()
	if err != nil {
		t.Fatal(err)
	}
	if f.typ != typeError || !strings.Contains(f.msg, "version 9") || !strings.Contains(f.msg, fmt.Sprint(Version)) {
		t.Fatalf("answer %+v", f)
	}
}

// rawSender is a hand-driven sender: TLS with the sender's certificate,
// hello done.
func rawSender(t *testing.T, p *pki, addr string) (*tls.Conn, *reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*p.certs["sentry"]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.Write(appendFrame(nil, &frame{typ: typeHello, version: Version, guid: "raw", name: "raw"}))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := newReader(conn)
	if f, err := r.next(); err != nil || f.typ != typeWelcome {
		t.Fatalf("welcome: %+v %v", f, err)
	}
	return conn, r
}

// TestBadFrames: a batch that does not decode, a frame cut short, and an
// unknown frame type each close that connection with a clear error, store
// nothing, and leave the listener serving the next sender.
func TestBadFrames(t *testing.T) {
	p := newPKI(t, "core")
	out := newSink()
	l := startListener(t, p, t.TempDir(), "127.0.0.1:0", out)
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"corrupt payload", appendFrame(nil, &frame{typ: typeBatch, stream: "s/x", first: 1, count: 2, codec: CodecSpool, payload: []byte("not zstd at all")}), "does not decode"},
		{"unknown codec", appendFrame(nil, &frame{typ: typeBatch, stream: "s/x", first: 1, count: 2, codec: 9, payload: []byte{1}}), "codec 9"},
		{"unknown type", []byte{0, 0, 0, 1, 99}, "unknown frame type 99"},
		{"cut short", []byte{0, 0, 0, 50, typeBatch, 0, 3, 's'}, "cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, r := rawSender(t, p, l.Addr())
			conn.Write(tc.bytes)
			if tc.name == "cut short" {
				conn.CloseWrite()
			}
			for {
				f, err := r.next()
				if err != nil {
					break // closed by the listener
				}
				if f.typ == typeError && !strings.Contains(f.msg, tc.want) {
					t.Errorf("error frame %q, want %q in it", f.msg, tc.want)
				}
			}
			waitFor(t, "the listener's last error", 5*time.Second, func() bool { return strings.Contains(l.Stats().LastError, tc.want) })
		})
	}
	if st := l.Stats(); st.Stored != 0 || out.count() != 0 {
		t.Fatalf("stored %d, routed %d from bad frames", st.Stored, out.count())
	}
	// Still serving.
	sp := openSpool(t, t.TempDir())
	defer sp.Close()
	fill(t, sp, 0, 3, 3)
	ship(t, client(t, p, "core", base("core", l.Addr())), sp)
	waitFor(t, "9 events", 10*time.Second, func() bool { return out.count() == 9 })
}

// TestSenderStopsReading: a sender that sends but never reads what it is
// sent (acks, pongs) is disconnected once its unread frames fill the
// listener's queue, rather than wedging it.
func TestSenderStopsReading(t *testing.T) {
	p := newPKI(t, "core")
	l := startListener(t, p, t.TempDir(), "127.0.0.1:0", newSink())
	conn, _ := rawSender(t, p, l.Addr())
	ping := appendFrame(nil, &frame{typ: typePing, nonce: 1})
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, err = conn.Write(bytes.Repeat(ping, 512))
	}
	if err == nil {
		t.Fatal("the listener kept reading pings nobody read the answers of")
	}
	waitFor(t, "the connection gone", 5*time.Second, func() bool { return l.Stats().Connections == 0 })
}

// TestUnsyncedUncleanNewStream: a spool synced only at rolls that opens
// after an unclean stop gets a new stream id; a clean one keeps its own.
func TestUnsyncedUncleanNewStream(t *testing.T) {
	p := newPKI(t, "core")
	for _, unclean := range []bool{false, true} {
		dir := t.TempDir()
		streamFile := filepath.Join(dir, "relay-stream")
		first, err := loadStream(streamFile)
		if err != nil {
			t.Fatal(err)
		}
		o := spool.Options{Name: "out", Dir: dir, MaxBytes: 1 << 20, Sync: spool.SyncNever, Log: discardLog()}
		sp, err := spool.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, sp, 0, 2, 2)
		if !unclean {
			sp.Close()
		}
		sp2, err := spool.Open(o) // without a Close before it: as after kill -9
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(ClientConfig{Name: "x", Members: []Member{base("x", freeAddr(t))}, Keys: p, Identity: ident("edge"),
			StreamFile: streamFile, Unsynced: true, Log: discardLog()})
		if err != nil {
			t.Fatal(err)
		}
		s := ship(t, c, sp2)
		time.Sleep(100 * time.Millisecond)
		s.stop()
		sp2.Close()
		now, _ := loadStream(streamFile)
		if (now != first) != unclean {
			t.Errorf("unclean=%v: stream %s, was %s", unclean, now, first)
		}
	}
}

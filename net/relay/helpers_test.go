package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
)

// pki is a test CA with the certificates it issued, by alias.
type pki struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	certs map[string]*tls.Certificate
	pools map[string]*x509.CertPool
	errs  map[string]error
	mu    sync.Mutex
}

func newPKI(t testing.TB, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p := &pki{ca: ca, caKey: key, certs: map[string]*tls.Certificate{}, pools: map[string]*x509.CertPool{"ca": pool}, errs: map[string]error{}}
	p.issue(t, "base", x509.ExtKeyUsageServerAuth)
	p.issue(t, "sentry", x509.ExtKeyUsageClientAuth)
	return p
}

func (p *pki) issue(t testing.TB, alias string, usage x509.ExtKeyUsage) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: alias},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.certs[alias] = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *pki) Certificate(alias string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.errs[alias]; err != nil {
		return nil, err
	}
	if c := p.certs[alias]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("keystore %q: not registered", alias)
}

func (p *pki) TrustPool(alias string) (*x509.CertPool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.pools[alias]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("keystore %q: not registered", alias)
}

func (p *pki) fail(alias string, err error) {
	p.mu.Lock()
	p.errs[alias] = err
	p.mu.Unlock()
}

// sink is a Router that keeps every event's raw text, in order.
type sink struct {
	mu     sync.Mutex
	keys   map[string]int
	inputs map[string]int
	raws   []string
	srcs   []netip.AddrPort
	block  chan struct{} // if set, Route waits on it
}

func newSink() *sink { return &sink{keys: map[string]int{}, inputs: map[string]int{}} }

func (s *sink) Route(key string, b *event.Batch) bool {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] += b.Len()
	s.inputs[b.Input] += b.Len()
	for i := range b.Len() {
		s.raws = append(s.raws, string(b.Raw(i)))
		s.srcs = append(s.srcs, b.Events[i].Source)
	}
	b.Release()
	return true
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.raws)
}

func (s *sink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.raws...)
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func ident(guid string) func() Identity {
	return func() Identity { return Identity{GUID: guid, Name: guid + "-host"} }
}

func startListener(t testing.TB, keys Keys, dir, addr string, r Router) *Listener {
	t.Helper()
	l, err := NewListener(ListenerConfig{Name: "relay", Addr: addr, Key: "base", Trust: "ca", Keys: keys, Dir: dir,
		Identity: ident("core"), Router: r, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	return l
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var src = netip.MustParseAddrPort("192.0.2.7:514")

// fill appends batches of events "msg-<k>" to sp, numbered from from.
func fill(t testing.TB, sp *spool.Spool, from, batches, per int) {
	t.Helper()
	pool := event.NewPool(0, 0)
	k := from
	for range batches {
		b := pool.Get("fw")
		for range per {
			b.Add(time.Now(), src, fmt.Appendf(nil, "msg-%06d", k))
			k++
		}
		if err := sp.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
}

func openSpool(t testing.TB, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Name: "out", Dir: dir, MaxBytes: 64 << 20, Sync: spool.SyncInterval,
		SyncInterval: 20 * time.Millisecond, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// shipper runs a client's Ship until stopped.
type shipper struct {
	c      *Client
	cancel context.CancelFunc
	done   chan struct{}
}

func ship(t testing.TB, c *Client, sp *spool.Spool) *shipper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &shipper{c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		c.Ship(ctx, sp, nil, nil)
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *shipper) stop() {
	s.cancel()
	<-s.done
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkOnce checks got holds msg-from..msg-(from+n-1), each once, in order.
func checkOnce(t testing.TB, got []string, from, n int) {
	t.Helper()
	if len(got) != n {
		seen := map[string]int{}
		dups := 0
		for _, g := range got {
			seen[g]++
			if seen[g] == 2 {
				dups++
			}
		}
		t.Fatalf("%d events, want %d (%d duplicated)", len(got), n, dups)
	}
	for i, g := range got {
		if want := fmt.Sprintf("msg-%06d", from+i); g != want {
			t.Fatalf("event %d is %q, want %q", i, g, want)
		}
	}
}

// proxy forwards TCP to target until frozen: then it holds every byte
// (a peer that stops reading and answering, a link that went dark).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	for _, c := range p.conns {
		c.Close()
	}
}

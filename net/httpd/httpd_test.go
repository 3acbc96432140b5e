package httpd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/secretbox"
	"github.com/ferry-appliance/ferry/internal/testutil"
	"github.com/ferry-appliance/ferry/net/httpd"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// testContexts serves each context's name, so a test sees which one answered.
type testContexts struct{}

func (testContexts) Handler(name string) (http.Handler, error) {
	switch name {
	case "webconsole", "api", "metrics":
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }), nil
	}
	return nil, fmt.Errorf("context %q: unknown", name)
}

func (testContexts) Describe() []httpd.ContextInfo {
	return []httpd.ContextInfo{{Name: "webconsole"}, {Name: "api"}, {Name: "metrics"}}
}

// env is a data dir with a confdb, a secret key, the keystore registry (with
// its first-boot CA) and an httpd server.
type env struct {
	dir  string
	st   *store.Store
	keys *certs.Registry
	srv  *httpd.Server
	ca   *x509.CertPool
}

func start(t testing.TB, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	box, _, err := secretbox.Open(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := certs.NewRegistry(certs.RegistryConfig{Records: st.Keystores(), Secrets: box, Flags: st, Log: log,
		CADir: filepath.Join(dir, "ca", "certs"), Hostname: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv, err := httpd.New(httpd.Config{Records: st.Bindings(), Keys: keys, Contexts: testContexts{}, Status: status.New(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	keys.OnChange(srv.Retry)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, st: st, keys: keys, srv: srv}
	ca, err := keys.LocalCA()
	if err != nil {
		t.Fatal(err)
	}
	e.ca = x509.NewCertPool()
	e.ca.AddCert(ca.Certificate())
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	e.srv.Shutdown(context.Background())
	e.keys.Shutdown(context.Background())
	e.st.Close()
}

var freePort = testutil.FreePort

// get fetches path over TLS, verifying the server against roots, and returns
// the body and the certificate the server presented.
func get(port int, roots *x509.CertPool, client *tls.Certificate) (string, *x509.Certificate, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), resp.TLS.PeerCertificates[0], err
}

func TestOpenSslServesWithTheRegisteredCertificate(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	in, replaced, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "webconsole", Key: certs.AliasWeb})
	if err != nil || replaced != nil || in.State != "opened" || !in.TLS {
		t.Fatalf("Open = %+v, %v, %v", in, replaced, err)
	}
	body, cert, err := get(port, e.ca, nil)
	if err != nil || body != "webconsole" {
		t.Fatalf("GET = %q, %v", body, err)
	}
	web, _ := e.keys.Certificate(certs.AliasWeb)
	if !cert.Equal(web.Leaf) {
		t.Errorf("served %s, want ferry-web's certificate", cert.Subject)
	}

	// Re-registering the alias changes the certificate on the next handshake;
	// the port stays open (the same socket: no reopen).
	addrBefore := e.srv.Addrs()
	ca, _ := e.keys.LocalCA()
	b, err := ca.Issue("rotated", certs.Server, []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rotated.pfx")
	if err := certs.WritePKCS12(path, b, []byte("rotate-pw")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Register(certs.AliasWeb, certs.PKCS12, path, []byte("rotate-pw")); err != nil {
		t.Fatal(err)
	}
	_, cert, err = get(port, e.ca, nil)
	if err != nil || cert.Subject.CommonName != "rotated" {
		t.Fatalf("after re-register: served %v, %v; want CN=rotated", cert, err)
	}
	if fmt.Sprint(e.srv.Addrs()) != fmt.Sprint(addrBefore) {
		t.Errorf("listeners changed: %v -> %v", addrBefore, e.srv.Addrs())
	}

	// Unregistered, the binding serves the last good certificate and says so.
	if _, err := e.keys.Unregister(certs.AliasWeb); err != nil {
		t.Fatal(err)
	}
	if _, cert, err = get(port, e.ca, nil); err != nil || cert.Subject.CommonName != "rotated" {
		t.Fatalf("after unregister: %v, %v; want the last good certificate", cert, err)
	}
	if list := e.srv.List(); len(list) != 1 || !strings.Contains(list[0].Note, "last good certificate") {
		t.Errorf("bindings = %+v; want a note about the last good certificate", list)
	}
	if users := e.srv.UsersOf(certs.AliasWeb); len(users) != 1 || users[0] != strconv.Itoa(port) {
		t.Errorf("UsersOf = %v", users)
	}
}

func TestTrustAliasRequiresClientCertificate(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb, Trust: certs.AliasCA}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(port, e.ca, nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	sentry, _ := e.keys.Certificate(certs.AliasSentry)
	if body, _, err := get(port, e.ca, sentry); err != nil || body != "api" {
		t.Fatalf("with ferry-sentry's certificate: %q, %v", body, err)
	}
	// A certificate from another CA is refused.
	other, err := certs.NewCA("Other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := other.Issue("intruder", certs.Client, nil, time.Hour)
	foreign := b.TLSCertificate()
	if _, _, err := get(port, e.ca, &foreign); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
}

func TestOldTLSRefused(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb}); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{RootCAs: e.ca, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10, ServerName: "127.0.0.1"})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// What fails changes nothing: the confdb, the list and the running listener stay.
func TestOpenFailuresChangeNothing(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "webconsole", Key: certs.AliasWeb}); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		spec httpd.Spec
		want string
	}{
		{"port in use", httpd.Spec{Port: takenPort, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb}, "address already in use"},
		{"unknown context", httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "nope", Key: certs.AliasWeb}, `context "nope"`},
		{"unknown key alias", httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: "nope"}, "not registered"},
		{"trust store as key", httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasCA}, "no private key"},
		{"key store as trust", httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb, Trust: certs.AliasWeb}, "no trusted certificate"},
		{"bind address not here", httpd.Spec{Port: port, Bind: "192.0.2.1", Context: "api", Key: certs.AliasWeb}, "not on this host"},
		{"bind not an address", httpd.Spec{Port: port, Bind: "example.com", Context: "api", Key: certs.AliasWeb}, "give an IP address"},
		{"port zero", httpd.Spec{Port: 0, Context: "api"}, "1-65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.srv.Open(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v; want an error containing %q", err, tc.want)
			}
			recs, _, _ := e.st.Bindings().List()
			if len(recs) != 1 || recs[0].Port != port || recs[0].Context != "webconsole" || recs[0].Bind != "127.0.0.1" {
				t.Errorf("confdb bindings = %+v; want only the first one, unchanged", recs)
			}
			if list := e.srv.List(); len(list) != 1 || list[0].State != "opened" {
				t.Errorf("bindings = %+v", list)
			}
			if body, _, err := get(port, e.ca, nil); err != nil || body != "webconsole" {
				t.Errorf("the old binding stopped serving: %q, %v", body, err)
			}
		})
	}
}

// Opening an open port changes it in place: the new context serves the next request.
func TestReopenChangesInPlace(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "webconsole", Key: certs.AliasWeb})
	now, replaced, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "metrics", Key: certs.AliasBase})
	if err != nil || replaced == nil || replaced.Context != "webconsole" || now.Context != "metrics" {
		t.Fatalf("Open = %+v, %+v, %v", now, replaced, err)
	}
	body, cert, err := get(port, e.ca, nil)
	base, _ := e.keys.Certificate(certs.AliasBase)
	if err != nil || body != "metrics" || !cert.Equal(base.Leaf) {
		t.Fatalf("after reopen: %q, %v; want metrics with ferry-base's certificate", body, err)
	}
	if _, err := e.srv.Close(port); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(port, e.ca, nil); err == nil {
		t.Fatal("served after Close")
	}
	if _, err := e.srv.Close(port); err == nil || !strings.Contains(err.Error(), "no binding") {
		t.Errorf("second Close = %v", err)
	}
	if recs, _, _ := e.st.Bindings().List(); len(recs) != 0 {
		t.Errorf("confdb still has %+v", recs)
	}
}

// Bindings come back at boot; one that cannot open is failed and the rest open;
// it opens once its alias is registered again.
func TestBindingsComeBackAtBoot(t *testing.T) {
	e := start(t, "")
	p1, p2 := freePort(t), freePort(t)
	e.srv.Open(httpd.Spec{Port: p1, Bind: "127.0.0.1", Context: "webconsole", Key: certs.AliasWeb})
	e.srv.Open(httpd.Spec{Port: p2, Bind: "127.0.0.1", Context: "api", Key: certs.AliasBase})
	if _, err := e.keys.Unregister(certs.AliasBase); err != nil {
		t.Fatal(err)
	}
	e.stop()

	e2 := start(t, e.dir)
	list := e2.srv.List()
	if len(list) != 2 || list[0].State != "opened" && list[1].State != "opened" {
		t.Fatalf("after restart: %+v", list)
	}
	for _, in := range list {
		switch in.Port {
		case p1:
			if in.State != "opened" {
				t.Errorf("port %d: %s", p1, in.State)
			}
		case p2:
			if !strings.HasPrefix(in.State, "failed: ") || !strings.Contains(in.State, "not registered") {
				t.Errorf("port %d: %q; want failed: ... not registered", p2, in.State)
			}
		}
	}
	if body, _, err := get(p1, e2.ca, nil); err != nil || body != "webconsole" {
		t.Fatalf("port %d after restart: %q, %v", p1, body, err)
	}
	// Registering the alias again opens the failed binding.
	if _, _, err := e2.keys.Register(certs.AliasBase, certs.PKCS12, filepath.Join(e.dir, "ca", "certs", "web.pfx"), nil); err == nil {
		t.Fatal("registered a PKCS12 file without its password")
	}
	ca, _ := e2.keys.LocalCA()
	b, _ := ca.Issue("base2", certs.Server, []string{"127.0.0.1"}, time.Hour)
	path := filepath.Join(t.TempDir(), "base2.pfx")
	certs.WritePKCS12(path, b, []byte("base2-pw"))
	if _, _, err := e2.keys.Register(certs.AliasBase, certs.PKCS12, path, []byte("base2-pw")); err != nil {
		t.Fatal(err)
	}
	if body, cert, err := get(p2, e2.ca, nil); err != nil || body != "api" || cert.Subject.CommonName != "base2" {
		t.Fatalf("port %d after register: %q, %v", p2, body, err)
	}
}

// A binding's port taken by another process at boot leaves it failed; the daemon runs on.
func TestBootWithPortTaken(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "webconsole", Key: certs.AliasWeb})
	e.stop()
	taken, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	e2 := start(t, e.dir)
	if list := e2.srv.List(); len(list) != 1 || list[0].State != "failed: port "+strconv.Itoa(port)+": address already in use" {
		t.Fatalf("bindings = %+v", list)
	}
	if len(e2.srv.Addrs()) != 0 {
		t.Errorf("Addrs = %v; want none", e2.srv.Addrs())
	}
	if err := e2.srv.Shutdown(context.Background()); err != nil || e2.srv.Shutdown(context.Background()) != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, _, err := e2.srv.Open(httpd.Spec{Port: port, Context: "api"}); err == nil {
		t.Error("Open after Shutdown succeeded")
	}
}

// TLS turned on and off on an open port keeps the socket: the next connection
// gets the new kind, and the listener never closes.
func TestTLSOnAndOffInPlace(t *testing.T) {
	e := start(t, "")
	port := freePort(t)
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api"}); err != nil {
		t.Fatal(err)
	}
	plain := func() (string, error) {
		resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := plain(); err != nil || body != "api" {
		t.Fatalf("plain GET = %q, %v", body, err)
	}
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb}); err != nil {
		t.Fatal(err)
	}
	if body, _, err := get(port, e.ca, nil); err != nil || body != "api" {
		t.Fatalf("TLS GET after turning TLS on = %q, %v", body, err)
	}
	if body, err := plain(); err == nil && body == "api" {
		t.Error("plain HTTP still served after TLS was turned on")
	}
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "metrics"}); err != nil {
		t.Fatal(err)
	}
	if body, err := plain(); err != nil || body != "metrics" {
		t.Fatalf("plain GET after turning TLS off = %q, %v", body, err)
	}
	for _, addr := range e.srv.Addrs() {
		if addr != "127.0.0.1:"+strconv.Itoa(port) {
			t.Errorf("listener moved to %s", addr)
		}
	}
}

// A request in flight that reads the bindings (the console does, every few
// seconds) never holds up a change, nor a change the request.
func TestChangesDoNotWaitForReaders(t *testing.T) {
	e := start(t, "")
	reading := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(reading)
		<-release
		io.WriteString(w, fmt.Sprint(len(e.srv.List())))
	})
	e.srv = nil
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpd.New(httpd.Config{Records: e.st.Bindings(), Keys: e.keys, Contexts: slowContexts{slow}, Status: status.New(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	e.srv = srv
	p1, p2 := freePort(t), freePort(t)
	if _, _, err := srv.Open(httpd.Spec{Port: p1, Bind: "127.0.0.1", Context: "slow"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p1) + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-reading
	done := make(chan error, 1)
	go func() {
		_, _, err := srv.Open(httpd.Spec{Port: p2, Bind: "127.0.0.1", Context: "slow"})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Open waited for a request in flight")
	}
	close(release)
	if body := <-got; body != "2" {
		t.Errorf("the request saw %q bindings, want 2", body)
	}
}

type slowContexts struct{ h http.Handler }

func (c slowContexts) Handler(name string) (http.Handler, error) {
	if name != "slow" {
		return nil, fmt.Errorf("context %q: unknown", name)
	}
	return c.h, nil
}

func (slowContexts) Describe() []httpd.ContextInfo { return []httpd.ContextInfo{{Name: "slow"}} }

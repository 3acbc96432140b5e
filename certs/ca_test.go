package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/certs"
)

const day = 24 * time.Hour

// testCA is one CA per test binary; key generation is cheap but the tests
// below share issued material.
var (
	caOnce sync.Once
	caVal  *certs.CA
	caErr  error
)

func testCA(t testing.TB) *certs.CA {
	t.Helper()
	caOnce.Do(func() { caVal, caErr = certs.NewCA("Ferry Test CA", 3650*day) })
	if caErr != nil {
		t.Fatalf("NewCA: %v", caErr)
	}
	return caVal
}

func issue(t testing.TB, ca *certs.CA, cn string, kind certs.Kind, sans ...string) certs.Bundle {
	t.Helper()
	b, err := ca.Issue(cn, kind, sans, 825*day)
	if err != nil {
		t.Fatalf("Issue(%q, %v, %q): %v", cn, kind, sans, err)
	}
	return b
}

func TestNewCA(t *testing.T) {
	before := time.Now()
	ca, err := certs.NewCA("Ferry CA", 10*365*day)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	checks := []struct {
		what string
		ok   bool
	}{
		{"is a CA with valid basic constraints", c.IsCA && c.BasicConstraintsValid},
		{"has path length 0", c.MaxPathLen == 0 && c.MaxPathLenZero},
		{"may sign certificates and CRLs", c.KeyUsage&x509.KeyUsageCertSign != 0 && c.KeyUsage&x509.KeyUsageCRLSign != 0},
		{"has a 160-bit subject key id", len(c.SubjectKeyId) == 20},
		{"is self-signed", bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil},
		{"has the CN", c.Subject.CommonName == "Ferry CA"},
		{"uses ECDSA P-256", c.PublicKeyAlgorithm == x509.ECDSA && c.PublicKey.(*ecdsa.PublicKey).Curve == elliptic.P256()},
		{"signs with ECDSA-SHA256", c.SignatureAlgorithm == x509.ECDSAWithSHA256},
		{"starts a little in the past", c.NotBefore.Before(before.Add(-time.Minute)) && c.NotBefore.After(before.Add(-time.Hour))},
		{"lasts the validity asked", c.NotAfter.Sub(before) > 10*365*day-time.Minute && c.NotAfter.Sub(before) < 10*365*day+time.Minute},
		{"has a positive serial of at most 128 bits", c.SerialNumber.Sign() > 0 && c.SerialNumber.BitLen() <= 128},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("the CA certificate %s: false", ch.what)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the CA certificate does not verify against itself: %v", err)
	}
}

func TestNewCARejects(t *testing.T) {
	for _, tc := range []struct {
		cn       string
		validity time.Duration
	}{{"", day}, {"  ", day}, {"x", 0}, {"x", -day}} {
		if ca, err := certs.NewCA(tc.cn, tc.validity); err == nil {
			t.Errorf("NewCA(%q, %v) = %v, nil; want an error", tc.cn, tc.validity, ca)
		}
	}
}

func TestIssue(t *testing.T) {
	ca := testCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	for _, tc := range []struct {
		name    string
		cn      string
		kind    certs.Kind
		sans    []string
		dns     []string
		ips     []string
		usage   x509.ExtKeyUsage
		notUsed x509.ExtKeyUsage
	}{
		{"server with names and addresses", "ferry-web", certs.Server,
			[]string{"ferry1.example", "localhost", "127.0.0.1", "::1", "10.1.2.3", "*.ferry.example"},
			[]string{"ferry-web", "ferry1.example", "localhost", "*.ferry.example"}, []string{"127.0.0.1", "::1", "10.1.2.3"},
			x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{"server named by its CN only", "base.example", certs.Server, nil,
			[]string{"base.example"}, nil, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{"server named by an address", "192.0.2.7", certs.Server, []string{"localhost"},
			[]string{"localhost"}, []string{"192.0.2.7"}, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{"server whose CN is not a name", "Ferry Web Console", certs.Server, []string{"web.example"},
			[]string{"web.example"}, nil, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{"client", "ferry-sentry", certs.Client, []string{"sentry.example"},
			[]string{"sentry.example"}, nil, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		{"client without SANs", "sentry-2", certs.Client, nil, nil, nil, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := issue(t, ca, tc.cn, tc.kind, tc.sans...)
			c := b.Cert
			if c.Subject.CommonName != tc.cn || c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("subject %q, IsCA %v, basic constraints %v", c.Subject, c.IsCA, c.BasicConstraintsValid)
			}
			if !slices.Equal(c.DNSNames, tc.dns) {
				t.Errorf("DNS names %q, want %q", c.DNSNames, tc.dns)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.ips) {
				t.Errorf("IP addresses %q, want %q", ips, tc.ips)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tc.usage}) || c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("ext key usage %v key usage %v", c.ExtKeyUsage, c.KeyUsage)
			}
			if !bytes.Equal(c.AuthorityKeyId, ca.Certificate().SubjectKeyId) || len(c.SubjectKeyId) != 20 {
				t.Errorf("authority key id %x (CA %x), subject key id %x", c.AuthorityKeyId, ca.Certificate().SubjectKeyId, c.SubjectKeyId)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %v is not a random 128-bit number", c.SerialNumber)
			}
			if !c.NotBefore.Before(time.Now().Add(-time.Minute)) {
				t.Errorf("NotBefore %v is not in the past", c.NotBefore)
			}
			if len(b.Chain) != 1 || !b.Chain[0].Equal(ca.Certificate()) {
				t.Errorf("chain %v, want the CA", b.Chain)
			}
			checkSigns(t, b.Key, c)
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}}
			if tc.kind == certs.Server {
				opts.DNSName = tc.dns[0]
			}
			if _, err := c.Verify(opts); err != nil {
				t.Errorf("Verify for %v: %v", tc.usage, err)
			}
			for _, name := range tc.dns {
				if err := c.VerifyHostname(strings.Replace(name, "*", "x", 1)); err != nil {
					t.Errorf("VerifyHostname(%s): %v", name, err)
				}
			}
			opts = x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.notUsed}}
			if _, err := c.Verify(opts); err == nil {
				t.Errorf("a %v certificate verified for %v", tc.kind, tc.notUsed)
			}
		})
	}
}

func TestIssueSerialsDiffer(t *testing.T) {
	ca := testCA(t)
	seen := map[string]bool{ca.Certificate().SerialNumber.String(): true}
	for i := 0; i < 20; i++ {
		s := issue(t, ca, "x", certs.Client).Cert.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestIssueRejects(t *testing.T) {
	ca := testCA(t)
	for _, tc := range []struct {
		name     string
		cn       string
		kind     certs.Kind
		sans     []string
		validity time.Duration
		want     string
	}{
		{"empty CN", "", certs.Server, nil, day, "common name is empty"},
		{"no kind", "x", 0, nil, day, "not client or server"},
		{"zero validity", "x", certs.Client, nil, 0, "not positive"},
		{"SAN with a space", "x", certs.Server, []string{"a b"}, day, `"a b" is not a host name`},
		{"empty SAN", "x", certs.Server, []string{""}, day, `"" is not a host name`},
		{"SAN with a port", "x", certs.Server, []string{"host:443"}, day, `"host:443"`},
		{"SAN label too long", "x", certs.Server, []string{strings.Repeat("a", 64) + ".example"}, day, "not a host name"},
	} {
		b, err := ca.Issue(tc.cn, tc.kind, tc.sans, tc.validity)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Issue = %v, %v; want an error with %q", tc.name, b.Cert, err, tc.want)
		}
	}
}

func TestIssueEndsWithTheCA(t *testing.T) {
	ca, err := certs.NewCA("short CA", 10*day)
	if err != nil {
		t.Fatal(err)
	}
	b := issue(t, ca, "long", certs.Server)
	if !b.Cert.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", b.Cert.NotAfter, ca.Certificate().NotAfter)
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]certs.Kind{"server": certs.Server, "Client": certs.Client, "SERVER": certs.Server} {
		if got, err := certs.ParseKind(in); got != want || err != nil {
			t.Errorf("ParseKind(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := certs.ParseKind("both"); err == nil {
		t.Error(`ParseKind("both") succeeded`)
	}
}

func TestDefaultServerSANs(t *testing.T) {
	sans := certs.DefaultServerSANs()
	want := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		want = append(want, h)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip := a.(*net.IPNet).IP
		if !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			want = append(want, ip.String())
		}
	}
	for _, w := range want {
		if !slices.Contains(sans, w) {
			t.Errorf("DefaultServerSANs() = %q lacks %q", sans, w)
		}
	}
	seen := map[string]bool{}
	for _, s := range sans {
		if seen[s] {
			t.Errorf("DefaultServerSANs() lists %q twice", s)
		}
		seen[s] = true
		if ip := net.ParseIP(s); ip != nil && ip.IsLinkLocalUnicast() {
			t.Errorf("DefaultServerSANs() lists link-local %s", s)
		}
	}
	// Every name verifies in a certificate issued with them.
	ca := testCA(t)
	b := issue(t, ca, "ferry-web", certs.Server, sans...)
	for _, s := range sans {
		if err := b.Cert.VerifyHostname(s); err != nil {
			t.Errorf("VerifyHostname(%s): %v", s, err)
		}
	}
}

// TestMutualTLS runs real handshakes on 127.0.0.1 between a server and a
// client holding Ferry-issued certificates, as the relay listener and the
// sentry client will.
func TestMutualTLS(t *testing.T) {
	ca := testCA(t)
	other, err := certs.NewCA("Other CA", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	server := issue(t, ca, "ferry-base", certs.Server, "localhost", "127.0.0.1", "::1")
	client := issue(t, ca, "ferry-sentry", certs.Client)
	foreign := issue(t, other, "intruder", certs.Client)
	serverAsClient := issue(t, ca, "ferry-web", certs.Server, "localhost")

	// The same material after a PKCS12 round trip and a JKS trust store, as the
	// daemon will load it at boot.
	dir := t.TempDir()
	loadedServer := roundTripPKCS12(t, filepath.Join(dir, "base.pfx"), server)
	loadedClient := roundTripPKCS12(t, filepath.Join(dir, "sentry.pfx"), client)
	if err := certs.WriteJKSTrustStore(filepath.Join(dir, "ca.jks"), "ferry-ca", []*x509.Certificate{ca.Certificate()}, []byte("jks-pass")); err != nil {
		t.Fatal(err)
	}
	trust, err := certs.Load(filepath.Join(dir, "ca.jks"), certs.JKS, []byte("jks-pass"))
	if err != nil {
		t.Fatal(err)
	}
	jksPool, err := trust.TrustPool()
	if err != nil {
		t.Fatal(err)
	}
	caPool := x509.NewCertPool()
	caPool.AddCert(ca.Certificate())

	for _, tc := range []struct {
		name       string
		server     certs.Bundle
		client     *certs.Bundle
		pool       *x509.CertPool
		serverName string
		ok         bool
	}{
		{"issued material, by name", server, &client, caPool, "localhost", true},
		{"issued material, by IPv4 address", server, &client, caPool, "127.0.0.1", true},
		{"loaded from PKCS12 and JKS", loadedServer, &loadedClient, jksPool, "localhost", true},
		{"client certificate from another CA", server, &foreign, caPool, "localhost", false},
		{"server certificate used as a client certificate", server, &serverAsClient, caPool, "localhost", false},
		{"no client certificate", server, nil, caPool, "localhost", false},
		{"name not in the server certificate", server, &client, caPool, "ferry.example", false},
		{"server not trusted by the client", foreignServer(t, other), &client, caPool, "localhost", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := handshake(t, tc.server, tc.client, tc.pool, tc.serverName)
			if (err == nil) != tc.ok {
				t.Errorf("handshake error %v, want success %v", err, tc.ok)
			}
		})
	}
}

func foreignServer(t *testing.T, ca *certs.CA) certs.Bundle {
	return issue(t, ca, "impostor", certs.Server, "localhost")
}

func roundTripPKCS12(t *testing.T, path string, b certs.Bundle) certs.Bundle {
	t.Helper()
	if err := certs.WritePKCS12(path, b, []byte("p12-pass")); err != nil {
		t.Fatal(err)
	}
	ks, err := certs.Load(path, certs.PKCS12, []byte("p12-pass"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ks.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if !kp.Cert.Equal(b.Cert) || len(kp.Chain) != len(b.Chain) || !kp.Chain[0].Equal(b.Chain[0]) {
		t.Fatalf("PKCS12 round trip changed the certificates")
	}
	return kp.Bundle
}

// handshake serves srv on 127.0.0.1:0 requiring a client certificate signed by
// pool, dials it with cli and pool as roots, and exchanges a line. It returns
// the first error from either side.
func handshake(t *testing.T, srv certs.Bundle, cli *certs.Bundle, pool *x509.CertPool, serverName string) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srv.TLSCertificate()},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			serverErr <- err
			return
		}
		_, err = io.Copy(c, io.LimitReader(c, 6))
		serverErr <- err
	}()
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cli != nil {
		cfg.Certificates = []tls.Certificate{cli.TLSCertificate()}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		<-serverErr
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// TLS 1.3 reports a rejected client certificate on the first read.
	_, werr := conn.Write([]byte("ferry\n"))
	got, rerr := io.ReadAll(io.LimitReader(conn, 6))
	if err := <-serverErr; err != nil {
		return err
	}
	if err := errors.Join(werr, rerr); err != nil {
		return err
	}
	if string(got) != "ferry\n" {
		return errors.New("echo mismatch: " + string(got))
	}
	return nil
}

func TestCAFromBundle(t *testing.T) {
	ca := testCA(t)
	path := filepath.Join(t.TempDir(), "ca.pfx")
	stored := roundTripPKCS12CA(t, path, ca)
	again, err := certs.CAFromBundle(stored)
	if err != nil {
		t.Fatalf("CAFromBundle: %v", err)
	}
	b := issue(t, again, "after-restart", certs.Server, "localhost")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	if _, err := b.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Errorf("a certificate from the reloaded CA does not verify against the original: %v", err)
	}
	leaf := issue(t, ca, "leaf", certs.Server)
	otherKey := issue(t, ca, "other", certs.Server).Key
	for name, bad := range map[string]certs.Bundle{
		"a leaf":           leaf,
		"a mismatched key": {Key: otherKey, Cert: ca.Certificate()},
		"nothing":          {},
	} {
		if _, err := certs.CAFromBundle(bad); err == nil {
			t.Errorf("CAFromBundle(%s) succeeded", name)
		}
	}
}

func roundTripPKCS12CA(t *testing.T, path string, ca *certs.CA) certs.Bundle {
	t.Helper()
	if err := certs.WritePKCS12(path, ca.Bundle(), []byte("ca-pass")); err != nil {
		t.Fatal(err)
	}
	ks, err := certs.Load(path, certs.PKCS12, []byte("ca-pass"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ks.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if kp.Cert.SerialNumber.Cmp(big.NewInt(0)) <= 0 || !kp.Cert.Equal(ca.Certificate()) {
		t.Fatal("PKCS12 round trip changed the CA certificate")
	}
	return kp.Bundle
}

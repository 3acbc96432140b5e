package certs_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/certs"
)

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
	}
}

// subjectLineHas says whether a "subject=" line of openssl's output has want.
func subjectLineHas(out, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "subject=") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

func checkContains(t *testing.T, tool, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s output lacks %q:\n%s", tool, w, out)
		}
	}
}

// TestFerryPKCS12OpensInTools: the .pfx files first boot writes open in keytool
// and openssl with their passwords, showing the subject, the chain and the key.
func TestFerryPKCS12OpensInTools(t *testing.T) {
	requireTool(t, "keytool")
	requireTool(t, "openssl")
	ca := testCA(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		file     string
		bundle   certs.Bundle
		chainLen string
	}{
		{"web.pfx", issue(t, ca, "ferry-web", certs.Server, certs.DefaultServerSANs()...), "2"},
		{"sentry.pfx", issue(t, ca, "ferry-sentry", certs.Client), "2"},
		{"ca.pfx", ca.Bundle(), "1"},
	} {
		path := filepath.Join(dir, tc.file)
		password := "pw-" + tc.file
		if err := certs.WritePKCS12(path, tc.bundle, []byte(password)); err != nil {
			t.Fatal(err)
		}
		checkMode(t, path, 0o600)
		cn := tc.bundle.Cert.Subject.CommonName
		t.Run(tc.file+"/keytool", func(t *testing.T) {
			t.Parallel()
			out := mustRun(t, dir, "keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", path, "-storepass", password)
			checkContains(t, "keytool", out, "Entry type: PrivateKeyEntry", "Certificate chain length: "+tc.chainLen,
				"Owner: CN="+cn, "SHA256: "+certs.Fingerprint(tc.bundle.Cert))
		})
		t.Run(tc.file+"/openssl", func(t *testing.T) {
			t.Parallel()
			out := mustRun(t, dir, "openssl", "pkcs12", "-in", path, "-passin", "pass:"+password, "-nodes")
			checkContains(t, "openssl pkcs12", out, "-----BEGIN PRIVATE KEY-----")
			if !subjectLineHas(out, "CN = "+cn) {
				t.Errorf("openssl pkcs12 shows no subject with CN %q:\n%s", cn, out)
			}
			if strings.Count(out, "-----BEGIN CERTIFICATE-----") != len(tc.bundle.Chain)+1 {
				t.Errorf("openssl pkcs12 shows %d certificates, want %d", strings.Count(out, "-----BEGIN CERTIFICATE-----"), len(tc.bundle.Chain)+1)
			}
			out, err := runTool(dir, "openssl", "pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes")
			if err == nil || !strings.Contains(out, "Mac verify error") {
				t.Errorf("openssl pkcs12 with a wrong password: %v\n%s", err, out)
			}
		})
	}
}

// TestFerryJKSTrustStoreOpensInKeytool: ca.jks opens in keytool with its
// password and lists the CA as a trusted certificate with the fingerprint
// Summary prints.
func TestFerryJKSTrustStoreOpensInKeytool(t *testing.T) {
	requireTool(t, "keytool")
	ca := testCA(t)
	other, err := certs.NewCA("Peer CA", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		file    string
		alias   string
		certs   []*x509.Certificate
		aliases []string
	}{
		{"ca.jks", "ferry-ca", []*x509.Certificate{ca.Certificate()}, []string{"ferry-ca"}},
		{"peers.jks", "Peers", []*x509.Certificate{ca.Certificate(), other.Certificate()}, []string{"peers-1", "peers-2"}},
	} {
		path := filepath.Join(dir, tc.file)
		password := "jks-" + tc.file
		if err := certs.WriteJKSTrustStore(path, tc.alias, tc.certs, []byte(password)); err != nil {
			t.Fatal(err)
		}
		checkMode(t, path, 0o600)
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			out := mustRun(t, dir, "keytool", "-list", "-v", "-keystore", path, "-storepass", password)
			want := []string{"Keystore type: JKS"}
			for i, c := range tc.certs {
				want = append(want, "Alias name: "+tc.aliases[i], "Owner: CN="+c.Subject.CommonName, "SHA256: "+certs.Fingerprint(c))
			}
			checkContains(t, "keytool", out, want...)
			if n := strings.Count(out, "Entry type: trustedCertEntry"); n != len(tc.certs) {
				t.Errorf("keytool lists %d trusted entries, want %d", n, len(tc.certs))
			}
			ks, err := certs.Load(path, certs.JKS, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range ks.Summary() {
				if s.Alias != tc.aliases[i] || s.Kind != certs.TrustedEntryKind || s.SHA256 != certs.Fingerprint(tc.certs[i]) {
					t.Errorf("entry %d: %+v", i, s)
				}
			}
		})
	}
}

// TestOpenSSLVerifiesFerryCertificates checks the extensions as a strict
// third-party X.509 implementation reads them, for each purpose.
func TestOpenSSLVerifiesFerryCertificates(t *testing.T) {
	requireTool(t, "openssl")
	ca := testCA(t)
	other, err := certs.NewCA("Other CA", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, c ...*x509.Certificate) string {
		p := filepath.Join(dir, name)
		if err := certs.WritePEMCert(p, c...); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", ca.Certificate())
	server := write("server.pem", issue(t, ca, "ferry-base", certs.Server, "localhost", "127.0.0.1").Cert)
	client := write("client.pem", issue(t, ca, "ferry-sentry", certs.Client).Cert)
	foreign := write("foreign.pem", issue(t, other, "foreign", certs.Server, "localhost").Cert)
	for _, tc := range []struct {
		name, file, purpose string
		extra               []string
		ok                  bool
	}{
		{"server for TLS server", server, "sslserver", []string{"-verify_hostname", "localhost"}, true},
		{"server by address", server, "sslserver", []string{"-verify_ip", "127.0.0.1"}, true},
		{"client for TLS client", client, "sslclient", nil, true},
		{"CA itself", caFile, "any", nil, true},
		{"server for TLS client", server, "sslclient", nil, false},
		{"client for TLS server", client, "sslserver", nil, false},
		{"wrong host name", server, "sslserver", []string{"-verify_hostname", "other.example"}, false},
		{"another CA's certificate", foreign, "sslserver", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"verify", "-x509_strict", "-purpose", tc.purpose, "-CAfile", caFile}, tc.extra...)
			out, err := runTool(dir, "openssl", append(args, tc.file)...)
			if ok := err == nil && strings.Contains(out, ": OK"); ok != tc.ok {
				t.Errorf("openssl verify ok=%v, want %v: %v\n%s", ok, tc.ok, err, out)
			}
		})
	}
}

func TestWritePEMCertAndKey(t *testing.T) {
	requireTool(t, "openssl")
	ca := testCA(t)
	b := issue(t, ca, "ferry-web", certs.Server, "localhost")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "web.pem"), filepath.Join(dir, "web.key")
	if err := certs.WritePEMCert(certFile, b.Cert, ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if err := certs.WritePEMKey(keyFile, b.Key); err != nil {
		t.Fatal(err)
	}
	checkMode(t, certFile, 0o644)
	checkMode(t, keyFile, 0o600)
	out := mustRun(t, dir, "openssl", "x509", "-in", certFile, "-noout", "-subject", "-fingerprint", "-sha256")
	checkContains(t, "openssl x509", out, "subject=CN = ferry-web", "sha256 Fingerprint="+certs.Fingerprint(b.Cert))
	pubFromKey := mustRun(t, dir, "openssl", "pkey", "-in", keyFile, "-pubout")
	pubFromCert := mustRun(t, dir, "openssl", "x509", "-in", certFile, "-noout", "-pubkey")
	if pubFromKey != pubFromCert {
		t.Errorf("openssl sees different public keys in the key and the certificate:\n%s\n%s", pubFromKey, pubFromCert)
	}
	ks, err := certs.Load(certFile, certs.PEM, nil)
	if err != nil || len(ks.Trusted) != 2 || len(ks.Keys) != 0 {
		t.Fatalf("Load of the PEM certificates: %v", err)
	}
	key, _ := os.ReadFile(keyFile)
	crt, _ := os.ReadFile(certFile)
	both := writeTemp(t, "both.pem", append(key, crt...))
	ks, err = certs.Load(both, certs.PEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ks.KeyPair()
	if err != nil || !kp.Cert.Equal(b.Cert) || len(kp.Chain) != 1 {
		t.Fatalf("KeyPair of key + chain PEM: %v", err)
	}
}

func TestWritesReplaceAtomically(t *testing.T) {
	ca := testCA(t)
	b := issue(t, ca, "ferry-web", certs.Server)
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		mode  os.FileMode
		write func(path string) error
	}{
		{"web.pfx", 0o600, func(p string) error { return certs.WritePKCS12(p, b, []byte("pw")) }},
		{"ca.jks", 0o600, func(p string) error {
			return certs.WriteJKSTrustStore(p, "ferry-ca", []*x509.Certificate{ca.Certificate()}, []byte("pw"))
		}},
		{"ca.pem", 0o644, func(p string) error { return certs.WritePEMCert(p, ca.Certificate()) }},
		{"web.key", 0o600, func(p string) error { return certs.WritePEMKey(p, b.Key) }},
	} {
		path := filepath.Join(dir, tc.file)
		if err := os.WriteFile(path, []byte("old content"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := tc.write(path); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		checkMode(t, path, tc.mode)
		if got, _ := os.ReadFile(path); string(got) == "old content" {
			t.Errorf("%s was not replaced", tc.file)
		}
		if err := tc.write(filepath.Join(dir, "missing", tc.file)); err == nil {
			t.Errorf("%s: writing into a missing directory succeeded", tc.file)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %q; temporary files were left behind", names)
	}
}

func TestWritersRejectBadInput(t *testing.T) {
	ca := testCA(t)
	a, b := issue(t, ca, "a", certs.Server), issue(t, ca, "b", certs.Server)
	dir := t.TempDir()
	for name, err := range map[string]error{
		"PKCS12 with a mismatched key": certs.WritePKCS12(filepath.Join(dir, "x.pfx"), certs.Bundle{Key: a.Key, Cert: b.Cert}, []byte("pw")),
		"PKCS12 without a key":         certs.WritePKCS12(filepath.Join(dir, "x.pfx"), certs.Bundle{Cert: b.Cert}, []byte("pw")),
		"JKS without certificates":     certs.WriteJKSTrustStore(filepath.Join(dir, "x.jks"), "a", nil, []byte("pw")),
		"JKS without an alias":         certs.WriteJKSTrustStore(filepath.Join(dir, "x.jks"), "", []*x509.Certificate{a.Cert}, []byte("pw")),
		"PEM without certificates":     certs.WritePEMCert(filepath.Join(dir, "x.pem")),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused writes left %d files", len(entries))
	}
}

package certs_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/secretbox"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// registryEnv is a registry over a real confdb and secret key in one data dir.
type registryEnv struct {
	dir   string
	st    *store.Store
	model *status.Model
	logs  *bytes.Buffer
}

func newRegistryEnv(t *testing.T) *registryEnv {
	t.Helper()
	return &registryEnv{dir: t.TempDir(), logs: &bytes.Buffer{}}
}

// start opens the confdb and starts a registry on it, as ferryd does at boot.
func (e *registryEnv) start(t *testing.T, now func() time.Time) *certs.Registry {
	t.Helper()
	st, err := store.Open(filepath.Join(e.dir, "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	box, _, err := secretbox.Open(filepath.Join(e.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	e.st, e.model = st, status.New()
	r, err := certs.NewRegistry(certs.RegistryConfig{
		Records: st.Keystores(), Secrets: box, Flags: st, Status: e.model,
		Log:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		CADir: filepath.Join(e.dir, "ca", "certs"), Hostname: "edge1", Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()); st.Close() })
	return r
}

func (e *registryEnv) stop(t *testing.T, r *certs.Registry) {
	t.Helper()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	e.st.Close()
}

func TestFirstBootCreatesLocalCA(t *testing.T) {
	e := newRegistryEnv(t)
	r := e.start(t, nil)
	want := map[string]string{
		certs.AliasCA: "ca.jks", certs.AliasCAKey: "ca.pfx", certs.AliasWeb: "web.pfx",
		certs.AliasBase: "base.pfx", certs.AliasSentry: "sentry.pfx",
	}
	list := r.List()
	if len(list) != len(want) {
		t.Fatalf("List = %+v; want the %d generated aliases", list, len(want))
	}
	for _, in := range list {
		file, ok := want[in.Alias]
		if !ok {
			t.Errorf("unexpected alias %q", in.Alias)
			continue
		}
		if in.Path != filepath.Join(e.dir, "ca", "certs", file) || in.State != "ok" || in.Expiry != "ok" {
			t.Errorf("%s = %+v", in.Alias, in)
		}
		fi, err := os.Stat(in.Path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", in.Path, err, fi.Mode().Perm())
		}
	}
	if _, err := r.Certificate(certs.AliasWeb); err != nil {
		t.Errorf("ferry-web has no key pair: %v", err)
	}
	if _, err := r.TrustPool(certs.AliasCA); err != nil {
		t.Errorf("ferry-ca has no trust pool: %v", err)
	}
	if _, err := r.LocalCA(); err != nil {
		t.Errorf("LocalCA: %v", err)
	}
	// The confdb holds only sealed passwords.
	recs, _, _ := e.st.Keystores().List()
	for _, rec := range recs {
		if !strings.HasPrefix(rec.Password, "v1:") {
			t.Errorf("%s: stored password %q is not sealed", rec.Alias, rec.Password)
		}
	}

	// A restart loads the same material, unsealing the passwords, and creates nothing new.
	web, _ := r.Certificate(certs.AliasWeb)
	e.stop(t, r)
	r2 := e.start(t, nil)
	web2, err := r2.Certificate(certs.AliasWeb)
	if err != nil || !bytes.Equal(web2.Leaf.Raw, web.Leaf.Raw) {
		t.Fatalf("after restart ferry-web = %v, %v; want the same certificate", web2, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "ca")); len(entries) != 1 {
		t.Errorf("restart created more CA dirs: %v", entries)
	}

	// Unregistered generated aliases stay unregistered after a restart.
	for _, a := range []string{certs.AliasCA, certs.AliasCAKey, certs.AliasWeb, certs.AliasBase} {
		if _, err := r2.Unregister(a); err != nil {
			t.Fatal(err)
		}
	}
	e.stop(t, r2)
	r3 := e.start(t, nil)
	if list := r3.List(); len(list) != 1 || list[0].Alias != certs.AliasSentry {
		t.Fatalf("after unregister and restart: %+v; want only ferry-sentry", list)
	}
	if _, err := r3.LocalCA(); !errors.Is(err, certs.ErrNoLocalCA) {
		t.Errorf("LocalCA without ferry-ca-key = %v; want ErrNoLocalCA", err)
	}
}

// Tool-made keystores register; each bad one is refused with its own error and
// registers nothing.
func TestRegister(t *testing.T) {
	dir := fixtures(t)
	e := newRegistryEnv(t)
	r := e.start(t, nil)
	fx := func(name string) string { return filepath.Join(dir, name) }
	corrupt := filepath.Join(t.TempDir(), "corrupt.p12")
	raw, _ := os.ReadFile(fx(fxKtP12))
	os.WriteFile(corrupt, raw[:len(raw)/2], 0o600)

	ok := []struct {
		alias, typ, file, pw, cn string
	}{
		{"kt-jks", "JKS", fxKtJKS, ktPass, fxKtJKSCN},
		{"kt-p12", "PKCS12", fxKtP12, ktPass, fxKtP12CN},
		{"ossl-p12", "PKCS12", fxOsslP12, p12Pass, fxLeafCN},
		{"kt-trust", "JKS", fxKtTrustJKS, trustPass, fxCACN},
		{"pem-chain", "PEM", fxChainEnc, pemPass, fxLeafCN},
		{"pem-ca", "PEM", fxCAPEM, "", fxCACN},
	}
	for _, tc := range ok {
		now, replaced, err := r.Register(tc.alias, certs.Type(tc.typ), fx(tc.file), []byte(tc.pw))
		if err != nil || replaced != nil || now.State != "ok" || !strings.Contains(now.Subject, tc.cn) {
			t.Errorf("Register(%s) = %+v, %v, %v; want ok with subject %s", tc.alias, now, replaced, err, tc.cn)
		}
	}
	bad := []struct {
		name, typ, path, pw string
		want                error
	}{
		{"wrong password", "PKCS12", fx(fxKtP12), "nope", certs.ErrWrongPassword},
		{"wrong JKS password", "JKS", fx(fxKtJKS), "nope", certs.ErrWrongPassword},
		{"missing file", "PKCS12", filepath.Join(dir, "absent.p12"), ktPass, certs.ErrNotFound},
		{"wrong type", "JKS", fx(fxKtP12), ktPass, certs.ErrWrongType},
		{"corrupt", "PKCS12", corrupt, ktPass, certs.ErrCorrupt},
	}
	before := len(r.List())
	for _, tc := range bad {
		_, _, err := r.Register("bad", certs.Type(tc.typ), tc.path, []byte(tc.pw))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Register = %v; want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := r.Register("bad", certs.PKCS12, fx(fxKtP12), []byte("nope")); err == nil || !strings.Contains(err.Error(), "keystore password was incorrect") {
		t.Errorf("wrong password error %q lacks the guide's words", err)
	}
	if got := len(r.List()); got != before {
		t.Errorf("failed registrations changed the list: %d aliases, want %d", got, before)
	}
	if _, ok, _ := e.st.Keystores().Get("bad"); ok {
		t.Error("a failed registration was written to the confdb")
	}
	// A trust store cannot serve TLS; a key store without trusted entries cannot verify.
	if _, err := r.Certificate("kt-trust"); !errors.Is(err, certs.ErrNoEntries) {
		t.Errorf("Certificate(trust store) = %v; want ErrNoEntries", err)
	}
	if _, err := r.Certificate("nobody"); !errors.Is(err, certs.ErrNotRegistered) {
		t.Errorf("Certificate(unknown) = %v; want ErrNotRegistered", err)
	}
}

// Registering an alias that exists replaces it and says what it held; the
// lookup listeners make at handshake time sees the new material at once.
func TestRegisterReplaces(t *testing.T) {
	dir := fixtures(t)
	e := newRegistryEnv(t)
	r := e.start(t, nil)
	before, _ := r.Certificate(certs.AliasWeb)
	now, replaced, err := r.Register(certs.AliasWeb, certs.PKCS12, filepath.Join(dir, fxKtP12), []byte(ktPass))
	if err != nil {
		t.Fatal(err)
	}
	if replaced == nil || replaced.Subject == now.Subject || !strings.Contains(now.Subject, fxKtP12CN) {
		t.Fatalf("replaced = %+v, now = %+v; want the generated one replaced by %s", replaced, now, fxKtP12CN)
	}
	after, _ := r.Certificate(certs.AliasWeb)
	if after == before || after.Leaf.Subject.CommonName != fxKtP12CN {
		t.Errorf("Certificate after replace = %v", after.Leaf.Subject)
	}
	var changed []string
	r.OnChange(func(a string) { changed = append(changed, a) })
	r.Register(certs.AliasWeb, certs.PKCS12, filepath.Join(dir, fxKtP12), []byte(ktPass))
	r.Unregister(certs.AliasBase)
	if len(changed) != 1 || changed[0] != certs.AliasWeb {
		t.Errorf("OnChange saw %v; want the one registration", changed)
	}
	// A key pair is not replaced by a truststore, nor a truststore by a key store.
	if _, _, err := r.Register(certs.AliasWeb, certs.JKS, filepath.Join(dir, fxKtTrustJKS), []byte(trustPass)); !errors.Is(err, certs.ErrNoEntries) || !strings.Contains(err.Error(), "unregister it first") {
		t.Errorf("replacing a key pair with a truststore = %v", err)
	}
	if _, _, err := r.Register(certs.AliasCA, certs.PKCS12, filepath.Join(dir, fxKtP12), []byte(ktPass)); !errors.Is(err, certs.ErrNoEntries) {
		t.Errorf("replacing a truststore with a key store = %v", err)
	}
	if c, _ := r.Certificate(certs.AliasWeb); c == nil || c.Leaf.Subject.CommonName != fxKtP12CN {
		t.Error("a refused replacement changed the alias")
	}
}

// A keystore that no longer loads at boot is listed as failed and the rest load.
func TestBootKeepsFailedKeystore(t *testing.T) {
	e := newRegistryEnv(t)
	r := e.start(t, nil)
	e.stop(t, r)
	os.Remove(filepath.Join(e.dir, "ca", "certs", "web.pfx"))
	r = e.start(t, nil)
	var web certs.Info
	for _, in := range r.List() {
		if in.Alias == certs.AliasWeb {
			web = in
		} else if in.State != "ok" {
			t.Errorf("%s: %s", in.Alias, in.State)
		}
	}
	if !strings.HasPrefix(web.State, "failed: ") || !strings.Contains(web.State, "not found") {
		t.Errorf("ferry-web state = %q; want failed: ... not found", web.State)
	}
	if _, err := r.Certificate(certs.AliasWeb); err == nil {
		t.Error("a failed alias served a certificate")
	}

	// Another secret.key cannot unseal the passwords: failed, not a crash.
	e.stop(t, r)
	os.Remove(filepath.Join(e.dir, "secret.key"))
	r = e.start(t, nil)
	for _, in := range r.List() {
		if !strings.Contains(in.State, "cannot be unsealed") {
			t.Errorf("%s with another secret.key: %q", in.Alias, in.State)
		}
	}
}

// Expiry shows in the list, in the status model, and in a warning logged once a day.
func TestExpiryWarning(t *testing.T) {
	e := newRegistryEnv(t)
	clock := time.Now()
	r := e.start(t, func() time.Time { return clock })
	e.stop(t, r)
	// Nearly 825 days later the leaf certificates are within 30 days of expiry.
	clock = clock.Add(certs.LeafValidity - 10*24*time.Hour)
	r = e.start(t, func() time.Time { return clock })
	for _, in := range r.List() {
		want := "soon"
		if in.Alias == certs.AliasCA || in.Alias == certs.AliasCAKey {
			want = "ok"
		}
		if in.Expiry != want {
			t.Errorf("%s expiry = %q (days left %d); want %s", in.Alias, in.Expiry, in.DaysLeft, want)
		}
	}
	e.stop(t, r)
	if n := strings.Count(e.logs.String(), "certificate expires soon"); n != 3 {
		t.Errorf("logged %d expiry warnings; want 3 (web, base, sentry):\n%s", n, e.logs.String())
	}
	var found bool
	r = e.start(t, func() time.Time { return clock })
	for _, sec := range e.model.Snapshot() {
		for _, f := range sec.Fields {
			if sec.MetricName(f) == "ferry_certificate_expiry_timestamp_seconds" && f.LabelValues[0] == certs.AliasWeb {
				found = f.Value.(int64) > time.Now().Unix()
			}
		}
	}
	if !found {
		t.Error("status has no ferry_certificate_expiry_timestamp_seconds{alias=ferry-web} in the future")
	}
}

// The files first boot and certs.issue write open in keytool and openssl with
// their passwords (first boot's are unsealed from the confdb with secret.key).
func TestGeneratedFilesOpenInTools(t *testing.T) {
	requireTool(t, "keytool")
	requireTool(t, "openssl")
	e := newRegistryEnv(t)
	r := e.start(t, nil)
	box, _, err := secretbox.Open(filepath.Join(e.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := e.st.Keystores().List()
	for _, rec := range recs {
		pw, err := box.OpenFor("keystore/"+rec.Alias, rec.Password)
		if err != nil {
			t.Fatalf("%s: unseal: %v", rec.Alias, err)
		}
		switch rec.Type {
		case "JKS":
			out := mustRun(t, e.dir, "keytool", "-list", "-v", "-keystore", rec.Path, "-storepass", string(pw))
			if !strings.Contains(out, "trustedCertEntry") || !strings.Contains(out, "CN=Ferry CA edge") {
				t.Errorf("keytool -list %s:\n%s", rec.Path, out)
			}
		case "PKCS12":
			out := mustRun(t, e.dir, "openssl", "pkcs12", "-in", rec.Path, "-passin", "pass:"+string(pw), "-nodes")
			if !strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "issuer=") {
				t.Errorf("openssl pkcs12 %s: no key or certificate:\n%s", rec.Path, out)
			}
			mustRun(t, e.dir, "keytool", "-list", "-storetype", "PKCS12", "-keystore", rec.Path, "-storepass", string(pw))
		}
	}
	// certs.issue's file, and the CA exported for peers.
	dir := t.TempDir()
	issued, err := r.Issue(certs.IssueRequest{Path: filepath.Join(dir, "peer.pfx"), CN: "peer.example", Kind: certs.Server,
		SANs: []string{"10.0.0.9"}, Password: []byte("peer-secret")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ExportCA(filepath.Join(dir, "ca.pem"), certs.ExportPEM, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ExportCA(filepath.Join(dir, "ca.jks"), certs.ExportJKS, []byte("jks-secret"), false); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "openssl", "pkcs12", "-in", "peer.pfx", "-passin", "pass:peer-secret", "-nokeys", "-clcerts", "-out", "peer.pem")
	out := mustRun(t, dir, "openssl", "verify", "-CAfile", "ca.pem", "peer.pem")
	if !strings.Contains(out, "peer.pem: OK") {
		t.Errorf("openssl verify: %s", out)
	}
	out = mustRun(t, dir, "openssl", "x509", "-in", "peer.pem", "-noout", "-ext", "subjectAltName")
	if !strings.Contains(out, "DNS:peer.example") || !strings.Contains(out, "IP Address:10.0.0.9") {
		t.Errorf("SANs of %s: %s", issued.Subject, out)
	}
	if out := mustRun(t, dir, "keytool", "-list", "-keystore", "ca.jks", "-storepass", "jks-secret"); !strings.Contains(out, "trustedCertEntry") {
		t.Errorf("keytool -list ca.jks:\n%s", out)
	}
	// The issued file registers back, as another node would register it.
	if _, _, err := r.Register("peer", certs.PKCS12, filepath.Join(dir, "peer.pfx"), []byte("peer-secret")); err != nil {
		t.Fatal(err)
	}
}

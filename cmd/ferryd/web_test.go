package main

// The certificates and the web side, end to end: a real ferryd, OpenSSH for the
// shell, curl and crypto/tls for the web ports.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-appliance/ferry/certs"
)

// curl runs curl against the daemon's console with the CA in caFile; auth ""
// sends no credentials. It returns the HTTP status and the body.
func curl(t *testing.T, caFile, auth, url string, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"-sS", "--max-time", "10", "--cacert", caFile, "-o", "-", "-w", "\n%{http_code}", "-K", "-"}, extra...)
	cmd := exec.Command("curl", append(args, url)...)
	if auth != "" {
		cmd.Stdin = strings.NewReader(fmt.Sprintf("user = %q\n", auth))
	} else {
		cmd.Stdin = strings.NewReader("")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, out)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	return code, s[:max(i, 0)]
}

// exportCA writes the daemon's CA certificate as PEM through certs.exportCa.
func (d *daemon) exportCA(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	d.mustRun(t, "certs.exportCa "+path, "")
	return path
}

func TestConsoleServedOverTLSWithAuthentication(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	if d.web == "" {
		t.Fatalf("no https listener in the ready file: %v", d.readyInfo.Listeners)
	}
	ca := d.exportCA(t)
	base := "https://" + d.web

	// curl verifies the chain with the Ferry CA.
	if code, body := curl(t, ca, "", base+"/login"); code != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("GET /login = %d\n%s", code, body)
	}
	for _, path := range []string{"/api/status", "/metrics"} {
		if code, _ := curl(t, ca, "", base+path); code != 401 {
			t.Errorf("unauthenticated GET %s = %d; want 401", path, code)
		}
		if code, _ := curl(t, ca, "root:wrong-password", base+path); code != 401 {
			t.Errorf("GET %s with a wrong password = %d; want 401", path, code)
		}
	}
	code, body := curl(t, ca, "root:"+changedPassword, base+"/api/status")
	if code != 200 || !strings.Contains(body, `"section":"system"`) {
		t.Fatalf("GET /api/status = %d\n%s", code, body)
	}
	code, body = curl(t, ca, "root:"+changedPassword, base+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	expiry := families["ferry_certificate_expiry_timestamp_seconds"]
	if expiry == nil {
		t.Fatalf("/metrics lacks ferry_certificate_expiry_timestamp_seconds:\n%s", body)
	}
	var aliases []string
	for _, m := range expiry.Metric {
		for _, l := range m.Label {
			if l.GetName() == "alias" {
				aliases = append(aliases, l.GetValue())
			}
		}
	}
	if !strings.Contains(strings.Join(aliases, ","), "ferry-web") {
		t.Errorf("expiry metric aliases = %v; want ferry-web among them", aliases)
	}
	if f := families["ferry_shell_logins_total"]; f == nil || f.GetType().String() != "COUNTER" {
		t.Errorf("ferry_shell_logins_total = %v; want a counter", f)
	}

	// A client that does not trust the Ferry CA refuses the certificate.
	other := filepath.Join(t.TempDir(), "other-ca.pem")
	os.WriteFile(other, pemOf(otherCA(t)), 0o600)
	cmd := exec.Command("curl", "-sS", "--max-time", "10", "--cacert", other, base+"/login")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("curl trusted the console without the Ferry CA:\n%s", out)
	}
}

// The guide's certificate and web-server procedure, verbatim but for names,
// paths and ports, as one SSH batch: a second Ferry (the central) issues the
// files, the edge swaps its generated keystores for them and reopens 8443.
func TestGuideCertificateProcedure(t *testing.T) {
	central := startDaemon(t, "").ready(t)
	edge := startDaemon(t, "").ready(t)
	const pw = "Cert-Pass-0003"
	out := t.TempDir()
	// On the central: certificates for the edge, and the CA as a JKS truststore.
	issue := fmt.Sprintf(`certs.issue %[1]s/base.pfx 127.0.0.1 server --san localhost
%[2]s
certs.issue %[1]s/sentry.pfx edge-sentry client
%[2]s
certs.issue %[1]s/storage.pfx edge-storage client
%[2]s
certs.issue %[1]s/web.pfx 127.0.0.1 server --san localhost
%[2]s
certs.exportCa %[1]s/ca.jks
%[2]s
certs.exportCa %[1]s/ca.pem
`, out, pw)
	issued := central.mustRun(t, "", issue)
	webFP := fingerprintAfter(t, issued, out+"/web.pfx")

	// Copied to the edge's certificate directory, over the generated files.
	certDir := filepath.Join(edge.dir, "ca", "certs")
	for _, f := range []string{"ca.jks", "base.pfx", "sentry.pfx", "storage.pfx", "web.pfx"} {
		raw, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, f), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(edge.web)
	batch := fmt.Sprintf(`keystore.list
keystore.unregister ferry-ca
keystore.unregister ferry-ca-key
keystore.unregister ferry-web
keystore.unregister ferry-base
keystore.register ferry-ca JKS %[1]s/ca.jks
%[2]s
keystore.register ferry-base PKCS12 %[1]s/base.pfx
%[2]s
keystore.register ferry-sentry PKCS12 %[1]s/sentry.pfx
%[2]s
keystore.register ferry-storage PKCS12 %[1]s/storage.pfx
%[2]s
keystore.register ferry-web PKCS12 %[1]s/web.pfx
%[2]s
httpd.bindings
httpd.close %[3]s
httpd.openSsl %[3]s webconsole ferry-web
`, certDir, pw, port)
	got := edge.mustRun(t, "", batch)
	for _, want := range []string{
		"Key Stores", "[ferry-ca] type: JKS, path: " + certDir + "/ca.jks",
		"[ferry-ca-key] type: PKCS12, path: " + certDir + "/ca.pfx",
		"registered [ferry-storage] PKCS12",
		"replaced   [ferry-sentry]", // registered without unregistering first
		"/0.0.0.0:" + port + " (ssl: key ferry-web, trust null), opened, default context: webconsole",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("batch output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, pw) {
		t.Errorf("the batch output shows a password:\n%s", got)
	}

	// curl sees the central's certificate: it verifies with the central's CA...
	if code, _ := curl(t, out+"/ca.pem", "", "https://127.0.0.1:"+port+"/login"); code != 200 {
		t.Fatalf("curl with the central's CA: %d", code)
	}
	// ...and the certificate is the one certs.issue wrote.
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if fp := certs.Fingerprint(served); fp != webFP {
		t.Errorf("served certificate %s (%s); want the issued %s", fp, served.Subject, webFP)
	}
	list := edge.mustRun(t, "keystore.list", "")
	if strings.Contains(list, "ferry-ca-key") || !strings.Contains(list, "[ferry-storage]") {
		t.Errorf("keystore.list after the procedure:\n%s", list)
	}
	// The edge has no CA of its own now: certs.issue says where to go.
	r := edge.openssh(t, "root", changedPassword, "", "certs.issue /tmp/x.pfx x server")
	if r.code == 0 || !strings.Contains(r.stderr, "no local CA") {
		t.Errorf("certs.issue on the edge: exit %d, %s", r.code, r.stderr)
	}
}

// Refused keystores: each gets its own line on stderr and registers nothing.
func TestKeystoreRegisterRefusals(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	certDir := filepath.Join(d.dir, "ca", "certs")
	corrupt := filepath.Join(t.TempDir(), "corrupt.pfx")
	raw, _ := os.ReadFile(filepath.Join(certDir, "web.pfx"))
	os.WriteFile(corrupt, raw[:len(raw)/3], 0o600)
	pemOnly := filepath.Join(t.TempDir(), "ca.pem")
	d.mustRun(t, "certs.exportCa "+pemOnly, "")
	tests := []struct {
		name, batch, want string
	}{
		{"wrong password", "keystore.register x PKCS12 " + certDir + "/web.pfx\nnot-the-password\n", "keystore password was incorrect"},
		{"missing file", "keystore.register x PKCS12 " + certDir + "/absent.pfx\n", "keystore file not found"},
		{"wrong type", "keystore.register x JKS " + certDir + "/web.pfx\n", "wrong keystore type"},
		{"corrupt file", "keystore.register x PKCS12 " + corrupt + "\npassword\n", "keystore file is corrupt"},
		{"unknown type", "keystore.register x P7B " + certDir + "/web.pfx\n", "usage"},
		{"relative path", "keystore.register x PKCS12 web.pfx\n", "absolute path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.openssh(t, "root", changedPassword, tc.batch, "")
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", r.code, r.stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("more than one line on stderr: %q", r.stderr)
			}
		})
	}
	if list := d.mustRun(t, "keystore.list", ""); strings.Contains(list, "[x]") {
		t.Errorf("a refused keystore was registered:\n%s", list)
	}
	// A PEM file of certificates only is a trust store: no password asked.
	out := d.mustRun(t, "keystore.register peer-ca PEM "+pemOnly, "")
	if !strings.Contains(out, "registered [peer-ca] PEM") || strings.Contains(out, "password?") {
		t.Errorf("PEM trust store: %q", out)
	}
}

// A binding on a port in use fails cleanly and leaves the old state; bindings
// come back after a restart.
func TestBindingsLiveAndAfterRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	before := d.mustRun(t, "httpd.bindings", "")
	r := d.openssh(t, "root", changedPassword, "", "httpd.openSsl "+takenPort+" api ferry-web --bind 127.0.0.1")
	if r.code != 1 || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("openSsl on a taken port: exit %d, %q", r.code, r.stderr)
	}
	if after := d.mustRun(t, "httpd.bindings", ""); after != before {
		t.Errorf("a failed open changed the bindings:\n%s\nto\n%s", before, after)
	}
	metricsPort := strconv.Itoa(freePort(t))
	d.mustRun(t, "httpd.open "+metricsPort+" metrics --bind 127.0.0.1", "")
	d.stop()

	d2 := startDaemon(t, dir)
	ca := d2.exportCA(t)
	if code, _ := curl(t, ca, "", "https://"+d2.web+"/login"); code != 200 {
		t.Errorf("console after restart: %d", code)
	}
	if code, _ := curl(t, ca, "root:"+changedPassword, "http://127.0.0.1:"+metricsPort+"/metrics"); code != 200 {
		t.Errorf("plain metrics port after restart: %d", code)
	}
	list := d2.mustRun(t, "httpd.bindings --json", "")
	if !strings.Contains(list, `"port": `+metricsPort) || !strings.Contains(list, `"context": "metrics"`) {
		t.Errorf("httpd.bindings after restart: %s", list)
	}
}

// Web logins count against the same lockout as SSH logins.
func TestWebFailuresLockOutSSH(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	ca := d.exportCA(t)
	for range 5 {
		curl(t, ca, "root:wrong-password", "https://"+d.web+"/api/status")
	}
	r := d.openssh(t, "root", changedPassword, "", "system.status")
	if r.code == 0 {
		t.Fatal("SSH password login succeeded after 5 failed web logins from the same address")
	}
	if code, _ := curl(t, ca, "root:"+changedPassword, "https://"+d.web+"/api/status"); code != 401 {
		t.Errorf("web login while locked out = %d; want 401", code)
	}
}

// fingerprintAfter finds the SHA-256 certs.issue printed for the file at path.
func fingerprintAfter(t *testing.T, out, path string) string {
	t.Helper()
	var fp string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "SHA-256: "); ok {
			fp = s
		}
		if strings.Contains(line, "written: "+path) {
			return fp
		}
	}
	t.Fatalf("no fingerprint for %s in:\n%s", path, out)
	return ""
}

// otherCA is a CA certificate that is not the daemon's.
func otherCA(t *testing.T) *x509.Certificate {
	t.Helper()
	ca, err := certs.NewCA("Other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca.Certificate()
}

func pemOf(c *x509.Certificate) []byte {
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	return b.Bytes()
}

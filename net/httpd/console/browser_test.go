package console

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-appliance/ferry/internal/browser"
	"github.com/ferry-appliance/ferry/status"
)

// realisticViews are views shaped like ferryd's: a real status model with
// the system, lockout and shell sections, and the registries' lists.
func realisticViews(t *testing.T, f *fixture) []View {
	t.Helper()
	model := status.New()
	var (
		version  = status.NewInfo("version", "Ferry version")
		hostname = status.NewInfo("hostname", "Host name")
		dataDir  = status.NewInfo("data_dir", "Data directory")
		uptime   = status.NewGauge("uptime_seconds", "seconds", "Time since ferryd started")
		confdb   = status.NewGauge("confdb_size_bytes", "bytes", "Size of the confdb file")
		logins   = status.NewCounter("logins_total", "Shell logins, by result", "result")
		notAfter = status.NewGauge("not_after_seconds", "seconds", "Seconds until the certificate expires")
	)
	must := func(_ *status.Registration, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(model.Register("system", nil, func() []status.Field {
		return []status.Field{version.Field("v0.2.0+test"), hostname.Field("ferry-test-01"), dataDir.Field("/var/lib/ferry"),
			uptime.Field(3*86400 + 4*3600 + 120), confdb.Field(1258291)}
	}))
	must(f.lo.Report(model, "ssh", "web"))
	must(model.Register("shell", nil, func() []status.Field {
		return []status.Field{logins.Field(7, "ok"), logins.Field(2, "failed")}
	}))
	must(model.Register("certificate", status.Labels{{Name: "alias", Value: "ferry-web"}}, func() []status.Field {
		return []status.Field{notAfter.Field(364 * 86400)}
	}))
	keystores := []map[string]any{
		{"alias": "ferry-web", "type": "PKCS12", "path": "/var/lib/ferry/ca/certs/web.pfx", "state": "ok", "subject": "CN=ferry-web",
			"issuer": "CN=Ferry CA", "not_after": "2027-12-01T00:00:00Z", "days_left": 364, "expiry": "ok", "used_by": []string{"8443"}},
		{"alias": "upstream-trust", "type": "PEM", "path": "/var/lib/ferry/trust/upstream.pem", "state": "ok", "subject": "CN=Upstream Root",
			"issuer": "CN=Upstream Root", "not_after": "2026-12-20T00:00:00Z", "days_left": 19, "expiry": "soon"},
		{"alias": "old-sentry", "type": "JKS", "path": "/var/lib/ferry/sentry.jks", "state": "ok", "subject": "CN=sentry",
			"issuer": "CN=Ferry CA", "not_after": "2026-11-01T00:00:00Z", "days_left": -30, "expiry": "expired"},
		{"alias": "broken-store", "type": "PKCS12", "path": "/var/lib/ferry/broken.pfx", "state": "failed: pkcs12: decryption password incorrect"},
	}
	bindings := []map[string]any{
		{"port": 8443, "address": "0.0.0.0:8443", "tls": true, "key": "ferry-web", "trust": "", "context": "webconsole", "state": "opened", "note": ""},
		{"port": 9443, "address": "10.0.0.2:9443", "tls": true, "key": "ferry-web", "trust": "ferry-ca", "context": "api", "state": "opened"},
		{"port": 9100, "address": "0.0.0.0:9100", "tls": false, "key": "", "trust": "", "context": "metrics",
			"state": "failed: listen tcp 0.0.0.0:9100: bind: address already in use"},
	}
	sessions := []map[string]any{
		{"id": 1, "account": "root", "remote": "10.0.0.5:50122", "mode": "interactive", "started": "2026-12-01T09:12:00Z"},
		{"id": 2, "account": "ops", "remote": "10.0.0.9:41000", "mode": "exec", "started": "2026-12-01T09:58:30Z"},
	}
	ins := []map[string]any{
		{"name": "default", "kind": "syslog", "address": "0.0.0.0:514", "proto": "udp", "charset": "UTF-8", "state": "listening",
			"received": 1234567, "dropped": 12, "dropped_queue": 10, "dropped_malformed": 0, "dropped_kernel": 2},
		{"name": "traps", "kind": "snmptrap", "address": "0.0.0.0:162", "proto": "udp", "state": "failed: permission denied (run as root or grant CAP_NET_BIND_SERVICE)"},
	}
	outs := map[string]any{
		"outputs": []map[string]any{{"name": "archive", "type": "file", "target": "/var/lib/ferry/archive", "state": "running",
			"events_in": 1234555, "events_written": 1234550, "errors": 5, "last_error": "write /var/lib/ferry/archive: no space left on device",
			"spool": map[string]any{"bytes": 3 << 20, "limit": 1 << 30, "events_queued": 4242, "oldest_unacked_seconds": 75, "in_per_second": 120.4,
				"out_per_second": 0, "dropped_full": 7, "dropped_age": 0, "dropped_disk_full": 3, "dropped_corrupt": 0}}},
		"routes":  []map[string]any{{"input": "*", "destination": "archive"}},
		"filters": []map[string]any{{"name": "lab", "input": "default", "action": "drop", "expr": `cidr(source, "10.9.0.0/16")`, "state": "active", "dropped": 4321}},
	}
	return []View{
		{Name: "inputs", Get: func() (any, error) { return ins, nil }},
		{Name: "outputs", Get: func() (any, error) { return outs, nil }},
		{Name: "status", Get: func() (any, error) { return model.Snapshot(), nil }},
		{Name: "keystores", Get: func() (any, error) { return keystores, nil }},
		{Name: "bindings", Get: func() (any, error) { return bindings, nil }},
		{Name: "sessions", Get: func() (any, error) { return sessions, nil }},
	}
}

// TestBrowser signs in with Chromium: a wrong password stays on the login
// page with an error, the right one shows the dashboard with the views'
// values, and signing out returns to the login page.
func TestBrowser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(f *fixture, c *Config) {
		c.Now = nil // the browser's clock and the server's must agree
		c.Views = realisticViews(t, f)
	})
	base := f.srv["webconsole"].URL
	ctx := browser.Start(t)

	// Collect what the page logs: a CSP violation or a script error fails the test.
	var (
		mu       sync.Mutex
		messages []chromedp.ConsoleMessage
	)
	cctx, stopConsole := context.WithCancel(ctx)
	consoleDone := make(chan struct{})
	console := chromedp.Console(cctx)
	go func() {
		defer close(consoleDone)
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()
	defer func() {
		stopConsole()
		<-consoleDone
		mu.Lock()
		defer mu.Unlock()
		for _, m := range messages {
			t.Logf("browser console: %s", m)
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				t.Errorf("page error: %s", m)
			}
		}
	}()

	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browser.Do(t, tctx, what, steps...)
	}
	text := func(sel string) string { t.Helper(); return browser.Text(t, tctx, sel) }
	shots := browser.ArtifactDir(t)

	run("open the console", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("account")))
	if loc, _ := chromedp.Run(tctx, chromedp.Location()); loc != base+"/login" {
		t.Errorf("the console without a session shows %s, want the login page", loc)
	}

	run("sign in with a wrong password",
		chromedp.SendKeys(chromedp.ID("account"), "root"),
		chromedp.SendKeys(chromedp.ID("password"), wrongPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("login-error")))
	if msg := text("#login-error"); !strings.Contains(msg, "Sign-in failed") {
		t.Errorf("login error reads %q", msg)
	}
	if loc, _ := chromedp.Run(tctx, chromedp.Location()); loc != base+"/login" {
		t.Errorf("after a wrong password the browser is at %s, want /login", loc)
	}
	if err := browser.Screenshot(tctx, filepath.Join(shots, "console-login-failed.png")); err != nil {
		t.Error(err)
	}

	// The account name is kept; the password field is empty again.
	run("sign in",
		chromedp.SendKeys(chromedp.ID("password"), rootPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#card-keystores table")))
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.getElementById('hostname').textContent === 'ferry-test-01'`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the header never shows the hostname: %v", err)
	}

	checks := []struct{ sel, want string }{
		{"#version", "v0.2.0+test"},
		{"#account", "root"},
		{"#role", "admin"},
		{"#card-system", "3d 4h"},
		{"#card-system", "1.2 MiB"},
		{"#card-system", "/var/lib/ferry"},
		{"#card-keystores", "ferry-web"},
		{"#card-keystores", "expires soon"},
		{"#card-keystores", "expired"},
		{"#card-keystores", "failed: pkcs12: decryption password incorrect"},
		{"#card-bindings", "10.0.0.2:9443"},
		{"#card-bindings", "client certificates: ferry-ca"},
		{"#card-bindings .state-failed", "failed: listen tcp 0.0.0.0:9100: bind: address already in use"},
		{"#card-sessions", "10.0.0.9:41000"},
		{"#card-inputs", "1,234,567"},
		{"#card-inputs", "queue 10, kernel 2"},
		{"#card-inputs .state-failed", "failed: permission denied (run as root or grant CAP_NET_BIND_SERVICE)"},
		{"#card-outputs", "no space left on device"},
		{"#card-outputs", "* → archive"},
		{"#card-outputs", `drop cidr(source, "10.9.0.0/16")`},
		{"#card-outputs", "4,321"},
		{"#card-outputs", "4,242 queued, 3.0 MiB of 1.0 GiB"},
		{"#card-outputs", "full 7, disk full 3"},
		{"#card-protection", "failures total (service=web)"},
		{"#card-protection", "logins total (result=ok)"},
	}
	for _, c := range checks {
		if got := text(c.sel); !strings.Contains(got, c.want) {
			t.Errorf("%s does not show %q:\n%s", c.sel, c.want, got)
		}
	}
	// Failed states are red, warnings are badges the eye finds.
	red, err := chromedp.Run(tctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#card-bindings .state-failed')).color`))
	if err != nil || red != "rgb(180, 35, 24)" {
		t.Errorf("a failed binding is coloured %q (%v), want red", red, err)
	}
	if n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('#card-keystores .badge.warn, #card-keystores .badge.bad').length`)); err != nil || n != 2 {
		t.Errorf("keystore warning badges: %d (%v), want 2", n, err)
	}
	if err := browser.Screenshot(tctx, filepath.Join(shots, "console-dashboard.png")); err != nil {
		t.Error(err)
	}
	t.Logf("screenshots in %s", shots)

	run("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	run("open the console again", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login-form")))
	if loc, _ := chromedp.Run(tctx, chromedp.Location()); loc != base+"/login" {
		t.Errorf("after signing out the console shows %s, want the login page", loc)
	}
	want := []string{"web.login root failed", "web.login root ok", "web.logout root ok"}
	if got := f.auditResults(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit = %q, want %q", got, want)
	}
	f.noPasswordsLogged()
}

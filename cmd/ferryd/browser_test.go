package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-appliance/ferry/internal/browser"
)

// TestConsoleInABrowser drives Debian's Chromium, headless and kept off the
// network (internal/browser), against a real ferryd's console: a wrong login is
// refused, the right one shows the dashboard with the daemon's own values. The
// screenshot is a test artifact ($FERRY_ARTIFACTS); FERRY_README_SHOT=PATH
// also writes it where the README shows it (docs/console.png).
func TestConsoleInABrowser(t *testing.T) {
	dir := ""
	if os.Getenv("FERRY_README_SHOT") != "" {
		// A data dir that reads like an appliance's in the README.
		dir = filepath.Join(os.TempDir(), "ferry")
		os.RemoveAll(dir)
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	d := startDaemon(t, dir).ready(t)
	// An open shell session, for the dashboard to list.
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	hostname, _ := os.Hostname()
	base := "https://" + d.web

	ctx := browser.Start(t)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browser.Do(t, tctx, what, steps...)
	}
	text := func(sel string) string { t.Helper(); return browser.Text(t, tctx, sel) }

	run("open the console", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login-form")))
	run("sign in with a wrong password",
		chromedp.SendKeys(chromedp.ID("account"), "root"),
		chromedp.SendKeys(chromedp.ID("password"), "Wrong-Password-9"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("login-error")))
	if loc, _ := chromedp.Run(tctx, chromedp.Location()); loc != base+"/login" {
		t.Errorf("after a wrong password the browser is at %s, want the login page", loc)
	}
	run("sign in",
		chromedp.SendKeys(chromedp.ID("password"), changedPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#card-keystores table")))
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.querySelector('#card-sessions') && document.querySelector('#card-sessions').textContent.includes('interactive')`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the dashboard never lists the open shell session: %v", err)
	}
	for _, c := range []struct{ sel, want string }{
		{"#hostname", hostname},
		{"#account", "root"},
		{"#card-system", d.dir},
		{"#card-keystores", "ferry-web"},
		{"#card-keystores", "ferry-ca-key"},
		{"#card-bindings", d.web},
		{"#card-bindings", "webconsole"},
	} {
		if got := text(c.sel); !strings.Contains(got, c.want) {
			t.Errorf("%s does not show %q:\n%s", c.sel, c.want, got)
		}
	}
	shot := filepath.Join(browser.ArtifactDir(t), "console.png")
	if err := browser.Screenshot(tctx, shot); err != nil {
		t.Fatal(err)
	}
	if readme := os.Getenv("FERRY_README_SHOT"); readme != "" {
		if err := browser.Screenshot(tctx, readme); err != nil {
			t.Fatal(err)
		}
	}
	// The web login is audited like a command.
	waitUntil(t, func() bool {
		return strings.Contains(d.logs.String(), "command=web.login result=failed") && strings.Contains(d.logs.String(), "command=web.login result=ok")
	})
	if strings.Contains(d.logs.String(), "Wrong-Password-9") || strings.Contains(d.logs.String(), changedPassword) {
		t.Error("a password reached the log")
	}
}

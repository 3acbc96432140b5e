package browser_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ferry-appliance/ferry/internal/browser"
)

// TestStart drives a page on a TLS test server, then checks that the browser
// runs with the flags that keep it on this machine.
func TestStart(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>ferry test</title><h1 id="hi">hello from the test server</h1>`)
	}))
	defer srv.Close()
	ctx := browser.Start(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("navigate to the self-signed test server: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("hi")))
	if err != nil || text != "hello from the test server" {
		t.Fatalf("page text = %q, %v", text, err)
	}

	path := filepath.Join(t.TempDir(), "sub", "page.png")
	if err := browser.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes, %v)", len(png), err)
	}

	// The browser's own record of its command line.
	if err := chromedp.Do(ctx, chromedp.Navigate("chrome://version")); err != nil {
		t.Fatal(err)
	}
	cmdline, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("command_line")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--headless", "--host-resolver-rules=" + browser.HostResolverRules, "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run", "--user-data-dir=",
	} {
		if !strings.Contains(cmdline, want) {
			t.Errorf("command line lacks %q:\n%s", want, cmdline)
		}
	}
	if root := os.Geteuid() == 0; strings.Contains(cmdline, "--no-sandbox") != root {
		t.Errorf("--no-sandbox present = %v, want %v (running as root)", !root, root)
	}
}

// TestNoNameResolves: a host name that resolves on any machine, localhost, is
// refused, so no page can reach a server by name.
func TestNoNameResolves(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "reached")
	}))
	defer srv.Close()
	ctx := browser.Start(t)

	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	err := chromedp.Do(ctx, chromedp.Navigate(byName))
	var loadErr *chromedp.LoadError
	if !errors.As(err, &loadErr) || !strings.Contains(loadErr.ErrorText, "NAME_NOT_RESOLVED") {
		t.Fatalf("navigate to %s: err = %v, want net::ERR_NAME_NOT_RESOLVED", byName, err)
	}
}

// Package browser starts headless Chromium for tests that drive a page. The
// browser is told to resolve no name but 127.0.0.1 and to make none of its own
// background connections (updates, sync, QUIC probes), so a test reaches its
// own httptest servers and nothing else.
package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path is where the tests expect Chromium; scripts/install-test-deps.sh puts it there.
const Path = "/usr/bin/chromium"

// HostResolverRules maps every host name to NOTFOUND except 127.0.0.1, so a
// page that names any other host fails instead of leaving the machine.
const HostResolverRules = "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"

// Options returns the allocator options Start uses, with dataDir as the
// profile. They are the whole command line apart from what chromedp adds to
// talk to the browser (--remote-debugging-pipe, about:blank): none of
// chromedp's defaults, whose list may grow with an upgrade.
func Options(dataDir string) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.Flag("headless", true),
		chromedp.Flag("host-resolver-rules", HostResolverRules),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Containers give /dev/shm 64 MiB, too little for Chromium: use /tmp.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dataDir),
		// Test servers use self-signed certificates made by the test.
		chromedp.IgnoreCertErrors,
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root (CI containers run as root).
		opts = append(opts, chromedp.NoSandbox)
	} else {
		// Keep chromedp from deciding for us.
		opts = append(opts, chromedp.Flag("no-sandbox", false))
	}
	return opts
}

// Start launches Chromium for the test and returns a chromedp context for one
// tab. The browser is already running when Start returns, so a browser that
// cannot start fails the test here with a clear message; a missing Chromium
// fails it too (CI installs it: skipping would hide the test). The browser is
// stopped, and its profile removed, when the test ends.
func Start(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("browser: %v; install chromium (scripts/install-test-deps.sh) to run this test", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(t.TempDir())...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the tab, then the browser process (whose
	// cancel waits for it to exit), then TempDir's removal of the profile.
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancel)
	// The first action starts the browser; it must not run under a timeout,
	// which would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v", Path, err)
	}
	return ctx
}

// Screenshot saves a PNG of the whole page, beyond the viewport, to path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	return nil
}

// ArtifactDir is where a test should leave files for people to look at:
// $FERRY_ARTIFACTS if set (CI collects it), else a directory removed with the test.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("FERRY_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("artifacts: %v", err)
		}
		return dir
	}
	return t.TempDir()
}

// Do runs steps on the tab, failing the test with what was being done.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Text is the text content of the first element sel matches.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

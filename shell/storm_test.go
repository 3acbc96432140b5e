package shell_test

// Clients that misbehave at the channel level: a storm of window changes from a
// client that does not read, a client that stops reading, and more sessions than
// an account may hold. The server runs in-process on 127.0.0.1:0 (newFixture).
//
// x/crypto/ssh opens every client channel with a 2 MiB window and offers no way to
// choose it. Instead of a smaller window the storm makes each redraw dear: the
// client types a long line first, so every window change that x/term acts on
// repaints some 3 KiB, and a client that reads nothing has the server's side of
// the window full after some 700 redraws (about the state a 32 KiB client
// reaches after 2,000 changes at an empty prompt). The channel is opened with raw
// requests, so nothing reads its data after the prompt.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/testutil"
)

// RFC 4254 6.2 and 6.7 payloads.
type ptyRequest struct {
	Term                             string
	Columns, Rows, WidthPx, HeightPx uint32
	Modes                            string
}

type windowChange struct{ Columns, Rows, WidthPx, HeightPx uint32 }

// rawShell is a PTY shell on its own connection whose output the test reads only
// up to the first prompt.
type rawShell struct {
	client *gossh.Client
	ch     gossh.Channel
}

func (f *fixture) rawShell(t *testing.T) *rawShell {
	t.Helper()
	c := f.dial(t)
	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go gossh.DiscardRequests(reqs)
	for _, r := range []struct {
		name    string
		payload []byte
	}{
		{"pty-req", gossh.Marshal(&ptyRequest{Term: "xterm", Columns: 80, Rows: 24})},
		{"shell", nil},
	} {
		if ok, err := ch.SendRequest(r.name, true, r.payload); err != nil || !ok {
			t.Fatalf("%s: %v %v", r.name, ok, err)
		}
	}
	// Read up to the prompt, then never again: the reader stops as soon as it is seen.
	seen := make(chan error, 1)
	go func() {
		var out []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(out, []byte(prompt)) {
			n, err := ch.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				seen <- fmt.Errorf("%v after %q", err, out)
				return
			}
		}
		seen <- nil
	}()
	select {
	case err := <-seen:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no prompt")
	}
	return &rawShell{client: c, ch: ch}
}

// openFDs is the number of descriptors this process (server and clients) holds.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// within polls cond every 10 ms until it holds or d passes.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// storm sends n window changes of alternating width (each one a redraw), then
// keys, and gives up waiting after limit (a server that stopped reading the
// connection makes the client's writes block).
func (sh *rawShell) storm(n int, keys string, limit time.Duration) (sent int) {
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			w := windowChange{Columns: uint32(60 + 20*(i%2)), Rows: 24}
			if _, err := sh.ch.SendRequest("window-change", false, gossh.Marshal(&w)); err != nil {
				return
			}
			mu.Lock()
			sent++
			mu.Unlock()
		}
		sh.ch.Write([]byte(keys))
	}()
	select {
	case <-done:
	case <-time.After(limit):
	}
	mu.Lock()
	defer mu.Unlock()
	return sent
}

// A window-change storm from a client that does not read must not freeze the
// session: once the client is gone, the session leaves the tracker and its
// descriptor is freed, run after run, and the server goes on serving.
func TestStormResizeFromAClientThatDoesNotRead(t *testing.T) {
	f := newFixture(t)
	// Warm up once (for descriptors opened lazily), then wait for the server to
	// close the warm-up connection before taking the baseline.
	before := openFDs(t)
	f.runOK(t, "system.sessions")
	within(2*time.Second, func() bool { return openFDs(t) <= before })
	baseline := openFDs(t)
	const runs, changes = 4, 2000
	for run := 1; run <= runs; run++ {
		sh := f.rawShell(t)
		if n := f.sessions.Count(); n != 1 {
			t.Errorf("run %d: %d sessions open at the start, want 1", run, n)
		}
		// A long line makes every redraw about 3 KiB; after the storm, Ctrl-U and a
		// command whose 8 MiB cannot fit the window leave the session blocked on
		// output for certain when the client goes.
		sh.ch.Write([]byte(strings.Repeat("x", 3000)))
		sent := sh.storm(changes, "\x15test.flood\r", 5*time.Second)
		time.Sleep(200 * time.Millisecond) // let the server reach the full window
		// The blocked session holds up nothing else: the same connection still
		// opens a session and runs a command (its read loop was frozen before).
		if stdout, stderr, err := runOn(t, sh.client, "system.sessions"); err != nil || !strings.Contains(stdout, "interactive") {
			t.Errorf("run %d: a second session on the storming connection: %v %q %q", run, err, stdout, stderr)
		}
		sh.client.Close()
		gone := within(10*time.Second, func() bool { return f.sessions.Count() == 0 })
		freed := within(10*time.Second, func() bool { return openFDs(t) <= baseline })
		t.Logf("run %d: %d/%d window changes sent; sessions left %d, descriptors above baseline %d",
			run, sent, changes, f.sessions.Count(), openFDs(t)-baseline)
		if !gone || !freed {
			t.Errorf("run %d: after the client closed, %d sessions still open and %d descriptors above baseline",
				run, f.sessions.Count(), openFDs(t)-baseline)
		}
	}
	// A new client still logs in and runs a command.
	if out := f.runOK(t, "system.sessions"); !strings.Contains(out, "exec") {
		t.Fatalf("system.sessions after the storms: %q", out)
	}
}

// The same storm with the client connected: the resizes are coalesced and the
// session stays usable for a client that reads again afterwards.
func TestStormResizeCoalescedWhileReading(t *testing.T) {
	f := newFixture(t)
	p := f.pty(t)
	p.Expect(prompt)
	for i := 0; i < 2000; i++ {
		if err := p.sess.WindowChange(24, 60+20*(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	p.in.Write([]byte("system.sessions\r"))
	p.Expect("interactive")
	p.Expect(prompt)
}

// A client that stops reading loses its session once its output has made no
// progress for the stall timeout; its connection stays usable.
func TestStormStalledClientLosesItsSession(t *testing.T) {
	f := newFixture(t)
	const stall = 500 * time.Millisecond
	f.sessions.SetStallTimeout(stall)
	c := f.dial(t)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.StdoutPipe(); err != nil { // never read: the window fills
		t.Fatal(err)
	}
	start := time.Now()
	if err := sess.Start("test.flood"); err != nil {
		t.Fatal(err)
	}
	if !within(10*time.Second, func() bool { return f.sessions.Count() == 1 }) {
		t.Fatal("the session did not open")
	}
	if !within(10*time.Second, func() bool { return f.sessions.Count() == 0 }) {
		t.Fatalf("a client that stopped reading kept its session for %s (stall timeout %s)", time.Since(start), stall)
	}
	took := time.Since(start)
	if took < stall {
		t.Fatalf("session closed after %s, before the stall timeout %s", took, stall)
	}
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's session did not end")
	}
	if !strings.Contains(f.logs.String(), "session output made no progress") {
		t.Fatalf("the stall was not logged:\n%s", f.logs.String())
	}
	// Only the channel was closed: the connection runs the next session.
	s2, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s2.Output("system.sessions"); err != nil || !strings.Contains(string(out), "exec") {
		t.Fatalf("next session on the same connection: %v %q", err, out)
	}

	// At the prompt too: a PTY client that stops reading during output loses its session.
	sh := f.rawShell(t)
	sh.ch.Write([]byte("test.flood\r"))
	if !within(10*time.Second, func() bool { return f.sessions.Count() == 0 }) {
		t.Fatal("an interactive client that stopped reading kept its session")
	}
	t.Logf("exec session closed %s after it started (stall timeout %s)", took, stall)
}

// The per-account cap: the session past it gets one line on stderr and status 1;
// other accounts are not affected; closing a session frees a place.
func TestStormSessionsPerAccountCap(t *testing.T) {
	f := newFixture(t)
	const limit = 10 // Config.MaxSessionsPerAccount is zero: the default
	var clients []*gossh.Client
	for i := 0; i < limit; i++ {
		c := f.dial(t)
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Start("test.block"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if !within(10*time.Second, func() bool { return f.sessions.Count() == limit }) {
		t.Fatalf("%d sessions open, want %d", f.sessions.Count(), limit)
	}
	// The next one, on a connection of its own or on one already open, is refused.
	for _, c := range []*gossh.Client{f.dial(t), clients[0]} {
		stdout, stderr, err := runOn(t, c, "system.sessions")
		var ee *gossh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != 1 {
			t.Fatalf("session past the cap: %v", err)
		}
		if want := "account \"root\": too many open sessions (limit 10)\n"; stderr != want || stdout != "" {
			t.Fatalf("session past the cap: stderr %q stdout %q, want stderr %q", stderr, stdout, want)
		}
	}
	if n := f.sessions.Count(); n != limit {
		t.Fatalf("%d sessions open after refusals", n)
	}
	logs := f.logs.String()
	if strings.Count(logs, "too many open sessions") != 1 || !strings.Contains(logs, "refused_since_last_warning=1") {
		t.Fatalf("refusals not logged once (rate-limited):\n%s", logs)
	}

	// Another account is not affected.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := gossh.NewPublicKey(pub)
	signer, _ := gossh.NewSignerFromKey(priv)
	if err := f.config.Accounts.Add("ops", accounts.Viewer, "Initial-Passw0rd-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.config.Accounts.AddKey("ops", string(gossh.MarshalAuthorizedKey(sshPub))); err != nil {
		t.Fatal(err)
	}
	opsCfg := *f.client
	opsCfg.User, opsCfg.Auth = "ops", []gossh.AuthMethod{gossh.PublicKeys(signer)}
	ops, err := gossh.Dial("tcp", f.srv.Addr().String(), &opsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	opsSess, err := ops.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	opsSess.Stdout, opsSess.Stderr = out, out
	if _, err := opsSess.StdinPipe(); err != nil { // kept open: the question waits for an answer
		t.Fatal(err)
	}
	if err := opsSess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	if err := opsSess.Shell(); err != nil {
		t.Fatal(err)
	}
	(&testutil.Screen{T: t, Out: out, Timeout: 10 * time.Second}).Expect("Please change the default password.")
	if n := f.sessions.Count(); n != limit+1 {
		t.Fatalf("%d sessions open with ops in, want %d: %+v", n, limit+1, f.sessions.List())
	}

	// Closing one frees its place.
	clients[1].Close()
	if !within(10*time.Second, func() bool { return f.sessions.Count() == limit }) {
		t.Fatalf("%d sessions open after a client closed", f.sessions.Count())
	}
	if stdout, stderr, err := runOn(t, f.dial(t), "system.sessions"); err != nil || !strings.Contains(stdout, "exec") {
		t.Fatalf("a session after one closed: %v %q %q", err, stdout, stderr)
	}
}

// runOn runs cmd in a new session on c and returns its stdout and stderr; opening
// the session counts against the same 10 s (a frozen connection never answers).
func runOn(t *testing.T, c *gossh.Client, cmd string) (string, string, error) {
	t.Helper()
	type result struct {
		stdout, stderr string
		err            error
	}
	done := make(chan result, 1)
	go func() {
		sess, err := c.NewSession()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer sess.Close()
		var stdout, stderr bytes.Buffer
		sess.Stdout, sess.Stderr = &stdout, &stderr
		err = sess.Run(cmd)
		done <- result{stdout.String(), stderr.String(), err}
	}()
	select {
	case r := <-done:
		return r.stdout, r.stderr, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%q did not end", cmd)
		return "", "", nil
	}
}

// runOK runs cmd as root on a new connection, which it closes, and returns its output.
func (f *fixture) runOK(t *testing.T, cmd string) string {
	t.Helper()
	c, err := gossh.Dial("tcp", f.srv.Addr().String(), f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stdout, stderr, err := runOn(t, c, cmd)
	if err != nil {
		t.Fatalf("%q: %v %q", cmd, err, stderr)
	}
	return stdout
}

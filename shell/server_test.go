package shell_test

// In-process tests of the SSH server under the race detector: a real listener on
// 127.0.0.1:0 and a real x/crypto/ssh client, with public-key logins (bcrypt under
// -race costs seconds per check). They exercise the concurrent parts: the keyboard
// pump, Ctrl-C, resizes, panics in handlers, many sessions, and shutdown.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/commands"
	"github.com/ferry-appliance/ferry/internal/secretbox"
	"github.com/ferry-appliance/ferry/internal/testutil"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/httpd"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

type fixture struct {
	srv      *shell.Server
	sessions *shell.Sessions
	client   *gossh.ClientConfig
	logs     *testutil.Buffer
	model    *status.Model
	config   shell.Config
}

// testCommands are extra entries that let a test hold, question or crash a handler.
func testCommands() []shell.Command {
	return []shell.Command{
		{Name: "test.block", Help: "Block until cancelled", Role: accounts.Viewer, Run: func(c *shell.Ctx) error {
			fmt.Fprintln(c.Stdout, "blocking")
			<-c.Done()
			return c.Err()
		}},
		{Name: "test.ask", Help: "Ask a question and print the answer", Role: accounts.Viewer, Run: func(c *shell.Ctx) error {
			a, err := c.Prompt("color? ")
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "answer=%s\n", a)
			return nil
		}},
		{Name: "test.panic", Help: "Panic", Role: accounts.Viewer, Run: func(*shell.Ctx) error { panic("boom") }},
		{Name: "test.flood", Help: "Write 8 MiB", Role: accounts.Viewer, Run: func(c *shell.Ctx) error {
			chunk := bytes.Repeat([]byte("x"), 64*1024)
			for i := 0; i < 128 && c.Err() == nil; i++ {
				if _, err := c.Stdout.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}},
	}
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, shell.Limits{}) }

// noContexts is a context list with nothing to serve: no shell test opens a web port.
type noContexts struct{}

func (noContexts) Handler(name string) (http.Handler, error) {
	return nil, fmt.Errorf("context %q: unknown", name)
}

func (noContexts) Describe() []httpd.ContextInfo { return nil }

// hostKeySource serves fixed host keys to the server and to ssh.hostKeys.
type hostKeySource []gossh.Signer

func (h hostKeySource) Signers() []gossh.Signer { return h }
func (h hostKeySource) PublicKeys() []gossh.PublicKey {
	var out []gossh.PublicKey
	for _, s := range h {
		out = append(out, s.PublicKey())
	}
	return out
}

func newFixtureWith(t *testing.T, limits shell.Limits) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	sshPub, _ := gossh.NewPublicKey(pub)
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub)))
	// No password hash: this account can log in with its key only.
	if err := st.CreateAccount(store.Account{Name: "root", Role: "admin", Keys: []store.AuthorizedKey{
		{Line: line, Fingerprint: gossh.FingerprintSHA256(sshPub)}}}); err != nil {
		t.Fatal(err)
	}
	hostPEM, err := certs.NewHostKey(certs.HostKeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _ := certs.ParseHostKey(certs.HostKeyEd25519, hostPEM)
	acc := accounts.New(st)
	sessions := shell.NewSessions()
	model := status.New()
	logins := lockout.New(lockout.Config{}, nil, nil)
	// The key material and web commands are in the table too, over an empty registry.
	box, _, err := secretbox.Open(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := certs.NewRegistry(certs.RegistryConfig{Records: st.Keystores(), Secrets: box})
	if err != nil {
		t.Fatal(err)
	}
	web, err := httpd.New(httpd.Config{Records: st.Bindings(), Keys: keys, Contexts: noContexts{}})
	if err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New(1, nil)
	self := &outputs.Node{Settings: st, Host: "test"}
	dests, err := outputs.New(outputs.Config{Outputs: st.Outputs(), Routes: st.Routes(), Filters: st.Filters(), Router: pipe, SpoolDir: t.TempDir(),
		Relay: outputs.RelayDeps{Keys: keys, Identity: self.Identity, Sentry: self.SentryIdentity}})
	if err != nil {
		t.Fatal(err)
	}
	self.Dests = dests
	ins, err := inputs.New(inputs.Config{Records: st.Inputs(), Sink: pipe, Pool: event.NewPool(0, 0), Keys: keys,
		Router: pipe, RelayDir: t.TempDir(), Identity: self.Identity})
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.Services{Inputs: ins, Trace: pipe, Outputs: dests, Filters: dests, Spools: dests, Relay: self, Accounts: acc, Lockouts: logins, Confdb: st.Operations(), Status: model, Sessions: sessions,
		HostKeys: hostKeySource{hostKey}, LogPath: filepath.Join(t.TempDir(), "ferry.log"), Keystores: keys, Bindings: web}
	reg, err := commands.Build(svc)
	if err != nil {
		t.Fatal(err)
	}
	var all []shell.Command
	for _, cmd := range reg.Commands("") {
		all = append(all, *cmd)
	}
	reg, err = shell.NewRegistry(all, testCommands())
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	cfg := shell.Config{
		Addr: "127.0.0.1:0", HostKeys: hostKeySource{hostKey}, Accounts: acc, Registry: reg, Sessions: sessions, Status: model,
		Logger: log, Version: "test", BuildDate: "today", Hostname: "box",
		Limits: limits, Lockout: logins,
	}
	srv, err := shell.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fixture{srv: srv, sessions: sessions, logs: logs, model: model, config: cfg, client: &gossh.ClientConfig{
		User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.FixedHostKey(hostKey.PublicKey()), Timeout: 10 * time.Second,
	}}
}

func (f *fixture) dial(t *testing.T) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", f.srv.Addr().String(), f.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type pty struct {
	testutil.Screen
	sess *gossh.Session
	in   io.Writer
	done chan error
}

func (f *fixture) pty(t *testing.T) *pty {
	t.Helper()
	sess, err := f.dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	p := &pty{Screen: testutil.Screen{T: t, Out: out, Timeout: 10 * time.Second}, sess: sess, done: make(chan error, 1)}
	sess.Stdout, sess.Stderr = out, out
	p.in, _ = sess.StdinPipe()
	if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- sess.Wait() }()
	return p
}

const prompt = "root@box ferry> "

func TestInProcessInteractive(t *testing.T) {
	f := newFixture(t)
	p := f.pty(t)
	p.Expect("Ferry test (build today) on box")
	p.Expect(prompt)

	// Resizes race with typing and with the command loop.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			p.sess.WindowChange(24+i%5, 80+i%7)
		}
	}()
	io.WriteString(p.in, "test.block\r")
	p.Expect("blocking")
	io.WriteString(p.in, "\x03")
	p.Expect("^C")
	p.Expect(prompt)
	wg.Wait()

	// A question is answered from the keyboard; typed-ahead text is not lost.
	io.WriteString(p.in, "test.ask\r")
	p.Expect("color? ")
	io.WriteString(p.in, "blue\r")
	p.Expect("answer=blue")
	p.Expect(prompt)

	// A panicking handler is reported and the session (and the server) go on.
	io.WriteString(p.in, "test.panic\r")
	p.Expect("internal error in test.panic (logged)")
	p.Expect(prompt)
	if !strings.Contains(f.logs.String(), "command panicked") {
		t.Fatal("the panic was not logged")
	}
	io.WriteString(p.in, "system.sessions\r")
	p.Expect("interactive")
	p.Expect(prompt)
	io.WriteString(p.in, "quit\r")
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("quit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("quit did not end the session")
	}
}

func TestInProcessConcurrentExecAndBatch(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	// run opens a session on the shared connection: exec when cmd is set, batch otherwise.
	run := func(cmd, stdin, want string) {
		defer wg.Done()
		sess, err := c.NewSession()
		if err != nil {
			errs <- err
			return
		}
		defer sess.Close()
		sess.Stdin = strings.NewReader(stdin)
		out, err := sess.Output(cmd)
		if err != nil || !strings.Contains(string(out), want) {
			errs <- fmt.Errorf("%q: %v %s", cmd, err, out)
		}
	}
	for i := 0; i < shell.DefaultMaxSessionsPerAccount/2; i++ { // two sessions each: at the per-account cap
		wg.Add(2)
		go run("account.list --json; system.sessions --json", "", `"root"`)
		go run("", fmt.Sprintf("# batch %d\n\ntest.ask\ncolor-%d\nhelp\n", i, i), fmt.Sprintf("answer=color-%d", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Exit statuses reach the client.
	for cmd, want := range map[string]int{"nosuch": 127, "help a b": 2, "test.ask": 1} {
		sess, _ := c.NewSession()
		err := sess.Run(cmd) // test.ask: stdin is empty, so the question gets no answer
		var ee *gossh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != want {
			t.Errorf("%q: %v, want status %d", cmd, err, want)
		}
	}
}

func TestInProcessShutdownEndsSessions(t *testing.T) {
	f := newFixture(t)
	p := f.pty(t)
	p.Expect(prompt)
	io.WriteString(p.in, "test.block\r")
	p.Expect("blocking")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("shutdown waited %s for a blocked command", time.Since(start))
	}
	p.Expect("Ferry is shutting down; this session is closing.")
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("session still open after shutdown")
	}
	if n := f.sessions.Count(); n != 0 {
		t.Fatalf("%d sessions still tracked", n)
	}
	if _, err := gossh.Dial("tcp", f.srv.Addr().String(), f.client); err == nil {
		t.Fatal("server still accepts after shutdown")
	}
}

// `ssh -t host cmd`: exec mode on a PTY answers questions through the line editor
// and Ctrl-C cancels the command.
func TestInProcessExecOnPTY(t *testing.T) {
	f := newFixture(t)
	run := func(cmd, keys string) (string, error) {
		sess, err := f.dial(t).NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out := &testutil.Buffer{}
		sess.Stdout, sess.Stderr = out, out
		in, _ := sess.StdinPipe()
		if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
			t.Fatal(err)
		}
		if err := sess.Start(cmd); err != nil {
			t.Fatal(err)
		}
		p := testutil.Screen{T: t, Out: out, Timeout: 10 * time.Second}
		p.Expect(strings.SplitN(keys, "|", 2)[0])
		io.WriteString(in, strings.SplitN(keys, "|", 2)[1])
		done := make(chan error, 1)
		go func() { done <- sess.Wait() }()
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not end: %q", cmd, out.String())
			return "", nil
		}
	}
	out, err := run("test.ask", "color? |green\r")
	if err != nil || !strings.Contains(out, "answer=green") {
		t.Fatalf("test.ask on a PTY: %v %q", err, out)
	}
	out, err = run("test.block", "blocking|\x03")
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 || !strings.Contains(out, "test.block: interrupted") {
		t.Fatalf("Ctrl-C on exec PTY: %v %q", err, out)
	}
}

// Lines typed ahead in one chunk go each to what reads next: the command, then its
// question, then the next command. Nothing is swallowed and no answer runs as a command.
func TestInProcessTypeAhead(t *testing.T) {
	f := newFixture(t)
	p := f.pty(t)
	p.Expect(prompt)
	io.WriteString(p.in, "test.ask\rRed-Secret-Answer\rtest.ask\rgreen\r")
	p.Expect("answer=Red-Secret-Answer")
	p.Expect("answer=green")
	p.Expect(prompt)
	if strings.Contains(f.logs.String(), "command=Red-Secret-Answer") {
		t.Fatal("an answer ran as a command")
	}

	// Many keys during a running command do not hide the Ctrl-C after them, and the
	// keys typed before Ctrl-C are dropped with the command.
	io.WriteString(p.in, "test.block\r")
	p.Expect("blocking")
	io.WriteString(p.in, strings.Repeat("x", 200))
	io.WriteString(p.in, "\x03")
	p.Expect("^C")
	p.Expect(prompt)
	io.WriteString(p.in, "system.sessions\r")
	out := p.Expect(prompt)
	if strings.Contains(out, "xxx") || !strings.Contains(out, "interactive") {
		t.Fatalf("after Ctrl-C: %q", out)
	}
	// An unknown command's text (perhaps a password typed at the prompt) is not logged.
	io.WriteString(p.in, "Typed-Password-123\r")
	p.Expect("unknown command")
	p.Expect(prompt)
	if strings.Contains(f.logs.String(), "Typed-Password-123") {
		t.Fatalf("unknown command text reached the log:\n%s", f.logs.String())
	}
}

// A client that stops reading cannot hold up shutdown.
func TestInProcessShutdownWithAStuckClient(t *testing.T) {
	f := newFixture(t)
	sess, err := f.dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.StdoutPipe(); err != nil { // never read: the channel window fills
		t.Fatal(err)
	}
	if err := sess.Start("test.flood"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // 8 MiB is far past the client's window: the server is blocked
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		// Hard-closing a session at the deadline is reported, not hidden.
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 sessions still open at the deadline") {
			t.Fatalf("Shutdown = %v; want the session left open at the deadline reported", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("shutdown hung on a client that does not read")
	}
	if n := f.sessions.Count(); n != 0 {
		t.Fatalf("%d sessions still tracked after shutdown", n)
	}
}

// TestInProcessLifecycle: the shell keeps the component contract.
func TestInProcessLifecycle(t *testing.T) {
	f := newFixture(t)
	names := func() []string {
		var out []string
		for _, sec := range f.model.Snapshot() {
			out = append(out, sec.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"shell"}) {
		t.Fatalf("sections while running: %v", got)
	}
	if got := f.srv.Addrs()["ssh"]; got != f.srv.Addr().String() {
		t.Errorf("Addrs = %q", got)
	}
	if err := f.srv.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if got := names(); len(got) != 0 {
		t.Errorf("sections after shutdown: %v (a stopped shell must leave the status model)", got)
	}
	if err := f.srv.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}

	// Safe before Start; a failed start leaves nothing to stop.
	cfg := f.config
	cfg.Status = status.New()
	fresh, err := shell.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Shutdown(context.Background()); err != nil || fresh.Addr() != nil {
		t.Errorf("Shutdown before Start = %v, Addr %v", err, fresh.Addr())
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg.Addr = busy.Addr().String()
	taken, _ := shell.New(cfg)
	if err := taken.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "shell listen") {
		t.Fatalf("Start on a busy port = %v", err)
	}
	if len(cfg.Status.Snapshot()) != 0 {
		t.Error("a failed Start left its status section behind")
	}
	if err := taken.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start = %v", err)
	}
	cfg.Addr = "127.0.0.1:0"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	late, _ := shell.New(cfg)
	if err := late.Start(cancelled); err == nil {
		late.Close()
		t.Error("Start ignored its cancelled context")
	}
}

// Input that x/term cannot make keys of (an escape sequence past its buffer) ends the
// session instead of spinning; a CR and LF arriving apart are one Enter; a mistyped
// secret is not even kept in this session's history.
func TestInProcessHostileAndSplitInput(t *testing.T) {
	f := newFixture(t)
	p := f.pty(t)
	p.Expect(prompt)
	io.WriteString(p.in, "test.ask\r")
	p.Expect("color? ")
	io.WriteString(p.in, "teal\r")
	time.Sleep(50 * time.Millisecond)
	io.WriteString(p.in, "\n") // the LF of the CR LF, late
	p.Expect("answer=teal")
	p.Expect(prompt)
	io.WriteString(p.in, "system.sessions\r")
	if out := p.Expect(prompt); !strings.Contains(out, "interactive") || strings.Contains(out, "unknown command") {
		t.Fatalf("after a split CR LF: %q", out)
	}
	io.WriteString(p.in, "Oops-My-Secret-Pw\r")
	p.Expect(prompt)
	io.WriteString(p.in, "history\r")
	if out := p.Expect(prompt); strings.Contains(out, "Oops-My-Secret-Pw") {
		t.Fatalf("history kept an unknown line: %q", out)
	}
	io.WriteString(p.in, "\x1b"+strings.Repeat("1", 300)+"\r")
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("an overlong escape sequence did not end the session")
	}
	waitNoSessions(t, f.sessions)
}

func waitNoSessions(t *testing.T, s *shell.Sessions) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open", s.Count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sockets that take a slot and never try to authenticate lose it quickly, so idle
// connections cannot keep the slots full; the status counters stay truthful.
func TestInProcessIdleConnectionsLoseTheirSlot(t *testing.T) {
	f := newFixtureWith(t, shell.Limits{FirstAttempt: 300 * time.Millisecond, MaxUnauthenticated: 2})
	var idle []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", f.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Both slots are taken by sockets that never speak; a real login still gets in
	// once they are cut off.
	start := time.Now()
	f.dial(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("login waited %s behind idle sockets", took)
	}
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("idle socket not closed by the server: %v", err)
		}
	}
	if st := f.srv.Stats(); st.LoginsOK != 1 {
		t.Fatalf("stats after one login: %+v", st)
	}
}

// TestInProcessShutdownCutsConnectionsStillLoggingIn: Shutdown is the end of intake
// for connections in the handshake too, not only for sessions.
func TestInProcessShutdownCutsConnectionsStillLoggingIn(t *testing.T) {
	f := newFixture(t)
	raw, err := net.Dial("tcp", f.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(200 * time.Millisecond) // accepted: holding a slot, in the handshake
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c, chans, reqs, err := gossh.NewClientConn(raw, "x", f.client)
	if err == nil {
		cl := gossh.NewClient(c, chans, reqs)
		defer cl.Close()
		t.Fatalf("a connection accepted before Shutdown logged in after it returned")
	}
}

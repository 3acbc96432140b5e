package main

// The integration harness: ferryd runs as a real subprocess on 127.0.0.1 with a
// port it picks itself (--ssh-addr 127.0.0.1:0; the test reads the bound addresses
// from --ready-file), and is driven by OpenSSH's ssh (through sshpass) and by x/crypto/ssh.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/internal/testutil"
)

const (
	initialPassword = "Initial-Pass-0001"
	changedPassword = "Changed-Pass-0002"
	waitFor         = 20 * time.Second
)

var ferrydBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferryd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ferrydBin = filepath.Join(dir, "ferryd")
	args := []string{"build", "-o", ferrydBin}
	// The daemon is built without -race by default: under the race detector one bcrypt
	// check takes seconds. The shell's concurrency is race-tested in-process (shell/
	// server_test.go); FERRY_RACE_DAEMON=1 builds this daemon with -race as well.
	if os.Getenv("FERRY_RACE_DAEMON") == "1" {
		args = append(args, "-race")
	}
	if os.Getenv("FERRY_README_SHOT") != "" {
		// The README's screenshot shows a release's version, not "dev".
		v, _ := os.ReadFile("../../VERSION")
		args = append(args, "-ldflags", "-X main.version=v"+strings.TrimSpace(string(v))+" -X main.buildDate="+time.Now().UTC().Format("20060102"))
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ferryd: %v\n%s", err, out)
		os.Exit(1)
	}
	for _, tool := range []string{"ssh", "sshpass", "ssh-keygen", "ssh-keyscan", "tmux", "ssh-audit"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "integration tests need %s (make test installs it): %v\n", tool, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type daemon struct {
	t         *testing.T
	dir       string
	addr      string
	port      string
	cmd       *exec.Cmd
	logs      *testutil.Buffer
	exited    chan struct{}
	err       error // set when exited is closed
	readyInfo readyFileContent
	// readyFile is where ferryd wrote ready.
	readyFile string
	// web is the console's address (host:port) when a TLS binding is open.
	web string
}

// testBootstrap is the embedded first-boot batch with its web port moved to
// a free one on 127.0.0.1 and without the default receivers: each test opens
// the receivers it needs (TestDefaultReceiversKeptWhenTheyCannotBind runs the
// batch's own), and fewer ports picked ahead of use means fewer collisions
// between tests running in parallel.
func testBootstrap(t *testing.T) []byte {
	t.Helper()
	const line = "httpd.openSsl 8443 webconsole ferry-web"
	if !bytes.Contains(defaultBootstrap, []byte(line)) {
		t.Fatalf("the embedded bootstrap lost %q", line)
	}
	var out []string
	for _, l := range strings.Split(string(defaultBootstrap), "\n") {
		switch {
		case l == line:
			l = fmt.Sprintf("httpd.openSsl %d webconsole ferry-web --bind 127.0.0.1", freePort(t))
		case strings.HasPrefix(l, "syslog.open ") || strings.HasPrefix(l, "snmptrap.open ") || strings.HasPrefix(l, "forwarder.listen "):
			l = "# (test) " + l
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

var freePort = testutil.FreePort

// startDaemon starts ferryd on dir (a fresh temp dir if ""), waits until it listens,
// and stops it when the test ends.
func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	d, err := launch(t, dir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop() })
	return d
}

func launch(t *testing.T, dir string, extra ...string) (*daemon, error) {
	return launchEnv(t, dir, append(os.Environ(), "FERRY_INITIAL_PASSWORD="+initialPassword), extra...)
}

// launchEnv is launch with the daemon's whole environment given.
func launchEnv(t *testing.T, dir string, env []string, extra ...string) (*daemon, error) {
	if dir == "" {
		dir = t.TempDir()
	}
	d := &daemon{t: t, dir: dir, logs: &testutil.Buffer{}, exited: make(chan struct{})}
	readyDir, err := os.MkdirTemp("", "ferryd-ready-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(readyDir) })
	readyFile := filepath.Join(readyDir, "ready.json")
	d.readyFile = readyFile
	args := append([]string{"--data-dir", dir, "--ssh-addr", "127.0.0.1:0", "--ready-file", readyFile}, extra...)
	if !slices.Contains(extra, "--bootstrap") {
		// The embedded batch, with the console on a port of its own on 127.0.0.1:
		// parallel daemons must not all ask for 8443.
		boot := filepath.Join(readyDir, "bootstrap.ferry")
		if err := os.WriteFile(boot, testBootstrap(t), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--bootstrap", boot)
	}
	d.cmd = exec.Command(ferrydBin, args...)
	d.cmd.Env = env
	// If the test binary dies (a timeout, a kill), its daemons die with it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d.cmd.Stderr = d.logs
	d.cmd.Stdout = d.logs
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		select {
		case <-tick.C:
			ready, err := readReady(readyFile)
			if err != nil {
				continue // not written yet
			}
			if ready.PID != d.cmd.Process.Pid || ready.Listeners["ssh"] == "" {
				d.cmd.Process.Kill()
				return d, fmt.Errorf("ready file %s: %+v is not this daemon's", readyFile, ready)
			}
			d.readyInfo = ready
			d.addr = ready.Listeners["ssh"]
			for name, addr := range ready.Listeners {
				if strings.HasPrefix(name, "https:") {
					d.web = addr
				}
			}
			_, d.port, _ = net.SplitHostPort(d.addr)
			return d, nil
		case <-d.exited:
			return d, fmt.Errorf("ferryd exited before it was ready: %v\n%s", d.err, d.logs.String())
		case <-deadline:
			d.cmd.Process.Kill()
			return d, fmt.Errorf("ferryd was not ready within %s:\n%s", waitFor, d.logs.String())
		}
	}
}

// readyFileContent is what ferryd writes to --ready-file.
type readyFileContent struct {
	PID       int               `json:"pid"`
	Version   string            `json:"version"`
	Listeners map[string]string `json:"listeners"`
}

func readReady(path string) (readyFileContent, error) {
	var r readyFileContent
	raw, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(raw, &r)
}

// stop sends SIGTERM and waits; it reports a data race the daemon printed.
func (d *daemon) stop() {
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
			d.t.Errorf("ferryd ignored SIGTERM for 15 s")
		}
	}
	if strings.Contains(d.logs.String(), "DATA RACE") {
		d.t.Errorf("ferryd reported a data race:\n%s", d.logs.String())
	}
}

// sshResult is what an OpenSSH run produced.
type sshResult struct {
	stdout, stderr string
	code           int
}

// openssh runs the OpenSSH client against the daemon, logging in with a password
// (passed through SSHPASS, never on the command line). remote "" means batch mode.
func (d *daemon) openssh(t *testing.T, user, password, stdin, remote string) sshResult {
	t.Helper()
	args := []string{"-e", "ssh", "-p", d.port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
		"-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30"}
	if remote == "" {
		args = append(args, "-T")
	}
	args = append(args, user+"@127.0.0.1")
	if remote != "" {
		args = append(args, remote)
	}
	cmd := exec.Command("sshpass", args...)
	cmd.Env = append(os.Environ(), "SSHPASS="+password)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return sshResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// mustRun runs an exec command as root (already past the first-login change) and requires success.
func (d *daemon) mustRun(t *testing.T, remote, stdin string) string {
	t.Helper()
	r := d.openssh(t, "root", changedPassword, stdin, remote)
	if r.code != 0 {
		t.Fatalf("%q: exit %d\nstdout: %s\nstderr: %s", remote, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustRunAs runs an exec command as any account and requires success.
func (d *daemon) mustRunAs(t *testing.T, user, password, remote string) string {
	t.Helper()
	r := d.openssh(t, user, password, "", remote)
	if r.code != 0 {
		t.Fatalf("%s as %s: exit %d\nstdout: %s\nstderr: %s", remote, user, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// ready moves root past the first-login password change, through exec-mode passwd.
func (d *daemon) ready(t *testing.T) *daemon {
	t.Helper()
	r := d.openssh(t, "root", initialPassword, changedPassword+"\n"+changedPassword+"\n", "passwd")
	if r.code != 0 {
		t.Fatalf("passwd: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	return d
}

// dial logs in with x/crypto/ssh and returns the client and the host key the server showed.
func (d *daemon) dial(user string, auth ...gossh.AuthMethod) (*gossh.Client, gossh.PublicKey, error) {
	var hostKey gossh.PublicKey
	cfg := &gossh.ClientConfig{
		User: user, Auth: auth, Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error { hostKey = key; return nil },
	}
	c, err := gossh.Dial("tcp", d.addr, cfg)
	return c, hostKey, err
}

// execFrom runs one exec command over a connection from the given loopback source address.
func (d *daemon) execFrom(source, user, password, command string) (string, error) {
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	conn, err := dialer.Dial("tcp", d.addr)
	if err != nil {
		return "", err
	}
	cc, chans, reqs, err := gossh.NewClientConn(conn, d.addr, &gossh.ClientConfig{
		User: user, Auth: []gossh.AuthMethod{gossh.Password(password)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		return "", err
	}
	c := gossh.NewClient(cc, chans, reqs)
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	out, err := sess.Output(command)
	return string(out), err
}

// term is an interactive PTY session driven by x/crypto/ssh.
type term struct {
	testutil.Screen
	t     *testing.T
	sess  *gossh.Session
	in    io.WriteCloser
	ended chan error
}

func (d *daemon) openTerm(t *testing.T, user, password string) *term {
	t.Helper()
	c, _, err := d.dial(user, gossh.Password(password))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	tm := &term{Screen: testutil.Screen{T: t, Out: out}, t: t, sess: sess, ended: make(chan error, 1)}
	sess.Stdout, sess.Stderr = out, out
	if tm.in, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 40, 80, gossh.TerminalModes{gossh.ECHO: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { tm.ended <- sess.Wait() }()
	return tm
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.in, s); err != nil {
		tm.t.Fatalf("send %q: %v", s, err)
	}
}

// expect waits until the output after the last match contains want, and moves past it.
func (tm *term) expect(want string) string {
	tm.t.Helper()
	return tm.Expect(want)
}

// waitEnd waits for the server to end the session and returns its exit status.
func (tm *term) waitEnd() int {
	tm.t.Helper()
	select {
	case err := <-tm.ended:
		var ee *gossh.ExitError
		if errors.As(err, &ee) {
			return ee.ExitStatus()
		}
		if err != nil {
			tm.t.Fatalf("session ended without a status: %v", err)
		}
		return 0
	case <-time.After(waitFor):
		tm.t.Fatalf("session did not end; output:\n%q", tm.Out.String())
		return -1
	}
}

// waitUntil polls cond until it holds or the test times out.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusJSON is `system.status --json`: sections in order, each with its fields.
type statusJSON []struct {
	Section string            `json:"section"`
	Labels  map[string]string `json:"labels"`
	Fields  []struct {
		Name   string            `json:"name"`
		Kind   string            `json:"kind"`
		Labels map[string]string `json:"labels"`
		Value  any               `json:"value"`
	} `json:"fields"`
}

// value returns a field's value; labels are name, value pairs the field must carry.
func (s statusJSON) value(t *testing.T, section, field string, labels ...string) any {
	t.Helper()
	for _, sec := range s {
		if sec.Section != section {
			continue
		}
	fields:
		for _, f := range sec.Fields {
			if f.Name != field {
				continue
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if f.Labels[labels[i]] != labels[i+1] {
					continue fields
				}
			}
			return f.Value
		}
	}
	t.Fatalf("system.status has no %s %s %v: %+v", section, field, labels, s)
	return nil
}

func (s statusJSON) number(t *testing.T, section, field string, labels ...string) float64 {
	t.Helper()
	v, ok := s.value(t, section, field, labels...).(float64)
	if !ok {
		t.Fatalf("%s %s %v is not a number", section, field, labels)
	}
	return v
}

func parseStatus(t *testing.T, out string) statusJSON {
	t.Helper()
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("system.status --json: %v\n%s", err, out)
	}
	return s
}

// kill ends ferryd with SIGKILL, as a crash or the OOM killer would.
func (d *daemon) kill() {
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Kill()
		<-d.exited
	}
}

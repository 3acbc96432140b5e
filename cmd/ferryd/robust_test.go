package main

// Robustness against the machine: a damaged confdb, a full log disk, a stderr
// whose reader has gone. Each test starts ferryd the way the fault needs
// (spawn), then drives it with the harness's OpenSSH helpers.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/internal/testutil"
)

// spawnOpts says how spawn runs ferryd.
type spawnOpts struct {
	wrap   []string // a command that execs ferryd as its last arguments, in the same process
	stderr *os.File // ferryd's stderr and stdout; nil: the daemon's log buffer
	noEnv  bool     // leave FERRY_INITIAL_PASSWORD unset, so a first boot writes initial-password
	extra  []string // more ferryd flags
}

// spawn starts ferryd on dir like launch, with the differences in o, and stops
// it when the test ends. It returns the daemon whether or not it became ready.
func spawn(t *testing.T, dir string, o spawnOpts) (*daemon, error) {
	t.Helper()
	d := &daemon{t: t, dir: dir, logs: &testutil.Buffer{}, exited: make(chan struct{})}
	d.readyFile = filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"--data-dir", dir, "--ssh-addr", "127.0.0.1:0", "--ready-file", d.readyFile}, o.extra...)
	argv := append(append(append([]string{}, o.wrap...), ferrydBin), args...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = os.Environ()
	if !o.noEnv {
		d.cmd.Env = append(d.cmd.Env, "FERRY_INITIAL_PASSWORD="+initialPassword)
	}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o.stderr != nil {
		d.cmd.Stderr, d.cmd.Stdout = o.stderr, o.stderr
	} else {
		d.cmd.Stderr, d.cmd.Stdout = d.logs, d.logs
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.stop)
	deadline := time.After(waitFor)
	for {
		select {
		case <-time.After(10 * time.Millisecond):
			ready, err := readReady(d.readyFile)
			if err != nil || ready.PID != d.cmd.Process.Pid || ready.Listeners["ssh"] == "" {
				continue
			}
			d.readyInfo, d.addr = ready, ready.Listeners["ssh"]
			d.port = d.addr[strings.LastIndexByte(d.addr, ':')+1:]
			return d, nil
		case <-d.exited:
			return d, fmt.Errorf("ferryd exited before it was ready: %v", d.err)
		case <-deadline:
			d.cmd.Process.Kill()
			return d, fmt.Errorf("ferryd was not ready within %s", waitFor)
		}
	}
}

// goodConfdb runs a first boot on a fresh data dir, logs in, stops ferryd and
// returns the confdb it left.
func goodConfdb(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	d.mustRun(t, "account.list", "")
	d.stop()
	raw, err := os.ReadFile(filepath.Join(dir, confdbFile))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newestMeta reads the meta page bbolt uses (see the format note in store/store.go).
func newestMeta(raw []byte) (freelist uint64, pageSize int) {
	le := binary.LittleEndian
	pageSize = int(le.Uint32(raw[16+8:]))
	m0, m1 := raw[16:], raw[pageSize+16:]
	if le.Uint64(m1[48:]) > le.Uint64(m0[48:]) {
		m0 = m1
	}
	return le.Uint64(m0[32:]), pageSize
}

// scribbled is raw with the given pages overwritten by seeded random bytes.
func scribbled(raw []byte, pageSize int, seed uint64, pages ...uint64) []byte {
	out := bytes.Clone(raw)
	r := rand.New(rand.NewPCG(seed, seed))
	for _, p := range pages {
		for i := int(p) * pageSize; i < int(p+1)*pageSize; i++ {
			out[i] = byte(r.Uint32())
		}
	}
	return out
}

// head is the start of s, for messages: a Go stack trace runs to pages.
func head(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// TestDamagedConfdbRefused: a damaged or empty confdb stops ferryd at once with
// exit status 1 and one line saying how to restore a backup; no stack trace, no
// re-provisioning, and the file is left exactly as it was.
func TestDamagedConfdbRefused(t *testing.T) {
	good := goodConfdb(t)
	freelist, pageSize := newestMeta(good)
	cases := []struct {
		name, reason string
		file         []byte
	}{
		{"zero bytes", "the file is empty", []byte{}},
		{"truncated to a quarter", "truncated", good[:len(good)/4]},
		{"freelist scribbled", "freelist page", scribbled(good, pageSize, 1, freelist)},
		{"meta pages scribbled", "neither meta page is valid", scribbled(good, pageSize, 2, 0, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, confdbFile)
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			d, err := spawn(t, dir, spawnOpts{noEnv: true})
			if err == nil {
				t.Fatalf("ferryd started on a damaged confdb:\n%s", head(d.logs.String()))
			}
			<-d.exited
			took := time.Since(began)
			out := d.logs.String()
			var ee *exec.ExitError
			if !errors.As(d.err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("exit: %v, want status 1\n%s", d.err, head(out))
			}
			if took > 5*time.Second {
				t.Errorf("took %s to refuse the file, want at once", took)
			}
			want := "ferryd: confdb " + path + " is damaged ("
			hint := "): restore a backup made with confdb.backup (stop ferryd, copy the backup to that path) or move the file away to start afresh\n"
			if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, hint) || strings.Count(out, "\n") != 1 ||
				!strings.Contains(out, c.reason) {
				t.Errorf("stderr = %q\nwant one line %q<%s...>%q", head(out), want, c.reason, hint)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("stderr has a stack trace:\n%s", head(out))
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, c.file) {
				t.Errorf("the confdb changed: %d bytes before, %d after (%v)", len(c.file), len(after), err)
			}
			if _, err := os.Stat(filepath.Join(dir, initialPasswordFile)); !os.IsNotExist(err) {
				t.Errorf("initial-password was written (%v): ferryd took the data dir for a new one", err)
			}
		})
	}
}

// TestLogDiskFull: with the log's disk full, ferryd keeps serving; system.status
// counts the records the file could not take; stderr, which still gets them,
// gets one warning (not one per record); when the disk has room again the file
// says how many records it lost. The log directory is a 64 KiB tmpfs in a mount
// namespace of ferryd's own (unshare -m), so nothing outside the test sees it.
func TestLogDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountThenExec := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=64k,mode=0700 ferry-test-log "$0" && exec "$@"`, logDir}
	d, err := spawn(t, dir, spawnOpts{wrap: mountThenExec})
	if err != nil {
		t.Fatalf("%v\n%s", err, d.logs.String())
	}
	d.ready(t)
	logPath := filepath.Join(logDir, "ferry.log")
	// The tmpfs is visible only in ferryd's namespace: reach it through /proc.
	inNS := filepath.Join(fmt.Sprintf("/proc/%d/root", d.cmd.Process.Pid), logPath)
	readLog := func() string {
		raw, err := os.ReadFile(inNS)
		if err != nil {
			t.Fatalf("read the log in ferryd's namespace: %v", err)
		}
		return string(raw)
	}
	if !strings.Contains(readLog(), "msg=audit") {
		t.Fatalf("the log on the tmpfs has no audit records yet:\n%s", readLog())
	}
	filler := filepath.Join(filepath.Dir(inNS), "filler")
	fill, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	var fillErr error
	for i := 0; i < 64 && fillErr == nil; i++ { // 64 KiB fill in at most 17 chunks
		_, fillErr = fill.Write(chunk)
	}
	fill.Close()
	if !errors.Is(fillErr, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", fillErr)
	}

	warning := "ferryd: log file " + logPath + " cannot be written (no space left on device): "
	// The log file's last page still has room for a few records: log until it is full.
	lost := []string{"help account.list", "help account.add", "help account.remove", "help account.addKey",
		"help account.removeKey", "help passwd", "help history", "help tcpscan", "help logger.tail",
		"help system.status", "help system.sessions", "help confdb.backup", "help confdb.export",
		"help dom.resetPassword", "help exit", "help quit", "help help", "help ssh.hostKeys"}
	for i := 0; !strings.Contains(d.logs.String(), warning); i++ {
		if i == len(lost) {
			t.Fatalf("%d commands after the disk filled, stderr has no warning %q:\n%s", i, warning, d.logs.String())
		}
		d.mustRun(t, lost[i], "")
	}
	first := d.logs.String()
	if n := strings.Count(first, warning); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, first)
	}
	warnLine := first[strings.Index(first, warning):]
	warnLine = warnLine[:strings.IndexByte(warnLine, '\n')]
	if !strings.HasSuffix(warnLine, "; stderr still gets them") || !strings.Contains(warnLine, " lost from it since ") {
		t.Errorf("warning = %q, want how many records were lost since when", warnLine)
	}
	// Three more commands, each at least one lost record: still the one warning.
	after := []string{"help logger.tail", "help confdb.backup", "help confdb.export"}
	for _, c := range after {
		d.mustRun(t, c, "")
	}
	st := parseStatus(t, d.mustRun(t, "system.status --json", ""))
	errs, lostBytes := st.number(t, "log", "write_errors_total"), st.number(t, "log", "lost_bytes_total")
	if errs < 3 || lostBytes < 3*100 {
		t.Errorf("log write_errors_total = %v, lost_bytes_total = %v; want at least 3 records of 100 bytes", errs, lostBytes)
	}
	if v := st.value(t, "log", "last_error"); v != "no space left on device" {
		t.Errorf("log last_error = %v, want ENOSPC", v)
	}
	if v := st.value(t, "log", "path"); v != logPath {
		t.Errorf("log path = %v, want %s", v, logPath)
	}
	if at := st.number(t, "log", "last_error_timestamp_seconds"); time.Since(time.Unix(int64(at), 0)) > time.Minute {
		t.Errorf("log last_error_timestamp_seconds = %v, want just now", at)
	}
	out := d.logs.String()
	if n := strings.Count(out, warning); n != 1 {
		t.Errorf("%d warnings on stderr after %v lost records, want 1 (at most one a minute):\n%s", n, errs, out)
	}
	inFile := readLog()
	for _, c := range after {
		audit := fmt.Sprintf("command=%q", c)
		if !strings.Contains(out, audit) {
			t.Errorf("stderr lacks the audit record of %q", c)
		}
		if strings.Contains(inFile, audit) {
			t.Errorf("the full disk took the audit record of %q", c)
		}
	}

	// Room again: the next record goes to the file, after a note of the gap.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d.mustRun(t, "help ssh.hostKeys", "")
	inFile = readLog()
	if !strings.Contains(inFile, `msg="log records lost: the log file could not be written" records=`) ||
		!strings.Contains(inFile, `command="help ssh.hostKeys"`) {
		t.Errorf("after the disk had room, the log lacks the note of lost records or the new record:\n%s", inFile)
	}
	if !strings.Contains(d.logs.String(), "ferryd: log file "+logPath+" is written again; ") {
		t.Errorf("stderr does not say the log file is written again:\n%s", d.logs.String())
	}
}

// TestStderrClosed: when the reader of ferryd's stderr goes away (`make run
// 2>&1 | tee log`, then Ctrl-C), ferryd neither dies of SIGPIPE nor stops its
// file log; SIGTERM still stops it cleanly, with exit status 0.
func TestStderrClosed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	d, err := spawn(t, dir, spawnOpts{stderr: w})
	w.Close() // ferryd holds the only write end now
	copied := make(chan struct{})
	go func() {
		io.Copy(d.logs, r) // until r is closed below
		close(copied)
	}()
	if err != nil {
		t.Fatalf("%v\n%s", err, d.logs.String())
	}
	d.ready(t)
	r.Close() // the reader goes away
	<-copied

	res := d.openssh(t, "root", changedPassword, "", "help tcpscan")
	select {
	case <-d.exited:
		t.Fatalf("ferryd died once its stderr had no reader: %v (ssh exit %d)", d.err, res.code)
	default:
	}
	if res.code != 0 {
		t.Fatalf("help tcpscan: exit %d: %s", res.code, res.stderr)
	}
	st := parseStatus(t, d.mustRun(t, "system.status --json", ""))
	if closed := st.number(t, "log", "stderr_closed"); closed != 1 {
		t.Errorf("log stderr_closed = %v, want 1", closed)
	}
	if n := st.number(t, "log", "stderr_write_errors_total"); n < 1 {
		t.Errorf("log stderr_write_errors_total = %v, want at least 1", n)
	}
	if n := st.number(t, "log", "write_errors_total"); n != 0 {
		t.Errorf("log write_errors_total = %v, want 0: the file log must go on", n)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("ferryd did not stop within 15 s of SIGTERM")
	}
	if d.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", d.err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "log", "ferry.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	if !strings.Contains(log, `command="help tcpscan"`) || !strings.Contains(log, "msg=stopped") {
		t.Errorf("the file log lacks the record logged after stderr closed, or the clean stop:\n%s", log)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"github.com/ferry-appliance/ferry/internal/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestFirstBootFiles(t *testing.T) {
	dir := t.TempDir()
	// Without FERRY_INITIAL_PASSWORD a random password goes to <data-dir>/initial-password.
	cmd := exec.Command(ferrydBin, "--data-dir", dir, "--ssh-addr", "127.0.0.1:0")
	cmd.Env = withoutEnv(os.Environ(), "FERRY_INITIAL_PASSWORD")
	logs := &testutil.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pwPath := filepath.Join(dir, "initial-password")
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "as SSH.") })
	for _, f := range []string{"confdb.db", "initial-password", "log/ferry.log"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	pw, _ := os.ReadFile(pwPath)
	secret := strings.TrimSpace(string(pw))
	if len(secret) < 20 {
		t.Fatalf("initial password too short: %d characters", len(secret))
	}
	if !strings.Contains(logs.String(), "initial password for root written") || !strings.Contains(logs.String(), pwPath) {
		t.Fatalf("the log does not say where the password is:\n%s", logs.String())
	}
	// The same record goes to stderr first and then to the file: wait for the file.
	var fileLog []byte
	waitUntil(t, func() bool {
		fileLog, _ = os.ReadFile(filepath.Join(dir, "log", "ferry.log"))
		return strings.Contains(string(fileLog), "Ferry shell is now listening on 127.0.0.1:")
	})
	if strings.Contains(logs.String(), secret) || strings.Contains(string(fileLog), secret) {
		t.Fatal("the initial password was logged")
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func TestBootstrapRunsOnceOnFirstBoot(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(t.TempDir(), "bootstrap.ferry")
	os.WriteFile(boot, []byte("# operators\naccount.add olga viewer\nOlga-Initial-001\nOlga-Initial-001\n"), 0o600)
	d := startDaemon(t, dir, "--bootstrap", boot)
	if !strings.Contains(d.ready(t).mustRun(t, "account.list", ""), "olga") {
		t.Fatal("bootstrap did not run")
	}
	d.mustRun(t, "account.remove olga", "")
	d.stop()
	// Second boot: the batch does not run again, so olga stays removed.
	d2 := startDaemon(t, dir, "--bootstrap", boot)
	if strings.Contains(d2.mustRun(t, "account.list", ""), "olga") {
		t.Fatal("bootstrap ran on a second boot")
	}
}

func TestBootstrapFailureStopsDaemon(t *testing.T) {
	boot := filepath.Join(t.TempDir(), "bad.ferry")
	os.WriteFile(boot, []byte("account.list\nno.such.command\n"), 0o600)
	dir := t.TempDir()
	out, err := exec.Command(ferrydBin, "--data-dir", dir, "--ssh-addr", "127.0.0.1:0", "--bootstrap", boot).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bootstrap "+boot+": line 2: unknown command: no.such.command") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	// A failed first boot leaves no confdb behind: the next start is a first boot again.
	for _, f := range []string{"confdb.db", "initial-password"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left after a failed first boot: %v", f, err)
		}
	}
	os.WriteFile(boot, []byte("account.list\n"), 0o600)
	startDaemon(t, dir, "--bootstrap", boot).ready(t)
	// --bootstrap /dev/null means none.
	startDaemon(t, "", "--bootstrap", "/dev/null").ready(t)
}

func TestResetPasswordLikeTheGuide(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	d.mustRun(t, "account.add ops admin", "Ops-Initial-0001\nOps-Initial-0001\n")
	r := d.openssh(t, "root", changedPassword, "Ops-Reset-00001\nOps-Reset-00001\n", "dom.resetPassword localhost ops")
	if r.code != 0 || strings.Count(r.stdout, "New Password:") != 2 {
		t.Fatalf("reset: %+v", r)
	}
	// The reset password works once and must be changed.
	r = d.openssh(t, "ops", "Ops-Reset-00001", "", "account.list")
	if r.code != 1 || !strings.Contains(r.stderr, "password change required") {
		t.Fatalf("after reset: %+v", r)
	}
	// Bad input changes nothing: wrong domain, mismatch, weak.
	for _, tc := range []struct{ remote, stdin, want string }{
		{"dom.resetPassword example.com ops", "", "the domain must be localhost"},
		{"dom.resetPassword localhost ops", "Ops-Other-000001\nOps-Other-000002\n", "passwords do not match"},
		{"dom.resetPassword localhost ops", "short\nshort\n", "at least 12 characters"},
		{"dom.resetPassword localhost ghost", "Ops-Other-000001\nOps-Other-000001\n", "no such account"},
	} {
		r := d.openssh(t, "root", changedPassword, tc.stdin, tc.remote)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: %+v", tc.remote, r)
		}
	}
	if r := d.openssh(t, "ops", "Ops-Reset-00001", "", "account.list"); !strings.Contains(r.stderr, "password change required") {
		t.Fatalf("a refused reset changed the password: %+v", r)
	}
}

func TestConfdbBackupAndExport(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	d.mustRun(t, "account.add vic viewer", "Vic-Initial-00001\nVic-Initial-00001\n")
	backup := filepath.Join(t.TempDir(), "confdb-backup.db")
	out := d.mustRun(t, "confdb.backup "+backup, "")
	if !strings.Contains(out, "confdb backed up to "+backup) {
		t.Fatalf("backup said %q", out)
	}
	st, err := os.Stat(backup)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	// The snapshot is a valid bbolt file holding the accounts.
	db, err := bolt.Open(backup, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("accounts")).Get([]byte("vic")) == nil {
			t.Error("backup lacks the account added before it")
		}
		return nil
	})
	db.Close()
	// An existing file is kept unless --force.
	if r := d.openssh(t, "root", changedPassword, "", "confdb.backup "+backup); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("overwrite without --force: %+v", r)
	}
	d.mustRun(t, "confdb.backup --force "+backup, "")
	// The live confdb is never a backup target, however it is named.
	for _, target := range []string{filepath.Join(d.dir, "confdb.db"), filepath.Join(d.dir, "log", "..", "confdb.db")} {
		r := d.openssh(t, "root", changedPassword, "", "confdb.backup --force "+target)
		if r.code != 1 || !strings.Contains(r.stderr, "is the live confdb; refusing to overwrite it") {
			t.Fatalf("backup onto %s: %+v", target, r)
		}
	}
	// A session has no working directory: a relative path is refused, not taken from somewhere.
	for _, target := range []string{"confdb.db", "relative.db", "./log/../confdb.db"} {
		r := d.openssh(t, "root", changedPassword, "", "confdb.backup --force "+target)
		if r.code != 2 || !strings.Contains(r.stderr, "give an absolute path") {
			t.Fatalf("backup onto %s: %+v", target, r)
		}
	}
	if _, err := os.Stat(filepath.Join(d.dir, "relative.db")); !os.IsNotExist(err) {
		t.Errorf("a relative backup was written into the data dir: %v", err)
	}
	// A missing directory is named as the operator typed it, not by a temporary file.
	bad := filepath.Join(t.TempDir(), "no-such-dir", "b.db")
	r := d.openssh(t, "root", changedPassword, "", "confdb.backup "+bad)
	if want := fmt.Sprintf("backup %q: no such file or directory", bad); r.code != 1 || strings.TrimSpace(r.stderr) != want {
		t.Fatalf("backup into a missing directory: %+v; want %q", r, want)
	}

	var export map[string]map[string]any
	raw := d.mustRun(t, "confdb.export", "")
	if err := json.Unmarshal([]byte(raw), &export); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, raw)
	}
	if vic, _ := export["accounts"]["vic"].(map[string]any); vic["role"] != "viewer" {
		t.Fatalf("export lacks accounts: %s", raw)
	}
	for _, secret := range []string{"password_hash", "$2a$", "PRIVATE KEY", "hostkeys"} {
		if strings.Contains(raw, secret) {
			t.Errorf("export contains %q", secret)
		}
	}
}

func TestLoggerTailAndSessions(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	out := d.mustRun(t, "logger.tail 5 --no-follow", "")
	if n := strings.Count(out, "\n"); n != 5 {
		t.Fatalf("logger.tail 5 printed %d lines:\n%s", n, out)
	}
	if !strings.Contains(out, "msg=") {
		t.Fatalf("not log lines: %q", out)
	}
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	list := d.mustRun(t, "system.sessions", "")
	if !strings.Contains(list, "interactive") || !strings.Contains(list, "exec") {
		t.Fatalf("system.sessions:\n%s", list)
	}
	// The audit log records commands with account, source and result; the text of an
	// unknown command (perhaps a password typed at the wrong moment) is not written down.
	d.openssh(t, "root", changedPassword, "", "Mistyped-Secret-1")
	waitUntil(t, func() bool {
		return strings.Contains(d.logs.String(), `msg=audit component=shell account=root remote=127.0.0.1:`) &&
			strings.Contains(d.logs.String(), `command="(unknown command; text not logged)" result="unknown command"`)
	})
	if strings.Contains(d.logs.String(), "Mistyped-Secret-1") {
		t.Fatal("unknown command text reached the daemon log")
	}
}

// Removing root is permanent: a restart with FERRY_INITIAL_PASSWORD still set does
// not bring it back with a known password.
func TestRemovedRootStaysRemoved(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	d.mustRun(t, "account.add ops admin", "Ops-Initial-0001\nOps-Initial-0001\n")
	if r := d.openssh(t, "ops", "Ops-Initial-0001", "Ops-Changed-0002\nOps-Changed-0002\n", "passwd; account.remove root"); r.code != 0 {
		t.Fatalf("ops removes root: %+v", r)
	}
	d.stop()
	d2 := startDaemon(t, dir)
	if r := d2.openssh(t, "root", initialPassword, "", "account.list"); r.code == 0 || strings.Contains(r.stderr, "password change required") {
		t.Fatalf("root came back: %+v", r)
	}
	if out := d2.mustRunAs(t, "ops", "Ops-Changed-0002", "account.list"); strings.Contains(out, "| root") {
		t.Fatalf("root listed after restart:\n%s", out)
	}
}

// TestReadyFile: ferryd tells scripts and tests where it listens once every part
// is up, in a 0600 JSON file that goes away when it stops.
func TestReadyFile(t *testing.T) {
	d := startDaemon(t, "")
	st, err := os.Stat(d.readyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ready file mode %v, want 0600", st.Mode().Perm())
	}
	if d.readyInfo.PID != d.cmd.Process.Pid || d.readyInfo.Version == "" {
		t.Errorf("ready file = %+v", d.readyInfo)
	}
	// The address it names is the shell's: the harness logs in there.
	if out := d.readyInfo.Listeners["ssh"]; !strings.HasPrefix(out, "127.0.0.1:") || strings.HasSuffix(out, ":0") {
		t.Fatalf("ssh listener %q", out)
	}
	d.ready(t).mustRun(t, "account.list", "")
	d.stop()
	if _, err := os.Stat(d.readyFile); !os.IsNotExist(err) {
		t.Errorf("ready file still there after stop: %v", err)
	}
}

// TestInitialPasswordFileGoesWithTheChange: the file holds a dead password once root
// has changed it, so it is removed then.
func TestInitialPasswordFileGoesWithTheChange(t *testing.T) {
	dir := t.TempDir()
	d, err := launchEnv(t, dir, withoutEnv(os.Environ(), "FERRY_INITIAL_PASSWORD"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	path := filepath.Join(dir, "initial-password")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(raw))
	// A wrong new password (too short) changes nothing and keeps the file.
	if r := d.openssh(t, "root", pw, "short\nshort\n", "passwd"); r.code == 0 {
		t.Fatalf("weak password accepted: %+v", r)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a failed change removed the file: %v", err)
	}
	if r := d.openssh(t, "root", pw, changedPassword+"\n"+changedPassword+"\n", "passwd"); r.code != 0 {
		t.Fatalf("passwd: %+v", r)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("initial-password still there after the change: %v", err)
	}
	if !strings.Contains(d.logs.String(), "initial password file removed") {
		t.Errorf("the removal was not logged:\n%s", d.logs.String())
	}
}

// TestWeakInitialPasswordRefused: FERRY_INITIAL_PASSWORD must pass the policy;
// ferryd says so in one line and leaves no half-made data dir.
func TestWeakInitialPasswordRefused(t *testing.T) {
	dir := t.TempDir()
	env := append(withoutEnv(os.Environ(), "FERRY_INITIAL_PASSWORD"), "FERRY_INITIAL_PASSWORD=short")
	_, err := launchEnv(t, dir, env)
	if err == nil {
		t.Fatal("ferryd started with a weak initial password")
	}
	if !strings.Contains(err.Error(), "ferryd: start first-boot: FERRY_INITIAL_PASSWORD: password too weak: use at least 12 characters") {
		t.Fatalf("error: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "confdb.db")); !os.IsNotExist(err) {
		t.Errorf("a confdb was left behind: %v", err)
	}
}

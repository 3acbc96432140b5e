package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func promptFor(user string) string {
	h, _ := os.Hostname()
	return user + "@" + h + " ferry> "
}

func TestFirstLoginForcesPasswordChange(t *testing.T) {
	d := startDaemon(t, "")
	tm := d.openTerm(t, "root", initialPassword)
	tm.expect("Ferry dev (build unknown) on ")
	tm.expect("Please change the default password.")
	// A weak password is refused with the reason, a mismatch too; then it asks again.
	tm.expect("New password: ")
	tm.send("short\r")
	tm.expect("Retype password: ")
	tm.send("short\r")
	tm.expect("at least 12 characters")
	tm.expect("New password: ")
	tm.send(changedPassword + "\r")
	tm.expect("Retype password: ")
	tm.send("Something-Else-99\r")
	tm.expect("passwords do not match")
	tm.expect("New password: ")
	tm.send(changedPassword + "\r")
	tm.expect("Retype password: ")
	tm.send(changedPassword + "\r")
	tm.expect("Password changed.")
	tm.expect(promptFor("root"))
	if strings.Contains(tm.Out.String(), changedPassword) {
		t.Fatal("the new password was echoed")
	}
	tm.send("account.list\r")
	table := tm.expect(promptFor("root"))
	if !regexp.MustCompile(`\| root +\| admin +\| 0 +\| no +\|`).MatchString(table) {
		t.Fatalf("account.list after the change:\n%s", table)
	}
	tm.send("exit\r")
	if code := tm.waitEnd(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	// The old password no longer works, the new one does.
	if r := d.openssh(t, "root", initialPassword, "", "account.list"); r.code == 0 {
		t.Fatal("the initial password still logs in")
	}
	d.mustRun(t, "account.list", "")
}

func TestFirstLoginDisconnectsAfterThreeFailures(t *testing.T) {
	d := startDaemon(t, "")
	tm := d.openTerm(t, "root", initialPassword)
	for i := 0; i < 3; i++ {
		tm.expect("New password: ")
		tm.send("tooshort\r")
		tm.expect("Retype password: ")
		tm.send("tooshort\r")
	}
	tm.expect("too many failed attempts; disconnecting")
	if code := tm.waitEnd(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if strings.Contains(tm.Out.String(), promptFor("root")) {
		t.Fatal("the prompt was shown without a password change")
	}
	// Nothing changed: the account still has its initial password and must change it.
	r := d.openssh(t, "root", initialPassword, "", "account.list")
	if r.code != 1 || !strings.Contains(r.stderr, "password change required") {
		t.Fatalf("after failed change: %+v", r)
	}
}

func TestMustChangeRefusedInExecAndBatch(t *testing.T) {
	d := startDaemon(t, "")
	exec := d.openssh(t, "root", initialPassword, "", "account.list")
	batch := d.openssh(t, "root", initialPassword, "system.status\n", "")
	for name, r := range map[string]sshResult{"exec": exec, "batch": batch} {
		if r.code != 1 || !strings.Contains(r.stderr, "password change required") || r.stdout != "" {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

func TestPasswdInExecMode(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	const third = "Third-Pass-00003"
	// Wrong current password: refused, nothing changes.
	r := d.openssh(t, "root", changedPassword, "wrong-current-pw\n"+third+"\n"+third+"\n", "passwd")
	if r.code != 1 || !strings.Contains(r.stderr, "current password is incorrect") {
		t.Fatalf("wrong current: %+v", r)
	}
	r = d.openssh(t, "root", changedPassword, changedPassword+"\n"+third+"\n"+third+"\n", "passwd")
	if r.code != 0 || !strings.Contains(r.stdout, "Password changed.") {
		t.Fatalf("passwd: %+v", r)
	}
	for _, want := range []string{"Current password:", "New password:", "Retype password:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("passwd did not ask %q: %q", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, third) {
		t.Fatal("the password was echoed")
	}
	if r := d.openssh(t, "root", changedPassword, "", "account.list"); r.code == 0 {
		t.Fatal("the old password still works")
	}
	if r := d.openssh(t, "root", third, "", "account.list"); r.code != 0 {
		t.Fatalf("the new password does not work: %+v", r)
	}
	// After passwd, the next command of the same exec line runs as the changed account.
	d2 := startDaemon(t, "")
	r = d2.openssh(t, "root", initialPassword, changedPassword+"\n"+changedPassword+"\n", "passwd; account.list")
	if r.code != 0 || !strings.Contains(r.stdout, "| root") {
		t.Fatalf("passwd; account.list: %+v", r)
	}
	if strings.Contains(d.logs.String(), third) {
		t.Fatal("the password reached the daemon log")
	}
}

func TestExitStatuses(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	closed := closedPort(t)
	cases := []struct {
		remote     string
		code       int
		stdout     string
		stderrPart string
	}{
		{"account.list; system.status", 0, "[system]", ""},
		{"tcpscan 127.0.0.1 " + d.port, 0, "trying to connect /127.0.0.1:" + d.port + "\nopened\n", ""},
		{"tcpscan 127.0.0.1 " + closed, 1, "trying to connect /127.0.0.1:" + closed + "\nnot opened: Connection refused\n",
			"tcpscan 127.0.0.1 " + closed + ": not opened: Connection refused"},
		{"tcpscan localhost " + d.port, 0, "trying to connect localhost/127.0.0.1:" + d.port + "\nopened\n", ""},
		{"account.remove root", 1, "", `account "root": cannot remove the account you are logged in as`},
		{"account.remove nobody", 1, "", `account "nobody": not found`},
		{"account.add", 2, "", "usage: account.add NAME admin|viewer"},
		{"tcpscan host notaport", 2, "", "PORT must be 1-65535"},
		{"account.list --bogus", 2, "", "unknown flag --bogus"},
		{"acount.list", 127, "", "unknown command: acount.list; did you mean account.list?"},
		{"account.list; nosuch; system.status", 127, "ACCOUNT", "unknown command: nosuch"},
		{"'unterminated", 2, "", "unterminated quote"},
		{"tcpscan no..such..host 80", 1, "trying to connect /no..such..host:80\nnot opened: Unknown host no..such..host\n",
			"tcpscan no..such..host 80: not opened: Unknown host no..such..host"},
		{"account.list && system.status", 2, "", "the shell runs one command per line"},
		{"account.list | grep root", 2, "", "separate commands with ; in exec mode"},
	}
	for _, tc := range cases {
		t.Run(tc.remote, func(t *testing.T) {
			r := d.openssh(t, "root", changedPassword, "", tc.remote)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderrPart) {
				t.Fatalf("got exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
			}
			if tc.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
		})
	}
	// Exec stops at the first failure: the command after it did not run.
	r := d.openssh(t, "root", changedPassword, "", "account.list; nosuch; system.status")
	if strings.Contains(r.stdout, "[system]") {
		t.Fatal("exec went on after a failing command")
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(l.Addr().String())
	l.Close()
	return port
}

func TestBatchStopsAtFirstFailingLine(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	script := strings.Join([]string{
		"# set up an operator",
		"",
		"account.add alice viewer",
		"Alice-Initial-01",
		"Alice-Initial-01",
		"account.list",
		"account.frobnicate",
		"account.add bob viewer",
		"Bob-Initial-0001",
		"Bob-Initial-0001",
	}, "\n") + "\n"
	r := d.openssh(t, "root", changedPassword, script, "")
	if r.code != 127 {
		t.Fatalf("exit %d, want 127: %+v", r.code, r)
	}
	if strings.TrimSpace(r.stderr) != "line 7: unknown command: account.frobnicate (type help for the list)" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "Account alice (viewer) added") || !strings.Contains(r.stdout, "| alice") {
		t.Fatalf("lines before the failure did not run: %q", r.stdout)
	}
	list := d.mustRun(t, "account.list --json", "")
	if !strings.Contains(list, `"alice"`) || strings.Contains(list, `"bob"`) {
		t.Fatalf("after the batch: %s", list)
	}
	// A clean batch exits 0; a failing command in it exits 1 with its line number.
	if r := d.openssh(t, "root", changedPassword, "account.list\n\n# done\n", ""); r.code != 0 {
		t.Fatalf("clean batch: %+v", r)
	}
	r = d.openssh(t, "root", changedPassword, "account.list\naccount.remove nobody\n", "")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "line 2: ") {
		t.Fatalf("failing batch: %+v", r)
	}
	// A failing command's own reason is the stderr line, not "command failed";
	// the guide's output stays on stdout.
	r = d.openssh(t, "root", changedPassword, "account.list\ntcpscan 127.0.0.1 "+closedPort(t)+"\n", "")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "line 2: tcpscan 127.0.0.1 ") || !strings.HasSuffix(strings.TrimSpace(r.stderr), ": not opened: Connection refused") ||
		!strings.Contains(r.stdout, "not opened: Connection refused") {
		t.Fatalf("failing tcpscan in a batch: %+v", r)
	}
}

func TestViewerIsDeniedAdminCommands(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	d.mustRun(t, "account.add vera viewer", "Vera-Initial-001\nVera-Initial-001\n")
	// The viewer must change the initial password first, like every new account.
	r := d.openssh(t, "vera", "Vera-Initial-001", "", "account.list")
	if r.code != 1 || !strings.Contains(r.stderr, "password change required") {
		t.Fatalf("new viewer: %+v", r)
	}
	r = d.openssh(t, "vera", "Vera-Initial-001", "Vera-Changed-002\nVera-Changed-002\n", "passwd")
	if r.code != 0 {
		t.Fatalf("viewer passwd: %+v", r)
	}
	if r := d.openssh(t, "vera", "Vera-Changed-002", "", "account.list; system.status"); r.code != 0 {
		t.Fatalf("viewer read-only commands: %+v", r)
	}
	r = d.openssh(t, "vera", "Vera-Changed-002", "Xavier-Pass-0001\nXavier-Pass-0001\n", "account.add xavier admin")
	if r.code != 1 || !strings.Contains(r.stderr, "account.add: permission denied (requires role admin)") {
		t.Fatalf("viewer account.add: %+v", r)
	}
	if strings.Contains(d.mustRun(t, "account.list", ""), "xavier") {
		t.Fatal("a viewer created an account")
	}
	// help shows a viewer only what it may run.
	help := d.openssh(t, "vera", "Vera-Changed-002", "", "help").stdout
	if strings.Contains(help, "account.add") || !strings.Contains(help, "account.list") {
		t.Fatalf("viewer help:\n%s", help)
	}
}

func TestLockoutAfterRepeatedFailures(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	// One connection gets at most 6 password attempts.
	tries := 0
	_, _, err := d.dial("root", gossh.RetryableAuthMethod(gossh.PasswordCallback(func() (string, error) {
		tries++
		return fmt.Sprintf("wrong-password-%d", tries), nil
	}), 20))
	if err == nil {
		t.Fatal("wrong passwords logged in")
	}
	if tries > 6 {
		t.Fatalf("the server allowed %d attempts on one connection", tries)
	}
	// That was at least 5 failures from 127.0.0.1 within 10 minutes: now even the
	// right password is refused, exactly as a wrong one is.
	if _, _, err := d.dial("root", gossh.Password(changedPassword)); err == nil {
		t.Fatal("the right password logged in from a locked-out address")
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("locked-out refusal differs from a wrong password: %v", err)
	}
	if r := d.openssh(t, "root", changedPassword, "", "account.list"); r.code == 0 {
		t.Fatal("OpenSSH logged in while locked out")
	}
	if n := strings.Count(d.logs.String(), "source address locked out"); n != 1 {
		t.Fatalf("lockout logged %d times, want once:\n%s", n, d.logs.String())
	}
	// The lock is per source address: 127.0.0.2 still logs in, and sees the refusals counted.
	out, err := d.execFrom("127.0.0.2", "root", changedPassword, "system.status --json")
	if err != nil {
		t.Fatalf("login from another address: %v", err)
	}
	st := parseStatus(t, out)
	if st.number(t, "lockout", "locked_sources") != 1 || st.number(t, "shell", "refused_total", "reason", "locked_out") < 2 ||
		st.number(t, "shell", "logins_total", "result", "failed") < 5 || st.number(t, "lockout", "failures_total", "service", "ssh") < 5 {
		t.Fatalf("status after lockout:\n%s", out)
	}
}

func TestUnauthenticatedClientRefused(t *testing.T) {
	d := startDaemon(t, "")
	if _, _, err := d.dial("root"); err == nil {
		t.Fatal("a client without credentials got in")
	}
	if _, _, err := d.dial("root", gossh.Password("")); err == nil {
		t.Fatal("an empty password got in")
	}
}

func TestPublicKeyLogin(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	dir := t.TempDir()
	key := dir + "/id_ed25519"
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	out := d.mustRun(t, fmt.Sprintf("account.addKey root '%s'", strings.TrimSpace(string(pub))), "")
	fp := regexp.MustCompile(`SHA256:\S+`).FindString(out)
	if fp == "" {
		t.Fatalf("addKey printed no fingerprint: %q", out)
	}
	run := func() (string, error) {
		cmd := exec.Command("ssh", "-p", d.port, "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
			"root@127.0.0.1", "account.list --json")
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, fp) {
		t.Fatalf("key login: %v %s", err, out)
	}
	d.mustRun(t, "account.removeKey root "+fp, "")
	if out, err := run(); err == nil {
		t.Fatalf("a removed key still logs in: %s", out)
	}
}

func TestFiftyConcurrentExecSessions(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	// Five admins, ten sessions each: at the per-account cap of 10, so all run.
	users := []string{"root"}
	for i := 1; i < 5; i++ {
		name := fmt.Sprintf("admin%d", i)
		d.mustRun(t, "", fmt.Sprintf("account.add %s admin\nInitial-Pass-%04d\nInitial-Pass-%04d\n", name, i, i))
		if r := d.openssh(t, name, fmt.Sprintf("Initial-Pass-%04d", i), changedPassword+"\n"+changedPassword+"\n", "passwd"); r.code != 0 {
			t.Fatalf("passwd %s: %+v", name, r)
		}
		users = append(users, name)
	}
	const n = 50
	var wg sync.WaitGroup
	results := make([]sshResult, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = d.openssh(t, users[i%len(users)], changedPassword, "", "system.status --json; account.list")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || !strings.Contains(r.stdout, `"confdb_size_bytes"`) || !strings.Contains(r.stdout, "| root") {
			t.Errorf("session %d: %+v", i, r)
		}
	}
}

func TestHostKeysStableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	first := hostKeyOf(t, d)
	printed := d.ready(t).mustRun(t, "ssh.hostKeys", "")
	d.stop()
	d2 := startDaemon(t, dir)
	if again := hostKeyOf(t, d2); again != first {
		t.Fatalf("host key changed across restart: %s then %s", first, again)
	}
	// ssh.hostKeys prints what ssh-keygen -lf prints for the keys ssh-keyscan sees.
	scan, err := exec.Command("ssh-keyscan", "-p", d2.port, "-t", "ed25519,rsa", "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan: %v", err)
	}
	kg := exec.Command("ssh-keygen", "-lf", "-")
	kg.Stdin = strings.NewReader(string(scan))
	lines, err := kg.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -lf: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		f := strings.Fields(line) // bits fingerprint host (TYPE)
		want := f[0] + " " + f[1] + " ferry host key " + f[len(f)-1]
		if !strings.Contains(printed, want) {
			t.Errorf("ssh.hostKeys lacks %q:\n%s", want, printed)
		}
	}
	if strings.Count(d.logs.String(), "generated SSH host key") != 2 || strings.Contains(d2.logs.String(), "generated SSH host key") {
		t.Fatal("host keys were generated again on restart")
	}
}

func hostKeyOf(t *testing.T, d *daemon) string {
	_, key, _ := d.dial("root", gossh.Password("x"))
	if key == nil {
		t.Fatal("no host key seen")
	}
	return gossh.FingerprintSHA256(key)
}

func TestSecondDaemonOnSameDataDirRefused(t *testing.T) {
	dir := t.TempDir()
	startDaemon(t, dir)
	start := time.Now()
	out, err := exec.Command(ferrydBin, "--data-dir", dir, "--ssh-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatalf("second ferryd started:\n%s", out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("second ferryd took %s to give up", took)
	}
	if !strings.Contains(string(out), "confdb is locked by another process (is another ferryd running on this data dir?)") {
		t.Fatalf("unclear message:\n%s", out)
	}
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir).ready(t)
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	start := time.Now()
	d.stop()
	if d.err != nil {
		t.Fatalf("ferryd exited with %v after SIGTERM:\n%s", d.err, d.logs.String())
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	tm.expect("Ferry is shutting down; this session is closing.")
	tm.waitEnd()
	if !strings.Contains(d.logs.String(), `msg=stopped`) {
		t.Fatalf("no clean stop in the log:\n%s", d.logs.String())
	}
	// The confdb was closed cleanly: a new daemon opens it at once, with root's changed password.
	d2 := startDaemon(t, dir)
	d2.mustRun(t, "account.list", "")
}

// A burst of parallel guesses from one address gets exactly the threshold checked:
// the rest wait for the outcome and are refused once it locks the address.
func TestLockoutHoldsUnderAParallelBurst(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	const guesses = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	in := 0
	for i := 0; i < guesses; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pw := fmt.Sprintf("wrong-guess-%02d", i)
			if i == guesses-1 {
				pw = changedPassword // the right one, last of the burst
			}
			if _, err := d.execFrom("127.0.0.3", "root", pw, "account.list"); err == nil {
				mu.Lock()
				in++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	out, err := d.execFrom("127.0.0.1", "root", changedPassword, "system.status --json")
	if err != nil {
		t.Fatal(err)
	}
	st := parseStatus(t, out)
	failed := st.number(t, "shell", "logins_total", "result", "failed")
	if failed > 5 {
		t.Fatalf("%v wrong passwords were checked in a burst, want at most 5", failed)
	}
	if st.number(t, "lockout", "locked_sources") != 1 {
		t.Fatalf("burst did not lock the address:\n%s", out)
	}
	// The right password may have been checked before the fifth failure (then it logs in);
	// after the burst it is refused like any other.
	if in > 1 {
		t.Fatalf("%d logins succeeded in the burst", in)
	}
	if _, err := d.execFrom("127.0.0.3", "root", changedPassword, "account.list"); err == nil {
		t.Fatal("the right password logged in from the locked address after the burst")
	}
	if n := strings.Count(d.logs.String(), "source address locked out"); n != 1 {
		t.Fatalf("lockout logged %d times", n)
	}
}

// Idle TCP connections from one address cannot take every authentication slot.
func TestIdleConnectionsFromOneAddressDoNotBlockLogins(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for i := 0; i < 40; i++ {
		c, err := dialer.Dial("tcp", d.addr)
		if err != nil {
			break // refused outright: also fine
		}
		defer c.Close()
	}
	start := time.Now()
	if r := d.openssh(t, "root", changedPassword, "", "account.list"); r.code != 0 {
		t.Fatalf("login while another address holds idle connections: %+v", r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("login waited %s behind idle connections", took)
	}
}

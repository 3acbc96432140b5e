package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// TestSecretsInMistypedArguments: a password typed as an extra argument of a
// command that asks for one reaches neither the log, nor history, nor the confdb
// and its backups. The audit record keeps the command name and the count.
func TestSecretsInMistypedArguments(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	const secret = "Typed-Secret-0042"
	d.mustRun(t, "", "account.add ops viewer\nOps-Initial-0001\nOps-Initial-0001\n")
	lines := []string{
		"dom.resetPassword localhost ops " + secret, // one argument too many
		"account.add ops3 viewer " + secret,
		"passwd " + secret,
		"account.add ops3 " + secret, // the role forgotten: the count is right
		"dom.resetPassword ops " + secret,
		"dom.resetPassword localhost " + secret,
	}
	// Interactive, where history is kept.
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	tm.send("account.list\r")
	tm.expect(promptFor("root"))
	for _, l := range lines {
		tm.send(l + "\r")
		tm.expect(promptFor("root"))
	}
	tm.send("exit\r")
	tm.waitEnd()
	// Exec and batch too.
	for _, l := range lines {
		if r := d.openssh(t, "root", changedPassword, "", l); r.code == 0 || strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("exec %q: %+v", l, r)
		}
		if r := d.openssh(t, "root", changedPassword, l+"\n", ""); r.code == 0 || strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("batch %q: %+v", l, r)
		}
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	d.mustRun(t, "confdb.backup "+backup, "")
	hist := d.mustRun(t, "history", "")
	if !strings.Contains(hist, "account.list") || !strings.Contains(hist, "exit") {
		t.Fatalf("history in exec mode does not show the interactive session's lines: %q", hist)
	}
	logData, _ := os.ReadFile(filepath.Join(d.dir, "log", "ferry.log"))
	confdb, _ := os.ReadFile(filepath.Join(d.dir, "confdb.db"))
	backupData, _ := os.ReadFile(backup)
	for name, data := range map[string]string{
		"stderr log": d.logs.String(), "log file": string(logData), "history": hist,
		"confdb": string(confdb), "backup": string(backupData),
	} {
		if strings.Contains(data, secret) {
			t.Errorf("the secret reached the %s", name)
		}
	}
	if !strings.Contains(string(logData), `command="dom.resetPassword (3 arguments, not shown: usage error)"`) {
		t.Errorf("the audit record does not keep the name and count:\n%s", logData)
	}
}

// TestControlCharactersNeverReachTheTerminal: a key comment holding terminal
// escapes is shown escaped in completion, `?` and tables.
func TestControlCharactersNeverReachTheTerminal(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	hostile := "\x1b]0;owned\x07\x1b[2J"
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))) + " " + hostile
	d.mustRun(t, "account.addKey root '"+line+"'", "")
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(promptFor("root"))
	tm.send("account.removeKey root ?")
	tm.expect(`\x1b]0;owned\x07\x1b[2J`)
	tm.send("\x03")
	tm.expect(promptFor("root"))
	tm.send("account.removeKey root \t")
	tm.send("\x03exit\r")
	tm.waitEnd()
	out := tm.Out.String()
	if strings.Contains(out, "\x1b]0;") || strings.Contains(out, "\x1b[2J") || strings.Contains(out, "\x07") {
		t.Fatalf("raw escapes reached the terminal: %q", out)
	}
}

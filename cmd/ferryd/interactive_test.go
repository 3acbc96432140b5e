package main

import (
	"strings"
	"testing"
)

const (
	keyTab   = "\t"
	keyCtrlC = "\x03"
	keyCtrlD = "\x04"
	keyUp    = "\x1b[A"
)

func TestInteractiveCompletionHelpAndCancel(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	tm := d.openTerm(t, "root", changedPassword)
	prompt := promptFor("root")
	tm.expect("Ferry dev (build unknown) on ")
	tm.expect(prompt)

	// Tab completes a unique command name and adds a space.
	tm.send("account.li" + keyTab)
	tm.expect("account.list ")
	tm.send("\r")
	tm.expect("| root")
	tm.expect(prompt)

	// Tab on an ambiguous prefix extends it to the common part, then lists the candidates.
	tm.send("acc" + keyTab)
	tm.expect("account.")
	tm.send(keyTab)
	listing := tm.expect("account.removeKey")
	if !strings.Contains(listing, "account.addKey") {
		t.Fatalf("candidates listing: %q", listing)
	}
	tm.send(keyCtrlC) // clears the line at the prompt

	// Tab completes arguments the registry knows: accounts, roles.
	tm.send("account.remove r" + keyTab)
	tm.expect("account.remove root ")
	tm.send(keyCtrlC)
	tm.send("account.add newbie v" + keyTab)
	tm.expect("account.add newbie viewer ")
	tm.send(keyCtrlC)

	// `?` shows the command's usage without running it; `help COMMAND` too.
	tm.send("tcpscan ?")
	tm.expect("Usage: tcpscan HOST PORT [TIMEOUT_MS]")
	tm.send(keyCtrlC)
	tm.send("help dom.resetPassword\r")
	tm.expect("Usage: dom.resetPassword localhost ACCOUNT")
	tm.expect(prompt)

	// Ctrl-C at the prompt throws the typed text away.
	tm.send("bogus" + keyCtrlC + "system.status\r")
	out := tm.expect(prompt)
	if !strings.Contains(out, "[system]") || strings.Contains(out, "unknown command") {
		t.Fatalf("after Ctrl-C at the prompt: %q", out)
	}

	// Ctrl-C cancels a running command (logger.tail follows until then) and the shell goes on.
	tm.send("logger.tail 2\r")
	tm.expect("msg=audit")
	tm.send(keyCtrlC)
	tm.expect("^C")
	tm.expect(prompt)
	tm.send("tcpscan 127.0.0.1 " + d.port + "\r")
	tm.expect("opened")
	tm.expect(prompt)

	// Ctrl-C while a command asks a question cancels the command; nothing changes.
	tm.send("account.add carol viewer\r")
	tm.expect("Initial password: ")
	tm.send("half-typed" + keyCtrlC)
	tm.expect("^C")
	tm.expect(prompt)
	if strings.Contains(d.mustRun(t, "account.list", ""), "carol") {
		t.Fatal("a cancelled account.add created the account")
	}

	// An unknown command gets one line with the closest names, and the shell goes on.
	tm.send("sytem.status\r")
	tm.expect("unknown command: sytem.status; did you mean system.status?")
	tm.expect(prompt)

	// Ctrl-D ends the session with status 0.
	tm.send(keyCtrlD)
	if code := tm.waitEnd(); code != 0 {
		t.Fatalf("Ctrl-D: exit %d", code)
	}
}

func TestInteractiveResize(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	tm := d.openTerm(t, "root", changedPassword)
	prompt := promptFor("root")
	tm.expect(prompt)
	// At 80 columns, ten characters after the prompt stay on one row.
	tm.send(strings.Repeat("x", 10))
	if seen := tm.expect(strings.Repeat("x", 10)); strings.Contains(seen, "\n") {
		t.Fatalf("wrapped at 80 columns: %q", seen)
	}
	tm.send(keyCtrlC)
	// Many resizes in a row must not block the session (gliderlabs' window channel holds one).
	for w := 100; w > 90; w-- {
		if err := tm.sess.WindowChange(40, w); err != nil {
			t.Fatal(err)
		}
	}
	// Narrow the terminal to the prompt plus ten columns: the tenth character wraps.
	if err := tm.sess.WindowChange(40, len(prompt)+10); err != nil {
		t.Fatal(err)
	}
	tm.send("help\r") // a round trip, so the resize has been handled before typing
	tm.expect(prompt)
	tm.send(strings.Repeat("y", 10))
	tm.expect(strings.Repeat("y", 10) + "\r")
	tm.send(keyCtrlC + "exit\r")
	if code := tm.waitEnd(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

func TestHistoryKeptPerAccountAcrossSessions(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	prompt := promptFor("root")
	tm := d.openTerm(t, "root", changedPassword)
	tm.expect(prompt)
	tm.send("system.sessions\r")
	tm.expect(prompt)
	tm.send("exit\r")
	tm.waitEnd()

	tm = d.openTerm(t, "root", changedPassword)
	tm.expect(prompt)
	tm.send(keyUp)
	tm.expect("exit")
	tm.send(keyUp)
	tm.expect("system.sessions")
	tm.send(keyCtrlC + "history\r")
	out := tm.expect(prompt)
	if !strings.Contains(out, "1  system.sessions") || !strings.Contains(out, "2  exit") {
		t.Fatalf("history: %q", out)
	}
	// Secrets never enter the history: passwords are asked, not typed on the line,
	// and the confdb export never carries history.
	if strings.Contains(d.mustRun(t, "confdb.export", ""), "system.sessions") {
		t.Fatal("confdb.export carries command history")
	}
}

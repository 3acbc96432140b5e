package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmuxTerm is OpenSSH running in a real terminal (tmux), read back as rendered screen text.
type tmuxTerm struct {
	t      *testing.T
	socket string
}

func (d *daemon) tmuxSSH(t *testing.T, password string) *tmuxTerm {
	t.Helper()
	tt := &tmuxTerm{t: t, socket: fmt.Sprintf("ferry-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	sshCmd := fmt.Sprintf("sshpass -e ssh -p %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "+
		"-o PubkeyAuthentication=no -o LogLevel=ERROR root@127.0.0.1; sleep 30", d.port)
	// The password travels in the environment, not on a command line.
	if out, err := exec.Command("tmux", "-L", tt.socket, "new-session", "-d", "-e", "SSHPASS="+password,
		"-x", "100", "-y", "30", sshCmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", tt.socket, "kill-server").Run() })
	return tt
}

func (tt *tmuxTerm) keys(keys ...string) {
	tt.t.Helper()
	args := append([]string{"-L", tt.socket, "send-keys", "-t", "0"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		tt.t.Fatalf("send-keys: %v %s", err, out)
	}
}

func (tt *tmuxTerm) screen() string {
	out, _ := exec.Command("tmux", "-L", tt.socket, "capture-pane", "-p", "-t", "0").Output()
	return string(out)
}

// waitScreen waits until the screen shows want and returns the screen.
func (tt *tmuxTerm) waitScreen(want string) string {
	tt.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s := tt.screen()
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("screen never showed %q:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenSSHInARealTerminal(t *testing.T) {
	d := startDaemon(t, "")
	tt := d.tmuxSSH(t, initialPassword)
	tt.waitScreen("Please change the default password.")
	tt.waitScreen("New password:")
	tt.keys(changedPassword, "Enter")
	tt.waitScreen("Retype password:")
	tt.keys(changedPassword, "Enter")
	prompt := promptFor("root") // capture-pane trims trailing blanks, hence the TrimSpace below
	screen := tt.waitScreen(strings.TrimSpace(prompt))
	if strings.Contains(screen, changedPassword) {
		t.Fatalf("the password is visible on the terminal:\n%s", screen)
	}
	// Tab completion and a table, rendered by a real terminal.
	tt.keys("system.stat", "Tab")
	tt.waitScreen(prompt + "system.status")
	tt.keys("Enter")
	tt.waitScreen(`refused_total{reason="busy"}:`) // the last section, the shell's
	// Ctrl-C stops a following logger.tail and the prompt comes back.
	tt.keys("logger.tail 1", "Enter")
	tt.waitScreen("msg=audit")
	tt.keys("C-c")
	tt.waitScreen("^C")
	tt.keys("exit", "Enter")
	tt.waitScreen(prompt + "exit")
}

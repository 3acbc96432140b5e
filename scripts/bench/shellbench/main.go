// Command shellbench measures the Ferry shell against OpenSSH's sshd on loopback, in
// one run: time from start to listening, idle RSS, login-to-prompt and exec round trip.
// Both servers authenticate the same ed25519 key. Run it through scripts/bench/shell.sh.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
)

func main() {
	ferryd := flag.String("ferryd", "bin/ferryd", "ferryd binary")
	sshd := flag.String("sshd", "/usr/sbin/sshd", "sshd binary")
	n := flag.Int("n", 30, "logins per server")
	flag.Parse()
	if err := run(*ferryd, *sshd, *n); err != nil {
		fmt.Fprintln(os.Stderr, "shellbench:", err)
		os.Exit(1)
	}
}

type server struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	prompt  string // what the interactive shell prints when ready
	execCmd string
}

type result struct {
	firstBoot, warmBoot time.Duration
	startRSSKiB, rssKiB int // just after start; after the logins
	login, execRT       []time.Duration
}

func run(ferrydBin, sshdBin string, n int) error {
	tmp, err := os.MkdirTemp("", "shellbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	sshPub, _ := gossh.NewPublicKey(pub)
	authLine := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub)))
	host, _ := os.Hostname()

	// Ferry: first boot (host key generation included), then a warm boot on the same data dir.
	dataDir := filepath.Join(tmp, "ferry")
	ferry := func() *server {
		return &server{name: "ferryd", prompt: "root@" + host + " ferry> ", execCmd: "system.status",
			cmd: exec.Command(ferrydBin, "--data-dir", dataDir, "--ssh-addr", benchutil.FreeAddr(), "--log-level", "warn")}
	}
	var fr result
	s := ferry()
	s.cmd.Env = append(os.Environ(), "FERRY_INITIAL_PASSWORD=Bench-Initial-001")
	if fr.firstBoot, err = startAndWait(s); err != nil {
		return err
	}
	// Past the first-login change, and the key authorized, through the shell itself.
	if err := benchutil.ExecPassword(s.addr, "Bench-Initial-001", "passwd", "Bench-Changed-0002\nBench-Changed-0002\n"); err != nil {
		return err
	}
	if err := benchutil.ExecPassword(s.addr, "Bench-Changed-0002", fmt.Sprintf("account.addKey root '%s'", authLine), ""); err != nil {
		return err
	}
	stop(s)
	s = ferry()
	if fr.warmBoot, err = startAndWait(s); err != nil {
		return err
	}
	if err := measure(s, signer, n, &fr); err != nil {
		return err
	}
	// Password logins pay one bcrypt check (cost 11) on top; sshd here takes keys only.
	var pwLogin []time.Duration
	pwCfg := &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.Password("Bench-Changed-0002")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	for i := 0; i < min(n, 10); i++ {
		d, err := loginToPrompt(s, pwCfg)
		if err != nil {
			return fmt.Errorf("ferryd password login: %w", err)
		}
		pwLogin = append(pwLogin, d)
	}
	stop(s)

	// OpenSSH sshd with its own host keys and the same authorized key.
	sshDir := filepath.Join(tmp, "sshd")
	addr, sshdConfig, err := benchutil.PrepareSSHD(sshDir, authLine)
	if err != nil {
		return err
	}
	var sr result
	peer := &server{name: "sshd", addr: addr, prompt: "# ", execCmd: "true",
		cmd: exec.Command(sshdBin, "-D", "-e", "-f", sshdConfig)}
	if sr.warmBoot, err = startAndWait(peer); err != nil {
		return err
	}
	if err := measure(peer, signer, n, &sr); err != nil {
		return err
	}
	stop(peer)

	fmt.Printf("Shell benchmark, loopback, %d logins each (ferryd vs OpenSSH sshd %s)\n", n, benchutil.SSHDVersion(sshdBin))
	fmt.Printf("%-28s %12s %12s %8s\n", "metric", "ferryd", "sshd", "ratio")
	row := func(name string, a, b time.Duration) {
		fmt.Printf("%-28s %12s %12s %8.2f\n", name, a.Round(10*time.Microsecond), b.Round(10*time.Microsecond), float64(a)/float64(b))
	}
	fmt.Printf("%-28s %12s %12s %8s\n", "start to listening, 1st boot", fr.firstBoot.Round(time.Millisecond), "-", "-")
	row("start to listening", fr.warmBoot, sr.warmBoot)
	fmt.Printf("%-28s %9d KiB %9d KiB %8.2f\n", "idle RSS after start", fr.startRSSKiB, sr.startRSSKiB, float64(fr.startRSSKiB)/float64(sr.startRSSKiB))
	fmt.Printf("%-28s %9d KiB %9d KiB %8.2f\n", "idle RSS after the logins", fr.rssKiB, sr.rssKiB, float64(fr.rssKiB)/float64(sr.rssKiB))
	row("login to prompt, median", median(fr.login), median(sr.login))
	row("login to prompt, p90", pct(fr.login, 90), pct(sr.login, 90))
	row("exec round trip, median", median(fr.execRT), median(sr.execRT))
	fmt.Printf("%-28s %12s %12s %8s\n", "password login to prompt", median(pwLogin).Round(10*time.Microsecond), "-", "-")
	return nil
}

// startAndWait starts s and returns the time until its port accepts connections.
func startAndWait(s *server) (time.Duration, error) {
	if s.addr == "" {
		for i, a := range s.cmd.Args {
			if a == "--ssh-addr" {
				s.addr = s.cmd.Args[i+1]
			}
		}
	}
	var errOut bytes.Buffer
	s.cmd.Stderr = &errOut
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	for time.Since(start) < 30*time.Second {
		if c, err := net.DialTimeout("tcp", s.addr, 50*time.Millisecond); err == nil {
			c.Close()
			return time.Since(start), nil
		}
		time.Sleep(500 * time.Microsecond)
	}
	s.cmd.Process.Kill()
	return 0, fmt.Errorf("%s did not listen: %s", s.name, errOut.String())
}

func stop(s *server) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

func measure(s *server, signer gossh.Signer, n int, r *result) error {
	time.Sleep(time.Second) // idle: whatever start-up does in the background has settled
	r.startRSSKiB = rss(s.cmd.Process.Pid)
	cfg := &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		d, err := loginToPrompt(s, cfg)
		if err != nil {
			return fmt.Errorf("%s login: %w", s.name, err)
		}
		r.login = append(r.login, d)
		start := time.Now()
		c, err := gossh.Dial("tcp", s.addr, cfg)
		if err != nil {
			return err
		}
		sess, _ := c.NewSession()
		if out, err := sess.CombinedOutput(s.execCmd); err != nil {
			return fmt.Errorf("%s exec: %v %s", s.name, err, out)
		}
		r.execRT = append(r.execRT, time.Since(start))
		c.Close()
	}
	time.Sleep(300 * time.Millisecond) // let per-connection children exit before reading RSS
	r.rssKiB = rss(s.cmd.Process.Pid)
	return nil
}

func loginToPrompt(s *server, cfg *gossh.ClientConfig) (time.Duration, error) {
	start := time.Now()
	c, err := gossh.Dial("tcp", s.addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return 0, err
	}
	out := benchutil.NewPromptWatch(s.prompt)
	sess.Stdout = out
	if err := sess.RequestPty("xterm", 40, 120, gossh.TerminalModes{}); err != nil {
		return 0, err
	}
	if err := sess.Shell(); err != nil {
		return 0, err
	}
	select {
	case <-out.Seen():
		return time.Since(start), nil
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no prompt %q; got %q", s.prompt, out.String())
	}
}

func rss(pid int) int {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

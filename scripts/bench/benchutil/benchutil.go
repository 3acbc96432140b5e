// Package benchutil holds what the benchmarks share: free loopback ports, the
// peer's version, a one-off exec login for setup, and a writer that signals
// when a prompt appears; for the load benches (ingest, relay, spool) also the
// flag and set-up helpers (setup.go), what the header says about the machine
// (host.go), the report helpers (report.go), ferry-loadgen's sender
// (loadgen.go), starting ferryd (ferryd.go) and rsyslogd with its impstats
// counters (rsyslog.go). The process and /proc helpers are in the subpackage
// procs.
package benchutil

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// FreeAddr is a loopback address nothing listens on right now.
func FreeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SSHDVersion is what `sshd -V` prints.
func SSHDVersion(bin string) string {
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// ExecPassword runs one exec command as root with password auth (setup only, not measured).
func ExecPassword(addr, password, command, stdin string) error {
	c, err := dialRoot(addr, password)
	if err != nil {
		return err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	sess.Stdin = strings.NewReader(stdin)
	if out, err := sess.CombinedOutput(command); err != nil {
		return fmt.Errorf("%s: %v %s", command, err, out)
	}
	return nil
}

// dialRoot logs in as root with password auth.
func dialRoot(addr, password string) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.Password(password)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
}

// PromptWatch is a session's output; Seen is closed once it contains the prompt.
type PromptWatch struct {
	mu   sync.Mutex
	want []byte
	buf  bytes.Buffer
	seen chan struct{}
	done bool
}

// NewPromptWatch waits for prompt.
func NewPromptWatch(prompt string) *PromptWatch {
	return &PromptWatch{want: []byte(prompt), seen: make(chan struct{})}
}

// Seen is closed when the prompt has appeared.
func (p *PromptWatch) Seen() <-chan struct{} { return p.seen }

func (p *PromptWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	if !p.done && bytes.Contains(p.buf.Bytes(), p.want) {
		p.done = true
		close(p.seen)
	}
	return len(b), nil
}

// String is everything written so far.
func (p *PromptWatch) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// PrepareSSHD writes into dir the host keys, authorized_keys (authLine) and an
// sshd_config for OpenSSH's sshd in the foreground on a free loopback port: root
// by key only, no PAM. It returns the address and the config's path.
func PrepareSSHD(dir, authLine string) (addr, config string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authLine+"\n"), 0o600); err != nil {
		return "", "", err
	}
	for _, t := range []string{"ed25519", "rsa"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", t, "-N", "", "-f", filepath.Join(dir, "host_"+t)).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("ssh-keygen: %v %s", err, out)
		}
	}
	addr = FreeAddr()
	_, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf("Port %s\nListenAddress 127.0.0.1\nHostKey %s/host_ed25519\nHostKey %s/host_rsa\n"+
		"AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"+
		"StrictModes no\nUsePAM no\nPidFile %s/sshd.pid\nPrintMotd no\nPrintLastLog no\nBanner none\n",
		port, dir, dir, dir, dir)
	config = filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return "", "", err
	}
	os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	return addr, config, nil
}

// Command floodbench measures how long an admin takes to log in while a flood of
// unauthenticated connections holds the server's pre-authentication slots: ferryd, and
// OpenSSH's sshd for comparison, on loopback. The admin connects from its own address,
// thinks 8 s before answering the password (or key) prompt, and is timed from connect to
// the shell prompt, minus the think time; a refused or cut attempt is retried at once, as
// a person would, and counts in the time. Run it through scripts/bench/flood.sh.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
)

type options struct {
	ferryd, sshd  string
	conns, addrs  int
	runs          int
	think, redial time.Duration
	admin         string
	giveUp        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.ferryd, "ferryd", "bin/ferryd", "ferryd binary")
	flag.StringVar(&o.sshd, "sshd", "/usr/sbin/sshd", `sshd binary ("" to skip sshd)`)
	flag.IntVar(&o.conns, "conns", 1000, "flood connections held open")
	flag.IntVar(&o.addrs, "addrs", 64, "flood source addresses (in four /24s of 127.0.0.0/8)")
	flag.IntVar(&o.runs, "n", 3, "admin logins per case")
	flag.DurationVar(&o.think, "think", 8*time.Second, "how long the admin takes to answer the prompt")
	flag.DurationVar(&o.redial, "redial", time.Second, "a flood connection the server closes is opened again after this (0: never)")
	flag.StringVar(&o.admin, "admin", "127.0.99.1", "the admin's source address")
	flag.DurationVar(&o.giveUp, "give-up", 90*time.Second, "an admin login that has not succeeded by then counts as failed")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "floodbench:", err)
		os.Exit(1)
	}
}

// target is a running server and how to log in to it as the admin.
type target struct {
	name   string
	addr   string
	prompt string
	auth   func(think time.Duration, thought *time.Duration) gossh.AuthMethod
	cmd    *exec.Cmd
}

// result is one case's admin logins.
type result struct {
	times    []time.Duration // connect to prompt, think time subtracted
	failed   int             // gave up
	attempts int             // connections it took, all logins together
	refused  uint64          // flood connections the server closed or refused meanwhile
}

func run(o options) error {
	raiseFileLimit(uint64(o.conns) + 1024)
	tmp, err := os.MkdirTemp("", "floodbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	authLine := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	keyAuth := func(think time.Duration, thought *time.Duration) gossh.AuthMethod {
		return gossh.PublicKeysCallback(func() ([]gossh.Signer, error) {
			start := time.Now()
			time.Sleep(think)
			*thought += time.Since(start)
			return []gossh.Signer{signer}, nil
		})
	}
	const password = "Bench-Changed-0002"
	pwAuth := func(think time.Duration, thought *time.Duration) gossh.AuthMethod {
		return gossh.PasswordCallback(func() (string, error) {
			start := time.Now()
			time.Sleep(think)
			*thought += time.Since(start)
			return password, nil
		})
	}

	// ferryd, past the first-login change and with the key authorized.
	host, _ := os.Hostname()
	addr := benchutil.FreeAddr()
	fcmd := exec.Command(o.ferryd, "--data-dir", filepath.Join(tmp, "ferry"), "--ssh-addr", addr, "--log-level", "error")
	fcmd.Env = append(os.Environ(), "FERRY_INITIAL_PASSWORD=Bench-Initial-001")
	ferry := &target{name: "ferryd", addr: addr, prompt: "root@" + host + " ferry> ", auth: pwAuth, cmd: fcmd}
	if err := start(ferry); err != nil {
		return err
	}
	defer stop(ferry)
	if err := benchutil.ExecPassword(addr, "Bench-Initial-001", "passwd", password+"\n"+password+"\n"); err != nil {
		return err
	}
	if err := benchutil.ExecPassword(addr, password, fmt.Sprintf("account.addKey root '%s'", authLine), ""); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ferryd: admin password logins, %d without and %d under the flood\n", o.runs, o.runs)
	fPwQuiet, fPwFlood := measureBoth(o, ferry)
	ferry.auth = keyAuth
	fmt.Fprintf(os.Stderr, "ferryd: admin key logins\n")
	fKeyQuiet, fKeyFlood := measureBoth(o, ferry)
	stop(ferry)

	var sKeyQuiet, sKeyFlood *result
	version := ""
	if o.sshd != "" {
		sshd, err := startSSHD(o.sshd, filepath.Join(tmp, "sshd"), authLine, keyAuth)
		if err != nil {
			return err
		}
		defer stop(sshd)
		version = benchutil.SSHDVersion(o.sshd)
		fmt.Fprintf(os.Stderr, "sshd: admin key logins\n")
		sKeyQuiet, sKeyFlood = measureBoth(o, sshd)
		stop(sshd)
	}

	fmt.Printf("Flood benchmark, loopback: %d unauthenticated connections from %d addresses (a third idle, a third banner only,\n"+
		"a third key exchange + `none`; closed ones reopened after %s); the admin connects from %s and thinks %s.\n"+
		"Login = connect to shell prompt minus the think time, median of %d (retries included).\n",
		o.conns, o.addrs, o.redial, o.admin, o.think, o.runs)
	if version != "" {
		fmt.Printf("sshd: %s, default MaxStartups 10:30:100, LoginGraceTime 120\n", version)
	}
	fmt.Printf("%-34s %20s %20s %11s\n", "admin login", "ferryd", "sshd", "ferryd/sshd")
	row := func(name string, f, s *result) {
		fmt.Printf("%-34s %20s %20s %11s\n", name, f.summary(), s.summary(), ratio(f, s))
	}
	row("key, no flood", fKeyQuiet, sKeyQuiet)
	row("key, under the flood", fKeyFlood, sKeyFlood)
	fmt.Printf("%-34s %20s %20s %11s\n", "key, flood/no flood", ratio(fKeyFlood, fKeyQuiet), ratio(sKeyFlood, sKeyQuiet), "")
	row("password, no flood", fPwQuiet, nil)
	row("password, under the flood", fPwFlood, nil)
	fmt.Printf("%-34s %20s %20s %11s\n", "password, flood/no flood", ratio(fPwFlood, fPwQuiet), "-", "")
	fmt.Printf("%-34s %20s %20s\n", "admin connections, flood (all)", fmt.Sprint(fKeyFlood.attempts+fPwFlood.attempts), attempts(sKeyFlood))
	fmt.Printf("%-34s %20s %20s\n", "flood connections closed by server", fmt.Sprint(fKeyFlood.refused+fPwFlood.refused), refused(sKeyFlood))
	return nil
}

// measureBoth times the admin's logins without and then under the flood.
func measureBoth(o options, t *target) (quiet, flooded *result) {
	quiet = measure(o, t)
	f := startFlood(t.addr, o)
	time.Sleep(2 * time.Second) // the flood settles in
	flooded = measure(o, t)
	flooded.refused = f.stop()
	time.Sleep(time.Second) // the server forgets the flood
	return quiet, flooded
}

func measure(o options, t *target) *result {
	r := &result{}
	for range o.runs {
		d, n, err := adminLogin(o, t)
		r.attempts += n
		if err != nil {
			fmt.Fprintf(os.Stderr, "  %s: admin login failed after %d attempts: %v\n", t.name, n, err)
			r.failed++
			continue
		}
		fmt.Fprintf(os.Stderr, "  %s: admin login %s (%d attempts)\n", t.name, d.Round(time.Millisecond), n)
		r.times = append(r.times, d)
	}
	return r
}

// adminLogin logs in from the admin's address until it reaches the prompt or o.giveUp
// passes; it returns the time minus what the admin spent thinking, and the attempts.
func adminLogin(o options, t *target) (time.Duration, int, error) {
	start := time.Now()
	var thought time.Duration
	var lastErr error
	attempts := 0
	for n := 1; time.Since(start) < o.giveUp; n++ {
		attempts = n
		thought = 0
		err := loginOnce(o, t, &thought, o.giveUp-time.Since(start))
		if err == nil {
			return time.Since(start) - thought, n, nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return 0, attempts, fmt.Errorf("no login within %s: %w", o.giveUp, lastErr)
}

func loginOnce(o options, t *target, thought *time.Duration, limit time.Duration) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.admin)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", t.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	timer := time.AfterFunc(limit, func() { conn.Close() })
	defer timer.Stop()
	cc, chans, reqs, err := gossh.NewClientConn(conn, t.addr, &gossh.ClientConfig{User: "root",
		Auth: []gossh.AuthMethod{t.auth(o.think, thought)}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		return err
	}
	c := gossh.NewClient(cc, chans, reqs)
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	out := benchutil.NewPromptWatch(t.prompt)
	sess.Stdout = out
	if err := sess.RequestPty("xterm", 40, 120, gossh.TerminalModes{}); err != nil {
		return err
	}
	if err := sess.Shell(); err != nil {
		return err
	}
	select {
	case <-out.Seen():
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("no prompt %q; got %q", t.prompt, out.String())
	}
}

// flood holds o.conns unauthenticated connections open against addr.
type flood struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	open    map[net.Conn]bool
	refused atomic.Uint64
}

func startFlood(addr string, o options) *flood {
	f := &flood{done: make(chan struct{}), open: map[net.Conn]bool{}}
	for i := range o.conns {
		src := fmt.Sprintf("127.0.%d.%d", 10+i%4, 1+(i/4)%max(1, o.addrs/4))
		f.wg.Add(1)
		go f.hold(addr, src, i%3, o.redial)
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // not all in one accept backlog
		}
	}
	return f
}

// hold keeps one flood connection open in the given mode, reopening it after redial
// whenever the server closes it, until the flood stops.
func (f *flood) hold(addr, src string, mode int, redial time.Duration) {
	defer f.wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	for {
		conn, err := d.Dial("tcp", addr)
		if err == nil {
			f.mu.Lock()
			select {
			case <-f.done:
				f.mu.Unlock()
				conn.Close()
				return
			default:
			}
			f.open[conn] = true
			f.mu.Unlock()
			switch mode {
			case 0, 1: // idle, or banner only: wait for the server to close it
				if mode == 1 {
					conn.Write([]byte("SSH-2.0-flood\r\n"))
				}
				for {
					if _, err := conn.Read(make([]byte, 4096)); err != nil {
						break
					}
				}
			case 2: // key exchange, one `none`, then silence at the key prompt (both servers offer keys)
				w := &watchedConn{Conn: conn, closed: make(chan struct{})}
				gossh.NewClientConn(w, addr, &gossh.ClientConfig{User: "root",
					Auth: []gossh.AuthMethod{gossh.PublicKeysCallback(func() ([]gossh.Signer, error) {
						select {
						case <-f.done:
						case <-w.closed:
						}
						return nil, errors.New("flood over")
					})}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
			}
			conn.Close()
			f.mu.Lock()
			delete(f.open, conn)
			f.mu.Unlock()
		}
		select {
		case <-f.done:
			return
		default:
		}
		f.refused.Add(1)
		if redial <= 0 {
			<-f.done
			return
		}
		select {
		case <-f.done:
			return
		case <-time.After(redial):
		}
	}
}

// watchedConn tells when the server has closed the connection (the SSH client reads
// it all the time), so a connection waiting at the prompt notices it was cut off.
type watchedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil {
		w.once.Do(func() { close(w.closed) })
	}
	return n, err
}

// stop ends the flood and returns how many of its connections the server closed.
func (f *flood) stop() uint64 {
	f.mu.Lock()
	close(f.done)
	for c := range f.open {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return f.refused.Load()
}

func startSSHD(bin, dir, authLine string, auth func(time.Duration, *time.Duration) gossh.AuthMethod) (*target, error) {
	addr, config, err := benchutil.PrepareSSHD(dir, authLine)
	if err != nil {
		return nil, err
	}
	t := &target{name: "sshd", addr: addr, prompt: "# ", auth: auth,
		cmd: exec.Command(bin, "-D", "-e", "-f", config)}
	return t, start(t)
}

func start(t *target) error {
	var errOut bytes.Buffer
	t.cmd.Stderr = &errOut
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return err
	}
	for begin := time.Now(); time.Since(begin) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", t.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
	}
	t.cmd.Process.Kill()
	return fmt.Errorf("%s did not listen: %s", t.name, errOut.String())
}

func stop(t *target) {
	if t.cmd.ProcessState != nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
}

func raiseFileLimit(n uint64) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < n {
		lim.Cur = min(n, lim.Max)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// median is the middle login, a failed one counting as the slowest; ok is false when
// that is a failure.
func (r *result) median() (time.Duration, bool) {
	s := slices.Clone(r.times)
	slices.Sort(s)
	i := (len(s) + r.failed - 1) / 2
	if i >= len(s) {
		return 0, false
	}
	return s[i], true
}

func (r *result) summary() string {
	if r == nil {
		return "-"
	}
	m, ok := r.median()
	med := "failed"
	if ok {
		med = m.Round(time.Millisecond).String()
	}
	if r.failed > 0 {
		return fmt.Sprintf("%s, %d/%d failed", med, r.failed, r.failed+len(r.times))
	}
	return med
}

func ratio(a, b *result) string {
	if a == nil || b == nil {
		return "-"
	}
	am, aok := a.median()
	bm, bok := b.median()
	if !aok || !bok {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(am)/float64(bm))
}

func attempts(r *result) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprint(r.attempts)
}

func refused(r *result) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprint(r.refused)
}

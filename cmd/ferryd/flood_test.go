package main

// Login protection under load: a flood of unauthenticated connections from many
// loopback addresses, and a password lockout that must leave key logins open.

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// floodConns is how many unauthenticated connections the flood holds open, from
// floodAddrs addresses in four /24s of 127.0.0.0/8.
const (
	floodConns = 1000
	floodAddrs = 64
)

// raiseFileLimit makes sure this process may hold n more sockets.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("the flood needs %d open files; the hard limit (ulimit -Hn) is %d", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raise the open-file limit to %d: %v", n, err)
	}
}

// dialFrom opens a TCP connection to addr from a loopback source address.
func dialFrom(source, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// sshFrom logs in over a connection from source; the handshake is bounded by limit.
func sshFrom(source, addr, user string, limit time.Duration, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	conn, err := dialFrom(source, addr)
	if err != nil {
		return nil, err
	}
	// A handshake that outlives limit fails: its socket is closed under it.
	timer := time.AfterFunc(limit, func() { conn.Close() })
	defer timer.Stop()
	cc, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User: user, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return gossh.NewClient(cc, chans, reqs), nil
}

// flood holds unauthenticated connections open until stop: a third idle (no SSH bytes),
// a third that send only their banner, a third that finish the key exchange, send one
// `none` request and then never answer the password prompt.
type flood struct {
	addr  string
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startFlood(t *testing.T, addr string) *flood {
	t.Helper()
	f := &flood{addr: addr, stop: make(chan struct{})}
	for i := range floodConns {
		src := fmt.Sprintf("127.0.%d.%d", 10+i%4, 1+(i/4)%(floodAddrs/4))
		conn, err := dialFrom(src, addr)
		if err != nil {
			f.close()
			t.Fatalf("flood connection %d from %s: %v", i, src, err)
		}
		f.mu.Lock()
		f.conns = append(f.conns, conn)
		f.mu.Unlock()
		switch i % 3 {
		case 1:
			conn.Write([]byte("SSH-2.0-flood\r\n"))
		case 2:
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				// Ends with an error once the server or close shuts the socket.
				gossh.NewClientConn(conn, addr, &gossh.ClientConfig{User: "root",
					Auth: []gossh.AuthMethod{gossh.PasswordCallback(func() (string, error) {
						<-f.stop
						return "", fmt.Errorf("flood over")
					})},
					HostKeyCallback: gossh.InsecureIgnoreHostKey()})
			}()
		}
	}
	t.Cleanup(f.close)
	return f
}

// close ends the flood and waits (bounded) for its goroutines.
func (f *flood) close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// An admin from a fresh address logs in, taking 8 s to send the password, while 1,000
// unauthenticated connections from 64 addresses hold or wait for every slot.
func TestFloodOfUnauthenticatedConnectionsDoesNotBlockAnAdmin(t *testing.T) {
	raiseFileLimit(t, 4096)
	d := startDaemon(t, "").ready(t)
	f := startFlood(t, d.addr)
	time.Sleep(time.Second) // the probes that got a slot finish their key exchange

	const think = 8 * time.Second
	start := time.Now()
	var asked time.Time
	c, err := sshFrom("127.0.99.1", d.addr, "root", 40*time.Second, gossh.PasswordCallback(func() (string, error) {
		asked = time.Now()
		time.Sleep(think)
		return changedPassword, nil
	}))
	if err != nil {
		t.Fatalf("admin login under the flood (after %s): %v\n%s", time.Since(start).Round(time.Millisecond), err, d.logs.String())
	}
	defer c.Close()
	loggedIn := time.Since(start)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("system.status --json")
	if err != nil {
		t.Fatalf("command after the login: %v %s", err, out)
	}
	t.Logf("admin logged in %s after connecting (prompted after %s, thinking %s)",
		loggedIn.Round(time.Millisecond), asked.Sub(start).Round(time.Millisecond), think)
	// The flood did fill the slots: the server had to refuse or evict some of it.
	if st := parseStatus(t, string(out)); st.number(t, "shell", "refused_total", "reason", "busy") == 0 {
		t.Fatalf("the flood never filled the slots:\n%s", out)
	}
	f.close()
	// With the flood gone, logins from its addresses work as before.
	if _, err := d.execFrom("127.0.10.1", "root", changedPassword, "account.list"); err != nil {
		t.Fatalf("login from a flood address after the flood: %v", err)
	}
}

// Five wrong passwords from one address lock its passwords out, the right one included,
// but not its public keys: keys cannot be guessed, and admins behind a shared NAT keep them.
func TestLockoutLeavesPublicKeyLoginsOpen(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " ops@nat"
	d.mustRun(t, fmt.Sprintf("account.addKey root '%s'", line), "")

	const nat = "127.0.0.5"
	for i := range 5 {
		if _, err := d.execFrom(nat, "root", fmt.Sprintf("wrong-password-%d", i), "account.list"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if _, err := d.execFrom(nat, "root", changedPassword, "account.list"); err == nil {
		t.Fatal("the right password logged in from a locked-out address")
	}
	c, err := sshFrom(nat, d.addr, "root", 20*time.Second, gossh.PublicKeys(signer))
	if err != nil {
		t.Fatalf("key login from a locked-out address: %v", err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("system.status --json")
	if err != nil {
		t.Fatalf("command over the key login: %v %s", err, out)
	}
	st := parseStatus(t, string(out))
	if st.number(t, "lockout", "locked_sources") != 1 || st.number(t, "shell", "refused_total", "reason", "locked_out") < 1 {
		t.Fatalf("status after the lockout:\n%s", out)
	}
	// The key login lifted nothing: passwords from there are still refused.
	if _, err := d.execFrom(nat, "root", changedPassword, "account.list"); err == nil {
		t.Fatal("the right password logged in from the locked-out address after a key login")
	}
	if n := strings.Count(d.logs.String(), "source address locked out"); n != 1 {
		t.Fatalf("lockout logged %d times, want once", n)
	}
}

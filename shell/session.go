package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
)

// session is one SSH session channel, in whichever mode.
type session struct {
	srv     *Server
	sess    ssh.Session
	user    accounts.Identity
	mode    Mode
	out     *lineTracker // stdout (CRLF handled by gliderlabs on a PTY)
	errOut  io.Writer
	history *history
	kb      *keyboard // PTY sessions only: owns stdin
}

// DefaultMaxSessionsPerAccount is the per-account cap on open sessions when
// Config.MaxSessionsPerAccount is zero (OpenSSH's MaxSessions default, per account here).
const DefaultMaxSessionsPerAccount = 10

func (c *Config) maxSessionsPerAccount() int {
	if c.MaxSessionsPerAccount <= 0 {
		return DefaultMaxSessionsPerAccount
	}
	return c.MaxSessionsPerAccount
}

// stallCloseGrace is how long a session closed for stalled output waits for the
// client to confirm the channel close before its whole connection is closed.
const stallCloseGrace = 5 * time.Second

// handle is the session handler: recover, identify, admit, pick the mode, run it, exit.
func (s *Server) handle(sess ssh.Session) {
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	done := make(chan struct{}) // the handler has returned (after Exit)
	defer close(done)
	conn, _ := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
	// Every write goes through the stall guard: a client that stops reading blocks
	// a write for ever once its channel window is full.
	stall := newStallGuard(s.cfg.Sessions.stallTimeout(), func(after time.Duration) {
		s.stalled(sess, conn, cancel, done, after)
	})
	defer stall.stop()
	stdout, stderr := guardedWriter{sess, stall}, guardedWriter{sess.Stderr(), stall}

	pty, winch, isPty := sess.Pty()
	var kb *keyboard
	eol := "\n"
	if isPty {
		eol = "\r\n" // gliderlabs translates \n on the main stream only
		kb = newKeyboard(sess, pty.Window)
		// The window channel holds one event and already has the first size. Drain it
		// from the start, refused sessions included, until the channel is gone: a
		// blocked send stops gliderlabs' request loop and the connection's read loop.
		// A channel the client closed ends the session.
		go kb.watchResize(winch, cancel)
	}

	defer func() {
		if p := recover(); p != nil {
			s.log.Error("session panicked", "account", sess.User(), "panic", p, "stack", string(debug.Stack()))
			fmt.Fprint(stderr, "internal error; the session is closed (details in the daemon log)"+eol)
			sess.Exit(1)
		}
	}()
	user, err := s.cfg.Accounts.Lookup(sess.User())
	if err != nil {
		fmt.Fprint(stderr, "account not available"+eol)
		sess.Exit(1)
		return
	}
	mode := Batch
	switch {
	case sess.RawCommand() != "":
		mode = Exec
	case isPty:
		mode = Interactive
	}
	ss := &session{srv: s, sess: sess, user: user, mode: mode, out: &lineTracker{w: stdout}, errOut: stderr, kb: kb}
	if isPty {
		// gliderlabs translates \n only on the main stream; on a PTY, errors go there too.
		ss.errOut = ss.out
	}

	remote := sess.RemoteAddr().String()
	limit := s.cfg.maxSessionsPerAccount()
	id, ok, closing := s.cfg.Sessions.admit(SessionInfo{Account: user.Name, Remote: remote, Mode: mode, Started: time.Now()}, limit,
		func(msg string) { fmt.Fprintf(ss.errOut, "\n%s\n", msg) }, cancel)
	if closing {
		fmt.Fprintf(stderr, "Ferry is shutting down; no session opens now.%s", eol)
		sess.Exit(1)
		return
	}
	if !ok {
		if n, now := s.cfg.Sessions.refusalToLog(time.Now()); now {
			s.log.Warn("session refused: too many open sessions for the account", "account", user.Name, "remote", remote,
				"limit", limit, "refused_since_last_warning", n)
		}
		fmt.Fprintf(stderr, "account %q: too many open sessions (limit %d)%s", user.Name, limit, eol)
		sess.Exit(1)
		return
	}
	var exitedOnce sync.Once
	markExited := func() { exitedOnce.Do(s.cfg.Sessions.exited) }
	defer markExited()              // after a panic too
	defer s.cfg.Sessions.remove(id) // after a panic; remove is idempotent
	s.log.Info("session opened", "account", user.Name, "remote", remote, "mode", string(mode))

	if isPty {
		go kb.pump()
	}

	var code int
	switch mode {
	case Interactive:
		code = ss.interactive(ctx)
	case Exec:
		code = ss.exec(ctx)
	default:
		code = ss.batch(ctx)
	}
	s.log.Info("session closed", "account", user.Name, "remote", remote, "status", code)
	// Leave the tracker before the client learns the session ended: a script that
	// opens the next session at once must find the place free.
	s.cfg.Sessions.remove(id)
	sess.Exit(code)
	markExited()
}

// stalled ends a session whose output made no progress for the stall timeout: the
// client stopped reading and its channel window is full. The session's context ends
// and the channel is closed; the client's answer to the close fails the blocked
// write. A client that does not answer within stallCloseGrace (or whose connection
// no longer moves at all) loses its connection.
func (s *Server) stalled(sess ssh.Session, conn gossh.Conn, cancel func(), done <-chan struct{}, after time.Duration) {
	s.log.Warn("session output made no progress; closing the session", "account", sess.User(),
		"remote", sess.RemoteAddr().String(), "after", after.String())
	cancel()
	go sess.Close() // waits only while the connection itself is stuck; the fallback ends that
	go func() {
		timer := time.NewTimer(stallCloseGrace)
		defer timer.Stop()
		select {
		case <-done:
			return
		case <-timer.C:
		}
		if conn != nil {
			s.log.Warn("client did not let the stalled session close; closing its connection", "account", sess.User(),
				"remote", sess.RemoteAddr().String())
			conn.Close()
		}
	}()
}

// ctx builds the command context for the next command; the account is re-read so that
// a role change or removal applies to open sessions at once.
func (ss *session) ctx(ctx context.Context, in lineReader) (*Ctx, error) {
	user, err := ss.reloadUser()
	if err != nil {
		return nil, err
	}
	return &Ctx{
		Context: ctx, Stdout: ss.out, Stderr: ss.errOut, User: user, Remote: ss.sess.RemoteAddr().String(),
		Mode: ss.mode, input: in, reload: ss.reloadUser, session: ss, reg: ss.srv.cfg.Registry,
	}, nil
}

func (ss *session) reloadUser() (accounts.Identity, error) {
	user, err := ss.srv.cfg.Accounts.Lookup(ss.user.Name)
	if err != nil {
		return accounts.Identity{}, fmt.Errorf("%w: %s", errAccountGone, ss.user.Name)
	}
	ss.user = user
	return user, nil
}

var errAccountGone = errors.New("the account no longer exists")

// lineTracker remembers whether output ended at the start of a line, so the
// prompt never lands in the middle of a command's last line.
type lineTracker struct {
	mu     sync.Mutex
	w      io.Writer
	midRow bool
}

func (l *lineTracker) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > 0 {
		l.midRow = p[len(p)-1] != '\n'
	}
	return l.w.Write(p)
}

// newline ends a partial last line.
func (l *lineTracker) newline() {
	l.mu.Lock()
	mid := l.midRow
	l.mu.Unlock()
	if mid {
		l.Write([]byte("\n"))
	}
}

// writeChunk is the most output a write hands the channel at once, so the stall
// guard sees progress on long writes (it would take a client reading under
// writeChunk/stall timeout, about 270 bytes a second, to be taken for stalled).
const writeChunk = 8 * 1024

// guardedWriter writes through to w in chunks, each watched by the stall guard.
type guardedWriter struct {
	w io.Writer
	g *stallGuard
}

func (gw guardedWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), writeChunk)
		if c < len(p) && p[c-1] == '\r' && p[c] == '\n' {
			c++ // keep CR LF in one write: gliderlabs would turn a lone LF into another CR LF
		}
		gw.g.begin()
		m, err := gw.w.Write(p[:c])
		gw.g.end()
		n += m
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// stallGuard calls onStall once when writes are in flight and none has made progress
// for limit. It costs a timer per session and nothing while no write is in flight.
type stallGuard struct {
	limit   time.Duration
	onStall func(after time.Duration)

	mu    sync.Mutex
	busy  int       // writes in flight
	since time.Time // the last progress (a write began on an idle guard, or one ended)
	timer *time.Timer
	done  bool // fired or stopped
}

func newStallGuard(limit time.Duration, onStall func(time.Duration)) *stallGuard {
	return &stallGuard{limit: limit, onStall: onStall}
}

func (g *stallGuard) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy++
	if g.busy > 1 || g.done {
		return
	}
	g.since = time.Now()
	if g.timer == nil {
		g.timer = time.AfterFunc(g.limit, g.check)
	} else {
		g.timer.Reset(g.limit)
	}
}

func (g *stallGuard) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy--
	g.since = time.Now()
	if g.busy == 0 && g.timer != nil {
		g.timer.Stop()
	}
}

// check runs when the timer fires: a stall if nothing moved for limit, else wait on.
func (g *stallGuard) check() {
	g.mu.Lock()
	if g.busy == 0 || g.done {
		g.mu.Unlock()
		return
	}
	if left := g.limit - time.Since(g.since); left > 0 {
		g.timer.Reset(left)
		g.mu.Unlock()
		return
	}
	g.done = true
	after := time.Since(g.since)
	g.mu.Unlock()
	g.onStall(after)
}

// stop ends the watch (the session is over).
func (g *stallGuard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	if g.timer != nil {
		g.timer.Stop()
	}
}

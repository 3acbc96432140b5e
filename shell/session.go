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

// handle is the session handler: recover, identify, pick the mode, run it, exit.
func (s *Server) handle(sess ssh.Session) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("session panicked", "account", sess.User(), "panic", p, "stack", string(debug.Stack()))
			fmt.Fprintln(sess.Stderr(), "internal error; the session is closed (details in the daemon log)")
			sess.Exit(1)
		}
	}()
	user, err := s.cfg.Accounts.Lookup(sess.User())
	if err != nil {
		fmt.Fprintln(sess.Stderr(), "account not available")
		sess.Exit(1)
		return
	}
	pty, winch, isPty := sess.Pty()
	mode := Batch
	switch {
	case sess.RawCommand() != "":
		mode = Exec
	case isPty:
		mode = Interactive
	}
	ss := &session{srv: s, sess: sess, user: user, mode: mode, out: &lineTracker{w: sess}, errOut: sess.Stderr()}
	if isPty {
		// gliderlabs translates \n only on the main stream; on a PTY, errors go there too.
		ss.errOut = ss.out
	}

	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	id := s.cfg.Sessions.add(SessionInfo{Account: user.Name, Remote: sess.RemoteAddr().String(), Mode: mode, Started: time.Now()},
		func(msg string) { fmt.Fprintf(ss.errOut, "\n%s\n", msg) }, cancel)
	defer s.cfg.Sessions.remove(id)
	s.log.Info("session opened", "account", user.Name, "remote", sess.RemoteAddr().String(), "mode", string(mode))

	if isPty {
		ss.kb = newKeyboard(sess, pty.Window)
		go ss.kb.pump()
		// The window channel holds one event and already has the first size: drain
		// it for the whole session or the next resize blocks gliderlabs' request loop.
		go ss.kb.watchResize(ctx, winch)
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
	s.log.Info("session closed", "account", user.Name, "remote", sess.RemoteAddr().String(), "status", code)
	sess.Exit(code)
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

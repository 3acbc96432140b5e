// Package shell is Ferry's SSH administration shell: authentication, the three
// session modes (interactive, exec, batch), and dispatch through the command registry.
package shell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/status"
)

// Limits bound what an unauthenticated client can cost the appliance.
type Limits struct {
	MaxAuthTries       int           // per connection
	LoginGrace         time.Duration // to finish authenticating, from getting a slot
	FirstAttempt       time.Duration // to try a password or key once a slot is given (idle sockets lose it)
	MaxUnauthenticated int           // concurrent connections holding a slot, not yet authenticated
	QueueWait          time.Duration // to wait for a slot; it does not count against LoginGrace
}

// DefaultLimits are the appliance's brute-force limits (the lockout has its own, lockout.Default).
var DefaultLimits = Limits{
	MaxAuthTries: 6, LoginGrace: 30 * time.Second, FirstAttempt: 10 * time.Second, MaxUnauthenticated: 32,
	QueueWait: 30 * time.Second,
}

// withDefaults fills every zero (or negative) field from DefaultLimits: a zero
// MaxUnauthenticated, say, would otherwise admit no connection at all.
func (l Limits) withDefaults() Limits {
	pick := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	pickN := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	d := DefaultLimits
	return Limits{
		MaxAuthTries: pickN(l.MaxAuthTries, d.MaxAuthTries), LoginGrace: pick(l.LoginGrace, d.LoginGrace),
		FirstAttempt:       pick(l.FirstAttempt, d.FirstAttempt),
		MaxUnauthenticated: pickN(l.MaxUnauthenticated, d.MaxUnauthenticated),
		QueueWait:          pick(l.QueueWait, d.QueueWait),
	}
}

// Config is everything the shell server needs; New checks it.
type Config struct {
	Addr      string
	HostKeys  HostKeySource // read at Start: the keys live in the confdb, which opens first
	Accounts  *accounts.Service
	Registry  *Registry
	Sessions  *Sessions
	Lockout   *lockout.Lockout // shared with every other login path
	Status    *status.Model    // the shell reports its section here while it runs
	Logger    *slog.Logger
	Limits    Limits
	Version   string
	BuildDate string
	Hostname  string
	// MaxSessionsPerAccount caps the open sessions of one account, all modes and
	// connections together (0: DefaultMaxSessionsPerAccount, 10).
	MaxSessionsPerAccount int
}

// HostKeySource gives the host keys' private halves.
type HostKeySource interface{ Signers() []gossh.Signer }

// Server is the SSH listener on 7022.
type Server struct {
	cfg   Config
	log   *slog.Logger
	guard *guard
	srv   *ssh.Server
	wg    sync.WaitGroup // the Serve goroutine

	mu        sync.Mutex // guards ln and statusReg across Start and Shutdown
	ln        net.Listener
	statusReg *status.Registration

	stopping     atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg; it touches no socket.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.HostKeys == nil:
		return nil, errors.New("shell: no host keys")
	case cfg.Accounts == nil || cfg.Registry == nil || cfg.Sessions == nil:
		return nil, errors.New("shell: accounts, registry and sessions are required")
	case cfg.Status == nil:
		return nil, errors.New("shell: a status model is required")
	case cfg.Lockout == nil:
		return nil, errors.New("shell: a lockout is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	log := cfg.Logger.With("component", "shell")
	s := &Server{cfg: cfg, log: log, guard: newGuard(log, cfg.Limits)}
	s.srv = &ssh.Server{
		Addr:             cfg.Addr,
		Version:          "Ferry",
		Handler:          s.handle,
		PasswordHandler:  s.checkPassword,
		PublicKeyHandler: s.checkKey,
		ConnCallback:     s.guard.accept,
		ServerConfigCallback: func(ctx ssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{
				Config:                  gossh.Config{KeyExchanges: keyExchanges, Ciphers: ciphers, MACs: macs},
				PublicKeyAuthAlgorithms: publicKeyAuths,
				MaxAuthTries:            cfg.Limits.MaxAuthTries,
				AuthLogCallback: func(_ gossh.ConnMetadata, method string, err error) {
					attempted(ctx)
					if err == nil {
						s.guard.loginsOK.Add(1)
						authenticated(ctx)
					}
				},
			}
		},
		// Only sessions: no port forwarding, no subsystems (the defaults deny them).
	}
	return s, nil
}

// Start binds the listener and returns the bind error, then serves in the
// background until Shutdown. ctx bounds the bind only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ln != nil:
		return errors.New("shell: already started")
	case s.stopping.Load():
		return errors.New("shell: already shut down")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	keys := s.cfg.HostKeys.Signers()
	if len(keys) == 0 {
		return errors.New("shell: no host keys")
	}
	for _, k := range keys {
		signer, err := hostSigner(k)
		if err != nil {
			return fmt.Errorf("shell: host key %s: %w", k.PublicKey().Type(), err)
		}
		s.srv.AddHostKey(signer)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("shell listen %s: %w", s.cfg.Addr, err)
	}
	reg, err := s.cfg.Status.Register("shell", nil, s.statusFields)
	if err != nil {
		ln.Close()
		return err
	}
	s.ln, s.statusReg = ln, reg
	s.log.Info(fmt.Sprintf("Ferry shell is now listening on %s as SSH.", ln.Addr()))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) && !s.stopping.Load() {
			s.log.Error("shell stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the bound address (useful with port 0); nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Addrs names the bound address for the ready file.
func (s *Server) Addrs() map[string]string {
	if a := s.Addr(); a != nil {
		return map[string]string{"ssh": a.String()}
	}
	return nil
}

// handlerGrace is how long session handlers get to return once their
// connections are closed.
const handlerGrace = time.Second

// exitGrace bounds how long shutdown waits for ended sessions to send their
// exit status.
const exitGrace = time.Second

// Shutdown stops accepting, tells open sessions the appliance is going down and
// waits for them until ctx ends; then it closes every connection and waits for
// its goroutines. Sessions still open at the deadline are an error. It is
// idempotent and safe before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping.Store(true)
	ln, reg := s.ln, s.statusReg
	s.mu.Unlock()
	if ln == nil {
		return nil
	}
	var errs []error
	// Stop accepting first, so no session starts while the open ones are told to end.
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("close listener: %w", err))
	}
	// Connections still logging in are cut and no new one is admitted: gliderlabs
	// closes only those past the handshake.
	s.guard.close()
	sessions := s.cfg.Sessions
	sessions.closeAll("Ferry is shutting down; this session is closing.")
	// Sessions end as soon as their handlers see the cancellation; then the connections
	// (some clients keep an idle one open) are closed rather than waited for.
	waitErr := sessions.waitEmpty(ctx)
	if waitErr == nil {
		// Each has left the tracker; let it tell its client the exit status
		// before the connection is cut (else the client sees none).
		sessions.waitExited(exitGrace)
	}
	left := sessions.Count()
	if err := s.srv.Close(); err != nil && !errors.Is(err, ssh.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("close connections: %w", err))
	}
	s.wg.Wait()
	// With their connections closed, the handlers return at once; a handler
	// that does not is a bug worth reporting, not waiting for.
	graceCtx, cancel := context.WithTimeout(context.Background(), handlerGrace)
	defer cancel()
	if err := sessions.waitEmpty(graceCtx); err != nil {
		errs = append(errs, fmt.Errorf("%d session handlers did not return after their connections closed", sessions.Count()))
	}
	if err := s.guard.wait(graceCtx); err != nil {
		errs = append(errs, errors.New("connections still open after they were closed"))
	}
	sessions.waitNotices()
	reg.Remove()
	if waitErr != nil {
		s.log.Warn("sessions still open at the shutdown deadline; closed", "sessions", left)
		errs = append(errs, fmt.Errorf("%d sessions still open at the deadline; closed: %w", left, waitErr))
	}
	return errors.Join(errs...)
}

// Close stops the server at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Shutdown(ctx)
}

// Stats are the shell's counters since start, for the status model.
type Stats struct {
	LoginsOK         uint64 `json:"logins_ok"`
	LoginsFailed     uint64 `json:"logins_failed"`
	RefusedLockedOut uint64 `json:"refused_locked_out"`
	RefusedBusy      uint64 `json:"refused_busy"` // refused, dropped from the queue or evicted for room
	Evicted          uint64 `json:"evicted"`      // of those, slot holders closed to make room
	LockedOutAddrs   int    `json:"locked_out_addresses"`
}

// Stats reports logins and refusals (open sessions are in the Sessions tracker).
// Locked addresses count whichever login path locked them: they are locked here too.
func (s *Server) Stats() Stats {
	ls := s.cfg.Lockout.Stats()
	svc := ls.Services[lockoutService]
	return Stats{
		LoginsOK: s.guard.loginsOK.Load(), LoginsFailed: svc.Failed,
		RefusedLockedOut: svc.Refused, RefusedBusy: s.guard.refusedBusy.Load(), Evicted: s.guard.evicted.Load(),
		LockedOutAddrs: ls.Locked,
	}
}

// The shell's fields (ferry_shell_*).
var (
	shellListen   = status.NewInfo("listen", "Address the SSH shell listens on")
	shellSessions = status.NewGauge("sessions", "", "Open shell sessions")
	shellLogins   = status.NewCounter("logins_total", "SSH logins by result (failed: wrong passwords)", "result")
	shellRefused  = status.NewCounter("refused_total", "SSH connections or attempts refused, by reason (busy: refused, dropped from the queue or evicted for room)", "reason")
	shellEvicted  = status.NewCounter("evicted_total", "Unauthenticated connections closed to make room for others")
)

func (s *Server) statusFields() []status.Field {
	st := s.Stats()
	listen := ""
	if a := s.Addr(); a != nil {
		listen = a.String()
	}
	return []status.Field{
		shellListen.Field(listen), shellSessions.Field(s.cfg.Sessions.Count()),
		shellLogins.Field(st.LoginsOK, "ok"), shellLogins.Field(st.LoginsFailed, "failed"),
		shellRefused.Field(st.RefusedLockedOut, "locked_out"), shellRefused.Field(st.RefusedBusy, "busy"),
		shellEvicted.Field(st.Evicted),
	}
}

// lockoutService is the shell's label in the shared lockout's counters.
const lockoutService = "ssh"

// checkPassword checks a password, on a connection that holds its slot (the slot is not
// taken from it meanwhile). A locked-out source has its passwords refused like a wrong one,
// counted; its keys are checked as usual.
func (s *Server) checkPassword(ctx ssh.Context, password string) bool {
	end, ok := passwordAttempt(ctx)
	if !ok {
		return false // closed meanwhile: its slot has gone to another connection
	}
	defer end()
	lo := s.cfg.Lockout
	check, ok := lo.Begin(ctx, lockoutService, hostOf(ctx.RemoteAddr()))
	if !ok {
		lo.Refuse(lockoutService)
		return false
	}
	ok = s.cfg.Accounts.VerifyPassword(ctx.User(), password)
	check.End(ok)
	if !ok {
		s.log.Warn("login failed", "account", ctx.User(), "remote", ctx.RemoteAddr().String(), "method", "password")
	}
	return ok
}

// checkKey checks a public key whatever the lockout says: keys cannot be guessed, so a
// password lockout (say, behind a shared NAT) must not lock key holders out. Key attempts
// stay bounded by MaxAuthTries and the slots.
func (s *Server) checkKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if !keyAttempt(ctx) {
		return false
	}
	return s.cfg.Accounts.VerifyKey(ctx.User(), key)
}

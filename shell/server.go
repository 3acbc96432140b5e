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
)

// Limits bound what an unauthenticated client can cost the appliance.
type Limits struct {
	MaxAuthTries       int           // per connection
	LoginGrace         time.Duration // to finish authenticating
	FirstAttempt       time.Duration // to try a first method once a slot is given (idle sockets lose it)
	MaxUnauthenticated int           // concurrent connections not yet authenticated
	LockoutFailures    int           // failed passwords from one address...
	LockoutWindow      time.Duration // ...within this window...
	LockoutDuration    time.Duration // ...lock it for this long
}

// DefaultLimits are the appliance's brute-force limits.
var DefaultLimits = Limits{
	MaxAuthTries: 6, LoginGrace: 30 * time.Second, FirstAttempt: 10 * time.Second, MaxUnauthenticated: 32,
	LockoutFailures: 5, LockoutWindow: 10 * time.Minute, LockoutDuration: 10 * time.Minute,
}

// withDefaults fills every zero (or negative) field from DefaultLimits: a zero
// LockoutFailures, say, would otherwise admit no password check at all.
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
		LockoutFailures:    pickN(l.LockoutFailures, d.LockoutFailures),
		LockoutWindow:      pick(l.LockoutWindow, d.LockoutWindow), LockoutDuration: pick(l.LockoutDuration, d.LockoutDuration),
	}
}

// Config is everything the shell server needs; New checks it.
type Config struct {
	Addr      string
	HostKeys  []gossh.Signer
	Accounts  *accounts.Service
	Registry  *Registry
	Sessions  *Sessions
	Logger    *slog.Logger
	Limits    Limits
	Version   string
	BuildDate string
	Hostname  string
}

// Server is the SSH listener on 7022.
type Server struct {
	cfg   Config
	log   *slog.Logger
	guard *guard
	srv   *ssh.Server
	ln    net.Listener
	wg    sync.WaitGroup

	stopping atomic.Bool
}

// New validates cfg; it touches no socket.
func New(cfg Config) (*Server, error) {
	switch {
	case len(cfg.HostKeys) == 0:
		return nil, errors.New("shell: no host keys")
	case cfg.Accounts == nil || cfg.Registry == nil || cfg.Sessions == nil:
		return nil, errors.New("shell: accounts, registry and sessions are required")
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
				MaxAuthTries: cfg.Limits.MaxAuthTries,
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
	for _, k := range cfg.HostKeys {
		s.srv.AddHostKey(k)
	}
	return s, nil
}

// Start binds the listener and returns the bind error, then serves in the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("shell listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
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

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, tells open sessions the appliance is going down,
// waits for them until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	// Stop accepting first, so no session starts while the open ones are told to end.
	s.stopping.Store(true)
	s.ln.Close()
	s.cfg.Sessions.closeAll("Ferry is shutting down; this session is closing.")
	// Sessions end as soon as their handlers see the cancellation; then the connections
	// (some clients keep an idle one open) are closed rather than waited for.
	err := s.cfg.Sessions.waitEmpty(ctx)
	if cerr := s.srv.Close(); err == nil && cerr != nil && !errors.Is(cerr, ssh.ErrServerClosed) {
		err = cerr
	}
	s.wg.Wait()
	if err != nil {
		s.log.Warn("sessions still open at shutdown deadline; closed", "sessions", s.cfg.Sessions.Count())
	}
	return nil
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
	RefusedBusy      uint64 `json:"refused_busy"`
	LockedOutAddrs   int    `json:"locked_out_addresses"`
}

// Stats reports logins and refusals (open sessions are in the Sessions tracker).
func (s *Server) Stats() Stats {
	g := s.guard
	return Stats{
		LoginsOK: g.loginsOK.Load(), LoginsFailed: g.loginsFailed.Load(),
		RefusedLockedOut: g.refusedLocked.Load(), RefusedBusy: g.refusedBusy.Load(),
		LockedOutAddrs: g.lockedCount(),
	}
}

func (s *Server) checkPassword(ctx ssh.Context, password string) bool {
	host := hostOf(ctx.RemoteAddr())
	// A connection accepted while its address was locked holds no global slot: it is
	// refused even if the lock lapses meanwhile, so checks never escape the global cap.
	if !holdsGlobalSlot(ctx) || !s.guard.beginCheck(host) {
		s.guard.refusedLocked.Add(1)
		s.guard.refuseLikeACheck()
		return false
	}
	start := time.Now()
	ok := s.cfg.Accounts.VerifyPassword(ctx.User(), password)
	s.guard.endCheck(host, ok, time.Since(start))
	if !ok {
		s.guard.loginsFailed.Add(1)
		s.log.Warn("login failed", "account", ctx.User(), "remote", ctx.RemoteAddr().String(), "method", "password")
	}
	return ok
}

func (s *Server) checkKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.guard.locked(hostOf(ctx.RemoteAddr())) {
		s.guard.refusedLocked.Add(1)
		return false
	}
	return s.cfg.Accounts.VerifyKey(ctx.User(), key)
}

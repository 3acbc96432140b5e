// Package console is Ferry's web face: the single-page console, its JSON API
// and the authentication in front of /metrics. The httpd bindings serve one of
// its contexts per port (webconsole, api, metrics).
//
// Everything but the login page and the assets it needs requires a Ferry
// account: a browser signs in with the login form and gets a server-side
// session; scripts and Prometheus send HTTP Basic. Passwords are checked
// through the shared lockout, so guesses over the web count against the same
// per-address budget as guesses over SSH. Sessions live in memory only: a
// restart signs everybody out, which is what an appliance reboot should do.
package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
)

// Accounts is the account service (accounts.Service satisfies it).
type Accounts interface {
	Lookup(name string) (accounts.Identity, error)
	VerifyPassword(name, password string) bool
}

// Lockout is the shared login lockout (*lockout.Lockout satisfies it).
type Lockout interface {
	Begin(ctx context.Context, service, src string) (*lockout.Check, bool)
	Refuse(service string)
}

// View is one read-only JSON document served at /api/<Name>.
type View struct {
	Name string
	Get  func() (any, error)
}

// Config is what the console is built from.
type Config struct {
	Accounts Accounts
	Lockout  Lockout
	Views    []View
	Metrics  http.Handler // Prometheus exposition, served at /metrics behind authentication
	Log      *slog.Logger // nil: slog.Default()
	Version  string
	Hostname string
	Now      func() time.Time // nil: time.Now; sessions expire by it
}

// ContextInfo names a context and what it serves, for httpd.contexts.
type ContextInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// The contexts, in the order httpd.contexts lists them.
var contexts = []ContextInfo{
	{Name: "webconsole", Description: "web console at / (login, dashboard), with /api/ and /metrics"},
	{Name: "api", Description: "JSON API at /api/ only (session or HTTP Basic)"},
	{Name: "metrics", Description: "Prometheus metrics at /metrics only (HTTP Basic)"},
}

// Contexts lists the contexts Handler serves.
func Contexts() []ContextInfo { return append([]ContextInfo(nil), contexts...) }

// loginService is the lockout's label for web logins (SSH's is "ssh").
const loginService = "web"

// sessionView is the reserved view name of /api/session.
const sessionView = "session"

var validView = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// Console serves the contexts. It starts no goroutine: sessions expire when
// they are next looked at, or when the table is full.
type Console struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	views    map[string]View
	names    []string // view names in Config order, for /api/
	sessions *sessionTable
	// loginKey signs the pre-login CSRF cookie's form twin; it is random per
	// process, like the sessions, so a restart only costs a reload of the form.
	loginKey  []byte
	origin    *http.CrossOriginProtection
	loginPage *template.Template
	assets    map[string]asset
	handlers  map[string]http.Handler
	closed    atomic.Bool
}

// New checks cfg; it starts nothing.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Accounts == nil:
		return nil, errors.New("console: no accounts service")
	case cfg.Lockout == nil:
		return nil, errors.New("console: no lockout")
	case cfg.Metrics == nil:
		return nil, errors.New("console: no metrics handler")
	}
	c := &Console{cfg: cfg, log: cfg.Log, now: cfg.Now, views: map[string]View{}, sessions: newSessionTable(maxSessions),
		loginKey: make([]byte, 32), origin: http.NewCrossOriginProtection()}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "console")
	if c.now == nil {
		c.now = time.Now
	}
	for _, v := range cfg.Views {
		switch {
		case !validView.MatchString(v.Name):
			return nil, fmt.Errorf("console: view %q: name must match %s", v.Name, validView)
		case v.Name == sessionView:
			return nil, fmt.Errorf("console: view %q: name is reserved for /api/session", v.Name)
		case v.Get == nil:
			return nil, fmt.Errorf("console: view %q: no Get", v.Name)
		}
		if _, dup := c.views[v.Name]; dup {
			return nil, fmt.Errorf("console: view %q: given twice", v.Name)
		}
		c.views[v.Name] = v
		c.names = append(c.names, v.Name)
	}
	rand.Read(c.loginKey) // never fails (crypto/rand aborts the process instead)
	var err error
	if c.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if c.loginPage, err = template.ParseFS(assetFS, "assets/login.html"); err != nil {
		return nil, fmt.Errorf("console: login page: %w", err)
	}
	c.handlers = map[string]http.Handler{
		"webconsole": c.secure(c.webconsoleMux()),
		"api":        c.secure(c.apiMux()),
		"metrics":    c.secure(c.metricsMux()),
	}
	return c, nil
}

// Handler returns the handler of the named context.
func (c *Console) Handler(context string) (http.Handler, error) {
	if h, ok := c.handlers[context]; ok {
		return h, nil
	}
	names := make([]string, len(contexts))
	for i, ci := range contexts {
		names[i] = ci.Name
	}
	return nil, fmt.Errorf("context %q: unknown (%s)", context, strings.Join(names, ", "))
}

// Close signs everybody out and makes every handler answer 503. It is
// idempotent; there is no goroutine to stop.
func (c *Console) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.sessions.clear()
}

// EndSessions signs out every session of account, for a caller that learns
// the account's password changed or the account was removed (a removed
// account's sessions also die at their next request). It reports how many
// sessions there were.
func (c *Console) EndSessions(account string) int { return c.sessions.removeAccount(account) }

// Stats are the console's figures.
type Stats struct {
	Sessions int    `json:"sessions"`         // live or not yet swept
	Evicted  uint64 `json:"sessions_evicted"` // pushed out of a full table
}

// Stats reports the console's figures.
func (c *Console) Stats() Stats { return c.sessions.stats() }

func (c *Console) webconsoleMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.serveIndex)
	mux.HandleFunc("GET /login", c.serveLoginPage)
	mux.HandleFunc("POST /login", c.serveLogin)
	mux.HandleFunc("POST /logout", c.serveLogout)
	mux.HandleFunc("GET /assets/{name}", c.serveAsset)
	mux.Handle("/api/", c.authenticated(c.serveAPI))
	mux.Handle("/metrics", c.authenticated(c.serveMetrics))
	return mux
}

func (c *Console) apiMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", c.authenticated(c.serveAPI))
	return mux
}

func (c *Console) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", c.authenticated(c.serveMetrics))
	return mux
}

func (c *Console) serveMetrics(w http.ResponseWriter, r *http.Request, _ principal) {
	c.cfg.Metrics.ServeHTTP(w, r)
}

// contentSecurityPolicy allows only the console's own files: no inline script
// or style, no frames, forms that post only back here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// secure sets the headers every response carries, and refuses what no context
// serves: cross-site state changes, and anything after Close.
func (c *Console) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Assets override it; everything else is about the live appliance.
		h.Set("Cache-Control", "no-store")
		if c.closed.Load() {
			c.fail(w, r, http.StatusServiceUnavailable, "console is shutting down")
			return
		}
		// Sec-Fetch-Site, else Origin against Host: a page elsewhere cannot
		// post a login form here, nor anything else.
		if err := c.origin.Check(r); err != nil {
			c.fail(w, r, http.StatusForbidden, "cross-origin request refused")
			return
		}
		next.ServeHTTP(w, r)
	})
}

var (
	_ Accounts = (*accounts.Service)(nil)
	_ Lockout  = (*lockout.Lockout)(nil)
)

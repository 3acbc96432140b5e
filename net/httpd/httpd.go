// Package httpd serves Ferry's HTTP bindings: one listener per port, each with
// a context (the console, the JSON API, /metrics), plain or TLS. Bindings are
// desired state in the confdb; Open and Close bring the listeners to it live,
// starting the new part before stopping the old. TLS material is looked up in
// the keystore registry at every handshake, so a re-registered alias takes
// effect on the next connection without reopening the port.
package httpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// Keys is the keystore registry as listeners use it (certs.Registry).
type Keys interface {
	Certificate(alias string) (*tls.Certificate, error)
	TrustPool(alias string) (*x509.CertPool, error)
}

// Contexts gives the handler of a named context (console.Console).
type Contexts interface {
	Handler(name string) (http.Handler, error)
	Describe() []ContextInfo
}

// RecordTable is where bindings persist (store.Table[store.Binding]).
type RecordTable interface {
	liveconf.Table[store.Binding]
	List() ([]store.Binding, map[string]error, error)
}

// Config is what the server is built from.
type Config struct {
	Records  RecordTable
	Keys     Keys
	Contexts Contexts
	Status   *status.Model
	Log      *slog.Logger
	// IdleTimeout closes keep-alive connections idle this long (default 2 minutes).
	IdleTimeout time.Duration
}

// Timeouts every binding uses: a slow or silent client cannot hold a
// connection (or a goroutine) for ever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	closeGrace        = 5 * time.Second
)

// Server owns every binding.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // serialises changes
	bindings map[int]*binding
	// view is a copy of bindings for readers (lists, status, the console):
	// they never wait for a change, which may be draining a listener.
	view   atomic.Pointer[[]*binding]
	reg    *status.Registration
	closed bool
}

// publish copies bindings into view, in port order. Callers hold mu.
func (s *Server) publish() {
	list := make([]*binding, 0, len(s.bindings))
	for _, b := range s.bindings {
		list = append(list, b)
	}
	slices.SortFunc(list, func(a, b *binding) int { return a.port - b.port })
	s.view.Store(&list)
}

func (s *Server) snapshot() []*binding {
	if v := s.view.Load(); v != nil {
		return *v
	}
	return nil
}

// New validates the configuration only.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Records == nil:
		return nil, errors.New("httpd: no record table")
	case cfg.Keys == nil:
		return nil, errors.New("httpd: no keystore registry")
	case cfg.Contexts == nil:
		return nil, errors.New("httpd: no contexts")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	return &Server{cfg: cfg, log: cfg.Log.With("component", "httpd"), bindings: map[int]*binding{}}, nil
}

// Start opens every stored binding. One that cannot open (a port taken, an
// alias gone) stays listed as failed: <reason>; the rest open.
func (s *Server) Start(ctx context.Context) error {
	recs, bad, err := s.cfg.Records.List()
	if err != nil {
		return fmt.Errorf("httpd: %w", err)
	}
	if s.cfg.Status != nil {
		if s.reg, err = s.cfg.Status.Register("httpd", nil, s.fields); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publish()
	for _, rec := range recs {
		b := s.newBinding(rec)
		if err := b.open(); err != nil {
			s.log.Error("binding failed", "port", rec.Port, "err", err)
		}
		s.bindings[rec.Port] = b
	}
	for key, err := range bad {
		port, _ := strconv.Atoi(key)
		b := s.newBinding(store.Binding{Port: port})
		b.fail(err)
		s.bindings[port] = b
		s.log.Error("binding record damaged", "port", key, "err", err)
	}
	return nil
}

// Shutdown closes every listener and waits for requests in flight until ctx
// ends, then closes their connections. Idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.reg.Remove()
	var errs []error
	for _, b := range s.bindings {
		if err := b.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Addrs lists the open listeners ("https:8443" -> the bound address) for the ready file.
func (s *Server) Addrs() map[string]string {
	out := map[string]string{}
	for _, b := range s.snapshot() {
		if addr := b.addr(); addr != "" {
			out[b.scheme()+":"+strconv.Itoa(b.port)] = addr
		}
	}
	return out
}

// Spec is what httpd.open and httpd.openSsl ask for.
type Spec struct {
	Port    int
	Bind    string // "" is every address
	Context string
	Key     string // "" is plain HTTP
	Trust   string // requires client certificates signed by it
	// KeepFailed keeps a new binding that cannot listen as failed instead of
	// refusing it (the first-boot batch; see liveconf.KeepFailed).
	KeepFailed bool
}

// Check validates spec against what is registered now, changing nothing.
func (s *Server) Check(spec Spec) error {
	if spec.Port < 1 || spec.Port > 65535 {
		return fmt.Errorf("port %d: must be 1-65535", spec.Port)
	}
	if spec.Bind != "" {
		if _, err := netip.ParseAddr(spec.Bind); err != nil {
			return fmt.Errorf("bind address %q: give an IP address", spec.Bind)
		}
	}
	if _, err := s.cfg.Contexts.Handler(spec.Context); err != nil {
		return err
	}
	if spec.Trust != "" && spec.Key == "" {
		return errors.New("a trust alias needs a key alias (client certificates need TLS)")
	}
	if spec.Key != "" {
		if _, err := s.cfg.Keys.Certificate(spec.Key); err != nil {
			return fmt.Errorf("key alias: %w", err)
		}
	}
	if spec.Trust != "" {
		if _, err := s.cfg.Keys.TrustPool(spec.Trust); err != nil {
			return fmt.Errorf("trust alias: %w", err)
		}
	}
	return nil
}

// Open opens the binding spec describes, or changes the one on its port: on
// the same address the listener stays and the new context and certificates
// take effect on the next request and handshake; on another address the new
// listener replaces the old. If it cannot open, the old binding keeps serving
// and nothing is saved. It returns the binding as it now is, and what it replaced.
func (s *Server) Open(spec Spec) (Info, *Info, error) {
	if err := s.Check(spec); err != nil {
		return Info{}, nil, err
	}
	rec := store.Binding{Port: spec.Port, Bind: spec.Bind, Context: spec.Context, Key: spec.Key, Trust: spec.Trust, Opened: time.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Info{}, nil, errors.New("httpd: shutting down")
	}
	old := s.bindings[spec.Port]
	var replaced *Info
	if old != nil {
		in := old.info()
		replaced = &in
	}
	_, err := liveconf.Commit(s.cfg.Records, s.log, store.BindingKey(spec.Port), &rec, func(_, _ *store.Binding) error {
		return s.apply(old, rec, spec.KeepFailed)
	})
	s.publish()
	if err != nil {
		return Info{}, nil, fmt.Errorf("port %d: %w", spec.Port, err)
	}
	s.log.Info("binding opened", "port", spec.Port, "bind", spec.Bind, "context", spec.Context, "key", spec.Key, "trust", spec.Trust)
	return s.bindings[spec.Port].info(), replaced, nil
}

// apply brings the port from old to rec. Callers hold mu.
func (s *Server) apply(old *binding, rec store.Binding, keepFailed bool) error {
	if old != nil && old.listening() && old.bind == rec.Bind {
		return old.reconfigure(rec) // the same socket: swap what it serves
	}
	b := s.newBinding(rec)
	if old != nil && old.listening() {
		// Another address on the same port: the kernel will not bind both, so
		// the old one steps aside and comes back if the new one fails. Only
		// then is the new one checked against the registry and listened on.
		if _, err := b.resolve(rec); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		old.close(ctx)
		cancel()
		if err := b.open(); err != nil {
			if rerr := old.open(); rerr != nil {
				s.log.Error("binding not restored", "port", rec.Port, "err", rerr)
			}
			return err
		}
	} else if err := b.open(); err != nil {
		if !keepFailed || old != nil {
			return err
		}
		s.log.Error("binding failed; kept as configured", "port", rec.Port, "err", err)
	}
	s.bindings[rec.Port] = b
	return nil
}

// Close closes the binding on port and forgets it.
func (s *Server) Close(port int) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bindings[port]
	if b == nil {
		return Info{}, fmt.Errorf("port %d: no binding (httpd.bindings lists them)", port)
	}
	_, err := liveconf.Commit(s.cfg.Records, s.log, store.BindingKey(port), nil, func(_, _ *store.Binding) error {
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		b.close(ctx)
		delete(s.bindings, port)
		return nil
	})
	s.publish()
	if err != nil {
		return Info{}, fmt.Errorf("port %d: %w", port, err)
	}
	s.log.Info("binding closed", "port", port)
	in := b.info()
	in.State = "closed"
	return in, nil
}

// Retry opens the failed bindings that use alias, once it is registered again.
func (s *Server) Retry(alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, b := range s.bindings {
		if rec := b.rec(); b.listening() || (rec.Key != alias && rec.Trust != alias) {
			continue
		}
		if err := b.open(); err == nil {
			s.log.Info("binding opened after its keystore was registered", "port", b.port, "alias", alias)
		}
	}
}

// UsersOf lists the ports whose bindings use alias as key or trust.
func (s *Server) UsersOf(alias string) []string {
	var out []string
	for _, in := range s.List() {
		if in.Key == alias || in.Trust == alias {
			out = append(out, strconv.Itoa(in.Port))
		}
	}
	return out
}

// List describes every binding, by port.
func (s *Server) List() []Info {
	list := s.snapshot()
	out := make([]Info, 0, len(list))
	for _, b := range list {
		out = append(out, b.info())
	}
	return out
}

// listenError turns a bind failure into the line an operator acts on.
func listenError(port int, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("port %d: address already in use", port)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("port %d: permission denied (run as root or grant CAP_NET_BIND_SERVICE)", port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("port %d: the bind address is not on this host", port)
	}
	return fmt.Errorf("port %d: %w", port, err)
}

func hostPort(bind string, port int) string { return net.JoinHostPort(bind, strconv.Itoa(port)) }

// The httpd section's fields (ferry_httpd_*).
var (
	httpUp        = status.NewGauge("up", "", "1 if the binding is listening", "listener")
	httpRequests  = status.NewCounter("requests_total", "HTTP requests served", "listener")
	httpHandshake = status.NewCounter("tls_handshake_errors_total", "TLS handshakes that failed (no client certificate, an unknown CA, a protocol too old)", "listener")
)

// fields reports each binding under listener="<address>:<port>", as httpd.bindings shows it.
func (s *Server) fields() []status.Field {
	var out []status.Field
	for _, b := range s.snapshot() {
		l := b.info().Address
		out = append(out, httpUp.Field(b.listening(), l),
			httpRequests.Field(b.stats.requests.Load(), l),
			httpHandshake.Field(b.stats.handshakeErrors.Load(), l))
	}
	return out
}

// ContextInfo names a context and what it serves, for httpd.contexts.
type ContextInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Contexts lists what a binding can serve.
func (s *Server) Contexts() []ContextInfo { return s.cfg.Contexts.Describe() }

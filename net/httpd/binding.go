package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ferry-appliance/ferry/store"
)

// binding is one port: its record, its listener, and what it serves, which
// can change under a running listener.
type binding struct {
	s   *Server
	rec store.Binding

	serving atomic.Pointer[served]
	// lastCert and lastPool are the material of the last handshake, served on
	// when the alias is unregistered (the guide unregisters, then registers).
	lastCert atomic.Pointer[tls.Certificate]
	lastPool atomic.Pointer[x509.CertPool]
	built    atomic.Pointer[builtConfig]
	stats    struct{ requests, handshakeErrors atomic.Uint64 }

	mu    sync.Mutex
	ln    net.Listener
	srv   *http.Server
	done  chan struct{} // closed when Serve returns
	state error         // why it is not listening; nil while it is
}

// served is what the binding hands a request or a handshake.
type served struct {
	handler    http.Handler
	key, trust string
	context    string
}

func (s *Server) newBinding(rec store.Binding) *binding {
	return &binding{s: s, rec: rec, state: errors.New("not opened")}
}

func (b *binding) fail(err error) {
	b.mu.Lock()
	b.state = err
	b.mu.Unlock()
}

// resolve builds what rec serves; it fails on an unknown context.
func (b *binding) resolve(rec store.Binding) (*served, error) {
	h, err := b.s.cfg.Contexts.Handler(rec.Context)
	if err != nil {
		return nil, err
	}
	return &served{handler: h, key: rec.Key, trust: rec.Trust, context: rec.Context}, nil
}

// open binds the port and starts serving. A binding whose key or trust alias
// does not resolve now does not listen: a listener that fails every handshake
// is worse than one that is visibly failed.
func (b *binding) open() error {
	err := b.start()
	b.fail(err)
	return err
}

func (b *binding) start() error {
	sv, err := b.resolve(b.rec)
	if err != nil {
		return err
	}
	if sv.key != "" {
		if _, err := b.certificate(sv.key); err != nil {
			return fmt.Errorf("key alias: %w", err)
		}
	}
	if sv.trust != "" {
		if _, err := b.pool(sv.trust); err != nil {
			return fmt.Errorf("trust alias: %w", err)
		}
	}
	ln, err := net.Listen("tcp", hostPort(b.rec.Bind, b.rec.Port))
	if err != nil {
		return listenError(b.rec.Port, err)
	}
	b.serving.Store(sv)
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       b.s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(&errorLog{b: b}, "", 0),
	}
	if b.rec.Key != "" {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: b.configForClient})
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.ln, b.srv, b.done = ln, srv, done
	b.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(ln) // returns when closed
	}()
	b.s.log.Info("listening", "port", b.rec.Port, "addr", ln.Addr().String(), "tls", b.rec.Key != "", "context", b.rec.Context)
	return nil
}

// reconfigure swaps what a listening binding serves, keeping its socket.
func (b *binding) reconfigure(rec store.Binding) error {
	if (rec.Key == "") != (b.rec.Key == "") {
		// TLS on or off changes the listener itself: reopen it.
		b.close(context.Background())
		old := b.rec
		b.rec = rec
		if err := b.open(); err != nil {
			b.rec = old
			if rerr := b.open(); rerr != nil {
				b.s.log.Error("binding not restored", "port", rec.Port, "err", rerr)
			}
			return err
		}
		return nil
	}
	sv, err := b.resolve(rec)
	if err != nil {
		return err
	}
	b.rec = rec
	// Prime the last good material with the new aliases' (Check resolved them).
	b.lastCert.Store(nil)
	b.lastPool.Store(nil)
	if rec.Key != "" {
		b.certificate(rec.Key)
	}
	if rec.Trust != "" {
		b.pool(rec.Trust)
	}
	b.serving.Store(sv)
	return nil
}

// reopen listens again with the record it had.
func (b *binding) reopen() error { return b.open() }

// close stops the listener and waits for requests in flight until ctx ends.
func (b *binding) close(ctx context.Context) error {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.ln, b.srv, b.done = nil, nil, nil
	b.state = errors.New("closed")
	b.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close() // the deadline passed: cut what is left
	}
	<-done
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // cut at the deadline, as asked
	}
	if err != nil {
		return fmt.Errorf("port %d: %w", b.rec.Port, err)
	}
	return nil
}

func (b *binding) listening() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ln != nil
}

func (b *binding) addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

func (b *binding) scheme() string {
	if b.rec.Key != "" {
		return "https"
	}
	return "http"
}

func (b *binding) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b.stats.requests.Add(1)
	b.serving.Load().handler.ServeHTTP(w, r)
}

// configForClient looks the certificates up at handshake time. The config
// built for them is kept until the registry hands out other material, so a
// handshake costs a map lookup, not a new tls.Config (and its session ticket keys).
func (b *binding) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	sv := b.serving.Load()
	cert, err := b.certificate(sv.key)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if sv.trust != "" {
		if pool, err = b.pool(sv.trust); err != nil {
			return nil, err
		}
	}
	if c := b.built.Load(); c != nil && c.cert == cert && c.pool == pool {
		return c.cfg, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}}
	if pool != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	b.built.Store(&builtConfig{cert: cert, pool: pool, cfg: cfg})
	return cfg, nil
}

// builtConfig is the tls.Config made for one certificate and trust pool.
type builtConfig struct {
	cert *tls.Certificate
	pool *x509.CertPool
	cfg  *tls.Config
}

// certificate is alias's key pair now, or the last one served if the alias
// has been unregistered since.
func (b *binding) certificate(alias string) (*tls.Certificate, error) {
	cert, err := b.s.cfg.Keys.Certificate(alias)
	if err == nil {
		b.lastCert.Store(cert)
		return cert, nil
	}
	if last := b.lastCert.Load(); last != nil {
		return last, nil
	}
	return nil, err
}

func (b *binding) pool(alias string) (*x509.CertPool, error) {
	pool, err := b.s.cfg.Keys.TrustPool(alias)
	if err == nil {
		b.lastPool.Store(pool)
		return pool, nil
	}
	if last := b.lastPool.Load(); last != nil {
		return last, nil
	}
	return nil, err
}

// Info describes a binding for httpd.bindings and the console.
type Info struct {
	Port    int    `json:"port"`
	Address string `json:"address"` // what it binds, 0.0.0.0:8443 for every address
	TLS     bool   `json:"tls"`
	Key     string `json:"key"`
	Trust   string `json:"trust"`
	Context string `json:"context"`
	State   string `json:"state"` // opened, or failed: <reason>
	// Note says when it serves the last good material of an alias that is no
	// longer registered.
	Note        string `json:"note,omitempty"`
	IdleTimeout int    `json:"idle_timeout_seconds"`
}

func (b *binding) info() Info {
	bind := b.rec.Bind
	if bind == "" {
		bind = "0.0.0.0"
	}
	in := Info{Port: b.rec.Port, Address: hostPort(bind, b.rec.Port), TLS: b.rec.Key != "", Key: b.rec.Key, Trust: b.rec.Trust,
		Context: b.rec.Context, State: "opened", IdleTimeout: int(b.s.cfg.IdleTimeout.Seconds())}
	b.mu.Lock()
	state := b.state
	b.mu.Unlock()
	if state != nil {
		in.State = "failed: " + state.Error()
		return in
	}
	var notes []string
	if in.Key != "" {
		if _, err := b.s.cfg.Keys.Certificate(in.Key); err != nil && b.lastCert.Load() != nil {
			notes = append(notes, fmt.Sprintf("key %s: %v; serving the last good certificate until it is registered again", in.Key, errors.Unwrap(err)))
		}
	}
	if in.Trust != "" {
		if _, err := b.s.cfg.Keys.TrustPool(in.Trust); err != nil && b.lastPool.Load() != nil {
			notes = append(notes, fmt.Sprintf("trust %s: %v; verifying with the last good certificates until it is registered again", in.Trust, errors.Unwrap(err)))
		}
	}
	for i, n := range notes {
		if i > 0 {
			in.Note += "; "
		}
		in.Note += n
	}
	return in
}

// errorLog takes net/http's error lines: TLS handshake failures are counted
// and logged at debug (a scanner makes many), the rest logged as warnings.
type errorLog struct{ b *binding }

func (e *errorLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if bytes.Contains(p, []byte("TLS handshake error")) {
		e.b.stats.handshakeErrors.Add(1)
		e.b.s.log.Debug(line, "port", strconv.Itoa(e.b.rec.Port))
		return len(p), nil
	}
	e.b.s.log.Warn(line, "port", e.b.rec.Port)
	return len(p), nil
}

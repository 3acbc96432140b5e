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

// binding is one port on one address: its socket, and what it serves, which
// can change under the running socket (context, TLS on or off, certificates).
type binding struct {
	s    *Server
	port int
	bind string // the socket's address; "" is every address

	serving atomic.Pointer[served]
	built   atomic.Pointer[builtConfig]
	stats   struct{ requests, handshakeErrors atomic.Uint64 }
	tlsBase *tls.Config // looks the certificates up per handshake

	mu    sync.Mutex
	ln    net.Listener
	srv   *http.Server
	done  chan struct{} // closed when Serve returns
	state error         // why it is not listening; nil while it is
}

// served is what the binding hands a connection, a handshake or a request.
// It is replaced whole, so a handshake sees one record's aliases and the last
// good material of exactly those aliases.
type served struct {
	rec     store.Binding
	handler http.Handler // nil until resolved
	// lastCert and lastPool are the aliases' last good material, served on
	// when an alias is unregistered (the guide unregisters, then registers).
	lastCert atomic.Pointer[tls.Certificate]
	lastPool atomic.Pointer[x509.CertPool]
}

func (s *Server) newBinding(rec store.Binding) *binding {
	b := &binding{s: s, port: rec.Port, bind: rec.Bind, state: errors.New("not opened")}
	b.tlsBase = &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: b.configForClient}
	b.serving.Store(&served{rec: rec})
	return b
}

func (b *binding) rec() store.Binding { return b.serving.Load().rec }

func (b *binding) fail(err error) {
	b.mu.Lock()
	b.state = err
	b.mu.Unlock()
}

// resolve builds what rec serves, checking its context and aliases now.
func (b *binding) resolve(rec store.Binding) (*served, error) {
	h, err := b.s.cfg.Contexts.Handler(rec.Context)
	if err != nil {
		return nil, err
	}
	sv := &served{rec: rec, handler: h}
	if rec.Key != "" {
		cert, err := b.s.cfg.Keys.Certificate(rec.Key)
		if err != nil {
			return nil, fmt.Errorf("key alias: %w", err)
		}
		sv.lastCert.Store(cert)
	}
	if rec.Trust != "" {
		pool, err := b.s.cfg.Keys.TrustPool(rec.Trust)
		if err != nil {
			return nil, fmt.Errorf("trust alias: %w", err)
		}
		sv.lastPool.Store(pool)
	}
	return sv, nil
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
	sv, err := b.resolve(b.rec())
	if err != nil {
		return err
	}
	raw, err := net.Listen("tcp", hostPort(b.bind, b.port))
	if err != nil {
		return listenError(b.port, err)
	}
	b.serving.Store(sv)
	ln := &switchListener{Listener: raw, b: b}
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       b.s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(&errorLog{s: b.s, port: b.port, stats: &b.stats.handshakeErrors}, "", 0),
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.ln, b.srv, b.done = ln, srv, done
	b.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(ln) // returns when closed
	}()
	b.s.log.Info("listening", "port", b.port, "addr", raw.Addr().String(), "tls", sv.rec.Key != "", "context", sv.rec.Context)
	return nil
}

// switchListener hands each connection over plain or wrapped in TLS, as the
// binding's record says at accept time: turning TLS on or off keeps the socket.
type switchListener struct {
	net.Listener
	b *binding
}

func (l *switchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.b.rec().Key != "" {
		return tls.Server(c, l.b.tlsBase), nil // net/http runs the handshake
	}
	return c, nil
}

// reconfigure swaps what a listening binding serves, keeping its socket: the
// next connection, handshake and request see the new record.
func (b *binding) reconfigure(rec store.Binding) error {
	sv, err := b.resolve(rec)
	if err != nil {
		return err
	}
	b.serving.Store(sv)
	return nil
}

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
		return fmt.Errorf("port %d: %w", b.port, err)
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
	if b.rec().Key != "" {
		return "https"
	}
	return "http"
}

func (b *binding) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b.stats.requests.Add(1)
	if r.TLS == nil && b.rec().Key != "" {
		// Accepted plain just before TLS was turned on: never serve it in the clear.
		http.Error(w, "this port now serves TLS", http.StatusBadRequest)
		return
	}
	b.serving.Load().handler.ServeHTTP(w, r)
}

// configForClient looks the certificates up at handshake time. The config
// built for them is kept until the registry hands out other material, so a
// handshake costs a map lookup, not a new tls.Config (and its session ticket keys).
func (b *binding) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	sv := b.serving.Load()
	if sv.rec.Key == "" {
		return nil, errors.New("this port now serves plain HTTP")
	}
	cert, err := b.certificate(sv)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if sv.rec.Trust != "" {
		if pool, err = b.pool(sv); err != nil {
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

// certificate is the key alias's key pair now, or the last one served if the
// alias has been unregistered since.
func (b *binding) certificate(sv *served) (*tls.Certificate, error) {
	cert, err := b.s.cfg.Keys.Certificate(sv.rec.Key)
	if err == nil {
		sv.lastCert.Store(cert)
		return cert, nil
	}
	if last := sv.lastCert.Load(); last != nil {
		return last, nil
	}
	return nil, err
}

func (b *binding) pool(sv *served) (*x509.CertPool, error) {
	pool, err := b.s.cfg.Keys.TrustPool(sv.rec.Trust)
	if err == nil {
		sv.lastPool.Store(pool)
		return pool, nil
	}
	if last := sv.lastPool.Load(); last != nil {
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
	sv := b.serving.Load()
	rec := sv.rec
	bind := b.bind
	if bind == "" {
		bind = "0.0.0.0"
	}
	in := Info{Port: b.port, Address: hostPort(bind, b.port), TLS: rec.Key != "", Key: rec.Key, Trust: rec.Trust,
		Context: rec.Context, State: "opened", IdleTimeout: int(b.s.cfg.IdleTimeout.Seconds())}
	b.mu.Lock()
	state := b.state
	b.mu.Unlock()
	if state != nil {
		in.State = "failed: " + state.Error()
		return in
	}
	var notes []string
	if in.Key != "" {
		if _, err := b.s.cfg.Keys.Certificate(in.Key); err != nil && sv.lastCert.Load() != nil {
			notes = append(notes, fmt.Sprintf("key %s: %v; serving the last good certificate until it is registered again", in.Key, errors.Unwrap(err)))
		}
	}
	if in.Trust != "" {
		if _, err := b.s.cfg.Keys.TrustPool(in.Trust); err != nil && sv.lastPool.Load() != nil {
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
type errorLog struct {
	s     *Server
	port  int
	stats *atomic.Uint64
}

func (e *errorLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if bytes.Contains(p, []byte("TLS handshake error")) {
		e.stats.Add(1)
		e.s.log.Debug(line, "port", strconv.Itoa(e.port))
		return len(p), nil
	}
	e.s.log.Warn(line, "port", e.port)
	return len(p), nil
}

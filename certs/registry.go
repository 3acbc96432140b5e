package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// Registry errors the shell shows as they are.
var (
	ErrNotRegistered = errors.New("not registered")
	ErrNoLocalCA     = errors.New("no local CA")
)

// ExpiryWarning is how close to its expiry a certificate is marked and logged.
const ExpiryWarning = 30 * 24 * time.Hour

// RecordTable is where registrations persist (store.Table[store.Keystore]).
type RecordTable interface {
	liveconf.Table[store.Keystore]
	List() ([]store.Keystore, map[string]error, error)
}

// Sealer keeps keystore passwords sealed in the confdb (internal/secretbox).
type Sealer interface {
	SealFor(context string, plaintext []byte) (string, error)
	OpenFor(context, sealed string) ([]byte, error)
}

// FlagStore records that first boot created the local CA (the confdb's meta).
type FlagStore interface {
	Flag(name string) (time.Time, error)
	SetFlag(name string, at time.Time) error
}

// RegistryConfig is what the registry is built from.
type RegistryConfig struct {
	Records RecordTable
	Secrets Sealer
	Flags   FlagStore
	Status  *status.Model
	Log     *slog.Logger
	// CADir is where first boot creates the local CA (<data-dir>/ca/certs); "" creates none.
	CADir    string
	Hostname string
	Now      func() time.Time // nil: time.Now
}

// Registry is the keystore registry: aliases bound to keystore files, loaded
// and checked when registered, and looked up by listeners at every TLS
// handshake, so a re-registered alias takes effect on the next handshake.
type Registry struct {
	cfg RegistryConfig
	log *slog.Logger

	mu       sync.Mutex // serialises changes
	entries  atomic.Pointer[map[string]*entry]
	onChange []func(alias string)

	reg    *status.Registration
	warned map[string]time.Time // alias -> last expiry warning (expiry loop only)
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// entry is one registered alias: its record and what loading it gave.
type entry struct {
	rec  store.Keystore
	ks   *Keystore        // nil when it failed to load at boot
	err  error            // why it failed
	cert *tls.Certificate // its key pair, if it has one
	pool *x509.CertPool   // its trusted certificates, if any
}

// localCAFlag is the meta flag set once first boot created the local CA.
const localCAFlag = "local_ca_at"

// NewRegistry validates the configuration only.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	switch {
	case cfg.Records == nil:
		return nil, errors.New("keystores: no record table")
	case cfg.Secrets == nil:
		return nil, errors.New("keystores: no secret box")
	case cfg.CADir != "" && cfg.Flags == nil:
		return nil, errors.New("keystores: no flag store for the local CA")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{cfg: cfg, log: cfg.Log.With("component", "keystores"), warned: map[string]time.Time{}}
	r.entries.Store(&map[string]*entry{})
	return r, nil
}

// OnChange adds fn, called after an alias is registered (outside the
// registry's lock): a listener that failed for want of it retries.
// Call before Start.
func (r *Registry) OnChange(fn func(alias string)) { r.onChange = append(r.onChange, fn) }

// Start creates the local CA on first boot, loads every registered keystore
// (one that fails is kept as failed: <reason>, and the rest load), reports
// expiry into the status model and starts the daily expiry warning.
func (r *Registry) Start(ctx context.Context) error {
	if err := r.firstBoot(); err != nil {
		return err
	}
	recs, bad, err := r.cfg.Records.List()
	if err != nil {
		return fmt.Errorf("keystores: %w", err)
	}
	m := map[string]*entry{}
	for _, rec := range recs {
		e := r.load(rec)
		if e.err != nil {
			r.log.Error("keystore failed to load", "alias", rec.Alias, "path", rec.Path, "err", e.err)
		}
		m[rec.Alias] = e
	}
	for key, err := range bad {
		m[key] = &entry{rec: store.Keystore{Alias: key}, err: err}
		r.log.Error("keystore record damaged", "alias", key, "err", err)
	}
	r.entries.Store(&m)
	if r.cfg.Status != nil {
		if r.reg, err = r.cfg.Status.Register("certificate", nil, r.fields); err != nil {
			return err
		}
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.expiryLoop()
	return nil
}

// Shutdown stops the expiry loop and takes the status section out. Idempotent.
func (r *Registry) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
	r.reg.Remove()
	return nil
}

// firstBoot creates and registers the local CA once per confdb, and never
// again: an operator who unregistered the generated aliases (the guide's
// procedure) must not see them come back.
func (r *Registry) firstBoot() error {
	if r.cfg.CADir == "" {
		return nil
	}
	at, err := r.cfg.Flags.Flag(localCAFlag)
	if err != nil || !at.IsZero() {
		return err
	}
	now := r.cfg.Now()
	gens, err := CreateLocalCA(r.cfg.CADir, r.cfg.Hostname, now)
	if err != nil {
		return err
	}
	for _, g := range gens {
		sealed, err := r.cfg.Secrets.SealFor(sealContext(g.Alias), g.Password)
		if err != nil {
			return fmt.Errorf("keystore %q: seal password: %w", g.Alias, err)
		}
		rec := store.Keystore{Alias: g.Alias, Type: string(g.Type), Path: g.Path, Password: sealed, Registered: now.UTC()}
		if err := r.cfg.Records.Put(g.Alias, rec); err != nil {
			return fmt.Errorf("keystore %q: %w", g.Alias, err)
		}
	}
	r.log.Info("local CA created", "dir", r.cfg.CADir, "aliases", len(gens))
	return r.cfg.Flags.SetFlag(localCAFlag, now)
}

// sealContext binds a sealed password to its alias: copied onto another
// record, it does not open.
func sealContext(alias string) string { return "keystore/" + alias }

// load opens a stored registration.
func (r *Registry) load(rec store.Keystore) *entry {
	e := &entry{rec: rec}
	typ, err := ParseType(rec.Type)
	if err != nil {
		e.err = err
		return e
	}
	var pw []byte
	if rec.Password != "" {
		if pw, err = r.cfg.Secrets.OpenFor(sealContext(rec.Alias), rec.Password); err != nil {
			e.err = fmt.Errorf("its password cannot be unsealed (%w); register the alias again", err)
			return e
		}
	}
	ks, err := Load(rec.Path, typ, pw)
	if err != nil {
		e.err = err
		return e
	}
	e.setKeystore(ks)
	return e
}

func (e *entry) setKeystore(ks *Keystore) {
	e.ks = ks
	if kp, err := ks.KeyPair(); err == nil {
		c := kp.TLSCertificate()
		e.cert = &c
	}
	if pool, err := ks.TrustPool(); err == nil {
		e.pool = pool
	}
}

// aliasPattern is what an alias may be: keytool's aliases, shell-safe.
var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckAlias refuses an alias that is not 1-64 letters, digits, '.', '_' or '-'.
func CheckAlias(alias string) error {
	if !aliasPattern.MatchString(alias) {
		return fmt.Errorf("alias %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", alias)
	}
	return nil
}

// Check loads path as typ with password the way Register would, changing nothing.
func Check(path string, typ Type, password []byte) (*Keystore, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("keystore %q: give an absolute path (a session has no working directory)", path)
	}
	return Load(filepath.Clean(path), typ, password)
}

// Register binds alias to the keystore at path, loading and checking it first:
// what fails registers nothing. An alias that exists is replaced once the new
// material has loaded; replaced describes what it held.
func (r *Registry) Register(alias string, typ Type, path string, password []byte) (now Info, replaced *Info, err error) {
	if err := CheckAlias(alias); err != nil {
		return Info{}, nil, err
	}
	ks, err := Check(path, typ, password)
	if err != nil {
		return Info{}, nil, err
	}
	var sealed string
	if len(password) > 0 {
		if sealed, err = r.cfg.Secrets.SealFor(sealContext(alias), password); err != nil {
			return Info{}, nil, fmt.Errorf("keystore %q: seal password: %w", alias, err)
		}
	}
	e := &entry{rec: store.Keystore{Alias: alias, Type: string(typ), Path: ks.Path, Password: sealed, Registered: r.cfg.Now().UTC()}}
	e.setKeystore(ks)

	r.mu.Lock()
	old := r.current()[alias]
	if err := replaceable(old, e); err != nil {
		r.mu.Unlock()
		return Info{}, nil, fmt.Errorf("keystore %q: %w", alias, err)
	}
	_, err = liveconf.Commit(r.cfg.Records, r.log, alias, &e.rec, func(_, _ *store.Keystore) error {
		r.swap(alias, e) // a map swap: it cannot fail
		return nil
	})
	r.mu.Unlock()
	if err != nil {
		return Info{}, nil, fmt.Errorf("keystore %q: %w", alias, err)
	}
	r.changed(alias)
	now = r.info(e)
	if old != nil {
		o := r.info(old)
		replaced = &o
	}
	r.log.Info("keystore registered", "alias", alias, "type", typ, "path", ks.Path, "replaced", old != nil)
	return now, replaced, nil
}

// replaceable refuses to replace a key pair with a truststore, or trusted
// certificates with a key store: listeners using the alias would quietly keep
// the old material and fail at the next boot. Unregistering first says so.
func replaceable(old, next *entry) error {
	switch {
	case old == nil || old.ks == nil:
		return nil
	case old.cert != nil && next.cert == nil:
		return fmt.Errorf("%w: it holds a private key and the new file has none (keystore.unregister it first to change its kind)", ErrNoEntries)
	case old.pool != nil && next.pool == nil:
		return fmt.Errorf("%w: it holds trusted certificates and the new file has none (keystore.unregister it first to change its kind)", ErrNoEntries)
	}
	return nil
}

// Unregister removes alias. Listeners that use it keep the material they last
// served until it is registered again or they close.
func (r *Registry) Unregister(alias string) (Info, error) {
	r.mu.Lock()
	old := r.current()[alias]
	if old == nil {
		r.mu.Unlock()
		return Info{}, fmt.Errorf("keystore %q: %w", alias, ErrNotRegistered)
	}
	_, err := liveconf.Commit(r.cfg.Records, r.log, alias, nil, func(_, _ *store.Keystore) error {
		r.swap(alias, nil)
		return nil
	})
	r.mu.Unlock()
	if err != nil {
		return Info{}, fmt.Errorf("keystore %q: %w", alias, err)
	}
	r.log.Info("keystore unregistered", "alias", alias)
	return r.info(old), nil
}

func (r *Registry) current() map[string]*entry { return *r.entries.Load() }

// swap publishes a copy of the map with alias set to e (nil: removed). Callers hold mu.
func (r *Registry) swap(alias string, e *entry) {
	m := maps.Clone(r.current())
	if e == nil {
		delete(m, alias)
	} else {
		m[alias] = e
	}
	r.entries.Store(&m)
}

func (r *Registry) changed(alias string) {
	for _, fn := range r.onChange {
		fn(alias)
	}
}

// lookup is alias's loaded entry, or why there is none.
func (r *Registry) lookup(alias string) (*entry, error) {
	e := r.current()[alias]
	switch {
	case e == nil:
		return nil, fmt.Errorf("keystore %q: %w", alias, ErrNotRegistered)
	case e.err != nil:
		return nil, fmt.Errorf("keystore %q: failed: %w", alias, e.err)
	}
	return e, nil
}

// Certificate is alias's key pair for serving TLS, looked up at handshake time.
func (r *Registry) Certificate(alias string) (*tls.Certificate, error) {
	e, err := r.lookup(alias)
	if err == nil && e.cert == nil {
		err = fmt.Errorf("keystore %q: %w: it holds no private key", alias, ErrNoEntries)
	}
	if err != nil {
		return nil, err
	}
	return e.cert, nil
}

// TrustPool is alias's trusted certificates, for verifying peers.
func (r *Registry) TrustPool(alias string) (*x509.CertPool, error) {
	e, err := r.lookup(alias)
	if err == nil && e.pool == nil {
		err = fmt.Errorf("keystore %q: %w: it holds no trusted certificate", alias, ErrNoEntries)
	}
	if err != nil {
		return nil, err
	}
	return e.pool, nil
}

// LocalCA is the CA certs.issue signs with: the key pair under ferry-ca-key.
func (r *Registry) LocalCA() (*CA, error) {
	e := r.current()[AliasCAKey]
	if e == nil || e.ks == nil {
		why := "is not registered"
		if e != nil {
			why = "failed to load: " + e.err.Error()
		}
		return nil, fmt.Errorf("%w: alias %q %s (a node that uses another node's CA issues certificates there)", ErrNoLocalCA, AliasCAKey, why)
	}
	kp, err := e.ks.KeyPair()
	if err != nil {
		return nil, fmt.Errorf("%w: alias %q: %w", ErrNoLocalCA, AliasCAKey, err)
	}
	ca, err := CAFromBundle(kp.Bundle)
	if err != nil {
		return nil, fmt.Errorf("%w: alias %q: %w", ErrNoLocalCA, AliasCAKey, err)
	}
	return ca, nil
}

// Info describes one registered alias, for keystore.list and the console.
type Info struct {
	Alias    string    `json:"alias"`
	Type     string    `json:"type"`
	Path     string    `json:"path"`
	State    string    `json:"state"` // "ok" or "failed: <reason>"
	Subject  string    `json:"subject,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	DaysLeft int       `json:"days_left"`
	Expiry   string    `json:"expiry,omitempty"` // ok, soon (within 30 days) or expired
	Entries  int       `json:"entries"`
	UsedBy   []string  `json:"used_by,omitempty"` // filled by whoever knows the listeners
}

// List describes every alias, in alias order.
func (r *Registry) List() []Info {
	cur := r.current()
	out := make([]Info, 0, len(cur))
	for _, alias := range slices.Sorted(maps.Keys(cur)) {
		out = append(out, r.info(cur[alias]))
	}
	return out
}

// Show describes alias and every entry of its keystore.
func (r *Registry) Show(alias string) (Info, []EntrySummary, error) {
	e := r.current()[alias]
	if e == nil {
		return Info{}, nil, fmt.Errorf("keystore %q: %w", alias, ErrNotRegistered)
	}
	var entries []EntrySummary
	if e.ks != nil {
		entries = e.ks.Summary()
	}
	return r.info(e), entries, nil
}

// KeyCertificate is the certificate that speaks for a keystore: its key's
// certificate, or its first trusted certificate.
func (ks *Keystore) KeyCertificate() *x509.Certificate {
	if len(ks.Keys) > 0 {
		return ks.Keys[0].Cert
	}
	if len(ks.Trusted) > 0 {
		return ks.Trusted[0].Cert
	}
	return nil
}

func (r *Registry) info(e *entry) Info {
	in := Info{Alias: e.rec.Alias, Type: e.rec.Type, Path: e.rec.Path, State: "ok"}
	if e.err != nil {
		in.State = "failed: " + e.err.Error()
		return in
	}
	in.Entries = len(e.ks.Keys) + len(e.ks.Trusted)
	if c := e.ks.KeyCertificate(); c != nil {
		in.Subject, in.Issuer, in.NotAfter = c.Subject.String(), c.Issuer.String(), c.NotAfter.UTC()
		left := c.NotAfter.Sub(r.cfg.Now())
		in.DaysLeft = int(left.Hours() / 24)
		switch {
		case left <= 0:
			in.Expiry = "expired"
		case left <= ExpiryWarning:
			in.Expiry = "soon"
		default:
			in.Expiry = "ok"
		}
	}
	return in
}

// The certificate section's fields (ferry_certificate_*).
var (
	certExpiry = status.NewGauge("expiry_timestamp_seconds", "seconds", "When the alias's certificate expires (Unix time)", "alias")
	certValid  = status.NewGauge("valid", "", "1 if the alias loaded and its certificate has not expired", "alias")
)

func (r *Registry) fields() []status.Field {
	var out []status.Field
	for _, in := range r.List() {
		valid := in.State == "ok" && in.Expiry != "expired"
		out = append(out, certValid.Field(valid, in.Alias))
		if !in.NotAfter.IsZero() {
			out = append(out, certExpiry.Field(in.NotAfter.Unix(), in.Alias))
		}
	}
	return out
}

// expiryLoop logs each certificate within ExpiryWarning of its expiry once a day.
func (r *Registry) expiryLoop() {
	defer close(r.done)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		r.warnExpiry()
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

func (r *Registry) warnExpiry() {
	now := r.cfg.Now()
	for _, in := range r.List() {
		if in.Expiry != "soon" && in.Expiry != "expired" {
			continue
		}
		if last, ok := r.warned[in.Alias]; ok && now.Sub(last) < 24*time.Hour {
			continue
		}
		r.warned[in.Alias] = now
		msg := "certificate expires soon"
		if in.Expiry == "expired" {
			msg = "certificate has expired"
		}
		r.log.Warn(msg, "alias", in.Alias, "subject", in.Subject, "not_after", in.NotAfter.Format(time.RFC3339), "days_left", in.DaysLeft)
	}
}

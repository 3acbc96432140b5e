package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Keystore is a registered keystore: where its file is and how to open it.
// The key material itself stays in the file; the confdb holds only the record.
type Keystore struct {
	Alias string `json:"alias"`
	Type  string `json:"type"` // JKS, PKCS12 or PEM
	Path  string `json:"path"`
	// Password is sealed with <data-dir>/secret.key (internal/secretbox), so a
	// confdb backup alone does not reveal it; "" when the file needs none.
	// Export leaves it out.
	Password   string    `json:"password,omitempty"`
	Registered time.Time `json:"registered"`
}

// Binding is an HTTP listener the operator opened (httpd.open, httpd.openSsl).
type Binding struct {
	Port    int       `json:"port"`
	Bind    string    `json:"bind"` // "" is every address
	Context string    `json:"context"`
	Key     string    `json:"key,omitempty"`   // keystore alias of the server certificate; "" is plain HTTP
	Trust   string    `json:"trust,omitempty"` // keystore alias whose certificates sign the required client certificates
	Opened  time.Time `json:"opened"`
}

// Input is a receiver the operator opened (syslog.open, snmptrap.open).
type Input struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`  // syslog or snmptrap
	Proto   string `json:"proto"` // udp, tcp or tls (syslog)
	Bind    string `json:"bind,omitempty"`
	Port    int    `json:"port"`
	Charset string `json:"charset,omitempty"`
	Key     string `json:"key,omitempty"`   // tls: keystore alias of the server certificate
	Trust   string `json:"trust,omitempty"` // tls: alias whose certificates sign required client certificates
	Readers int    `json:"readers,omitempty"`
	RcvBuf  int    `json:"rcvbuf,omitempty"`
	MaxSize int    `json:"max_size,omitempty"`
	// Community is what an SNMP trap must carry (snmptrap; "" is public). It is
	// the agents' shared secret: confdb.export leaves it out.
	Community string    `json:"community,omitempty"`
	Opened    time.Time `json:"opened"`
}

// Output is a destination the operator added (forwarder.addOutput).
type Output struct {
	Name     string `json:"name"`
	Type     string `json:"type"`   // discard or file (more in later releases)
	Target   string `json:"target"` // file: the directory
	MaxSize  int64  `json:"max_size,omitempty"`
	Compress bool   `json:"compress,omitempty"`
	// The spool in front of it (<data-dir>/spool/<name>): Buffer bounds it in
	// bytes (0: the default); Memory replaces it with a bounded memory queue
	// (forwarder.addOutput --buffer 0). WhenFull is drop-oldest or block, Sync
	// always, interval or never ("" are the defaults); MaxAge 0 keeps
	// everything until it is delivered.
	Buffer   int64         `json:"buffer,omitempty"`
	Memory   bool          `json:"memory,omitempty"`
	WhenFull string        `json:"when_full,omitempty"`
	Sync     string        `json:"sync,omitempty"`
	MaxAge   time.Duration `json:"max_age,omitempty"`
	// Paused holds sending while the spool fills (forwarder.pause), across restarts.
	Paused bool `json:"paused,omitempty"`
	// base (forwarder.addBase, Target host:port) and pair (forwarder.addBasePair):
	// Key is the keystore alias of the certificate presented, Trust the alias
	// whose CA the base's certificate must come from; Members are a pair's two
	// bases (the same name twice for a single server). Sentry marks a base that
	// carries this node's own daemon and audit log (sentry.addBase).
	Key     string    `json:"key,omitempty"`
	Trust   string    `json:"trust,omitempty"`
	Members []string  `json:"members,omitempty"`
	Sentry  bool      `json:"sentry,omitempty"`
	Added   time.Time `json:"added"`
}

// Route sends an input's events ("*": every input without its own) to a destination.
type Route struct {
	Input       string    `json:"input"`
	Destination string    `json:"destination"`
	Added       time.Time `json:"added"`
}

// Filter keeps or drops an input's events ("*": every input) by an expression.
type Filter struct {
	Name   string    `json:"name"`
	Input  string    `json:"input"`
	Action string    `json:"action"` // keep or drop
	Expr   string    `json:"expr"`
	Added  time.Time `json:"added"`
}

// RouteKey is a route's key in its table.
func RouteKey(input, dest string) string { return input + "\x00" + dest }

// Table is one bucket of whole JSON records keyed by name: the typed record
// stores below are built on it, and internal/liveconf writes through it.
type Table[R any] struct {
	s      *Store
	bucket []byte
}

// Keystores is the table of registered keystores, keyed by alias.
func (s *Store) Keystores() Table[Keystore] { return Table[Keystore]{s: s, bucket: bucketKeystores} }

// Bindings is the table of HTTP bindings, keyed by port (decimal).
func (s *Store) Bindings() Table[Binding] { return Table[Binding]{s: s, bucket: bucketBindings} }

// Inputs is the table of receivers, keyed by name.
func (s *Store) Inputs() Table[Input] { return Table[Input]{s: s, bucket: bucketInputs} }

// Outputs is the table of destinations, keyed by name.
func (s *Store) Outputs() Table[Output] { return Table[Output]{s: s, bucket: bucketOutputs} }

// Routes is the table of routes, keyed by RouteKey.
func (s *Store) Routes() Table[Route] { return Table[Route]{s: s, bucket: bucketRoutes} }

// Filters is the table of filters, keyed by name.
func (s *Store) Filters() Table[Filter] { return Table[Filter]{s: s, bucket: bucketFilters} }

// BindingKey is a binding's key in its table.
func BindingKey(port int) string { return strconv.Itoa(port) }

// Get returns the record under key; ok is false when there is none.
func (t Table[R]) Get(key string) (r R, ok bool, err error) {
	err = t.s.db.View(func(tx *bolt.Tx) error {
		err := getJSON(tx.Bucket(t.bucket), key, &r)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		err = fmt.Errorf("%s %q: %w", t.bucket, key, err)
	}
	return r, ok, err
}

// Put writes the whole record under key, replacing any.
func (t Table[R]) Put(key string, r R) error {
	return t.s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(t.bucket), key, r) })
}

// Delete removes key's record; a missing record is not an error.
func (t Table[R]) Delete(key string) error {
	return t.s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(t.bucket).Delete([]byte(key)) })
}

// List returns every record, ordered by key. A record that does not decode is
// reported by key in bad and left out, so one damaged record cannot hide the rest.
func (t Table[R]) List() (records []R, bad map[string]error, err error) {
	type kv struct {
		k string
		v R
	}
	var all []kv
	err = t.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(t.bucket).ForEach(func(k, v []byte) error {
			var r R
			if err := json.Unmarshal(v, &r); err != nil {
				if bad == nil {
					bad = map[string]error{}
				}
				bad[string(k)] = fmt.Errorf("%s %q: %w: %v", t.bucket, k, ErrCorrupt, err)
				return nil
			}
			all = append(all, kv{string(k), r})
			return nil
		})
	})
	sort.Slice(all, func(i, j int) bool { return all[i].k < all[j].k })
	for _, e := range all {
		records = append(records, e.v)
	}
	return records, bad, err
}

// Flag reports when the meta flag name was set (zero if never): one-time
// actions such as creating the local CA record that they ran.
func (s *Store) Flag(name string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get([]byte(name))
		if raw == nil {
			return nil
		}
		var err error
		t, err = time.Parse(time.RFC3339, string(raw))
		return err
	})
	return t, err
}

// Settings are the node's named values in meta (not secret: exported).
const (
	SettingForwarderGUID = "forwarder_guid" // forwarder.setGuid: this node in relay hello
	SettingSentryGUID    = "sentry_guid"    // sentry.setGuid: the node its own log is sent as
)

var settings = map[string]bool{SettingForwarderGUID: true, SettingSentryGUID: true}

// Setting is a setting's value ("" when unset).
func (s *Store) Setting(name string) (string, error) {
	if !settings[name] {
		return "", fmt.Errorf("setting %q: not known", name)
	}
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(name)))
		return nil
	})
	return v, err
}

// SetSetting stores a setting.
func (s *Store) SetSetting(name, value string) error {
	if !settings[name] {
		return fmt.Errorf("setting %q: not known", name)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(name), []byte(value))
	})
}

// SetFlag sets the meta flag name to at.
func (s *Store) SetFlag(name string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(name), []byte(at.UTC().Format(time.RFC3339)))
	})
}

package outputs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/store"
)

type noKeys struct{}

func (noKeys) Certificate(string) (*tls.Certificate, error) {
	return nil, errors.New("no keystores here")
}
func (noKeys) TrustPool(string) (*x509.CertPool, error) { return nil, errors.New("no keystores here") }

// tables records the tables the manager publishes.
type tables struct {
	mu   sync.Mutex
	last *pipeline.Table
}

func (r *tables) SetTable(t *pipeline.Table) { r.mu.Lock(); r.last = t; r.mu.Unlock() }

// defaults names the destinations of inputs with no route.
func (r *tables) defaults() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.last.Routes["*"] {
		out = append(out, d.Name())
	}
	slices.Sort(out)
	return out
}

func newBaseManager(t *testing.T) (*Manager, *tables) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return managerOn(t, st, t.TempDir())
}

func managerOn(t *testing.T, st *store.Store, spoolDir string) (*Manager, *tables) {
	t.Helper()
	r := &tables{}
	id := func() relay.Identity { return relay.Identity{GUID: "edge", Name: "edge"} }
	m, err := New(Config{Outputs: st.Outputs(), Routes: st.Routes(), Filters: st.Filters(), Router: r, SpoolDir: spoolDir,
		Relay: RelayDeps{Keys: noKeys{}, Identity: id, Sentry: id}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m, r
}

// TestPairAtStart: a pair stored in the confdb comes back at start with its
// bases in it, whatever order the records are listed in.
func TestPairAtStart(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	spoolDir := t.TempDir()
	m, _ := managerOn(t, st, spoolDir)
	ctx := context.Background()
	// Named so that the pair sorts before its bases.
	for _, rec := range []store.Output{
		{Name: "z1", Type: "base", Target: "127.0.0.1:1", Key: "k", Trust: "t"},
		{Name: "z2", Type: "base", Target: "127.0.0.1:2", Key: "k", Trust: "t"},
		{Name: "a-pair", Type: "pair", Members: []string{"z1", "z2"}},
	} {
		if _, _, err := m.AddOutput(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	m.Shutdown(ctx)
	m2, r2 := managerOn(t, st, spoolDir)
	if s := state(m2, "a-pair"); s != "running" {
		t.Fatalf("the pair at start: %s", s)
	}
	if s := state(m2, "z1"); s != "in pair a-pair" {
		t.Fatalf("z1 at start: %s", s)
	}
	if got := r2.defaults(); !slices.Equal(got, []string{"a-pair"}) {
		t.Fatalf("at start, inputs with no route go to %v", got)
	}
}

func state(m *Manager, name string) string {
	for _, in := range m.Outputs() {
		if in.Name == name {
			return in.State
		}
	}
	return "absent"
}

// TestBasesAndPairs: bases take inputs with no route; a pair takes its
// bases' place; a base in a pair cannot be changed or removed alone;
// removing the pair gives the bases back their own traffic.
func TestBasesAndPairs(t *testing.T) {
	m, r := newBaseManager(t)
	ctx := context.Background()
	base := func(name, addr string) store.Output {
		return store.Output{Name: name, Type: "base", Target: addr, Key: "ferry-sentry", Trust: "ferry-ca", Buffer: 1 << 20}
	}
	for _, rec := range []store.Output{base("b1", "127.0.0.1:1"), base("b2", "127.0.0.1:2"),
		{Name: "sentry:s", Type: "base", Target: "127.0.0.1:3", Key: "k", Trust: "t", Sentry: true, Buffer: 1 << 20}} {
		if _, _, err := m.AddOutput(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.defaults(); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("inputs with no route go to %v, want the two bases (not the sentry base)", got)
	}
	if _, _, err := m.AddOutput(ctx, store.Output{Name: "p", Type: "pair", Members: []string{"b1", "b2"}}); err != nil {
		t.Fatal(err)
	}
	if got := r.defaults(); !slices.Equal(got, []string{"p"}) {
		t.Fatalf("with the pair, inputs with no route go to %v", got)
	}
	if s := state(m, "b1"); s != "in pair p" {
		t.Fatalf("b1: %s", s)
	}
	for _, tc := range []struct {
		what string
		err  error
		want string
	}{
		{"remove a member", m.RemoveOutput(ctx, "b1", false), `base "b1" is in pair "p"`},
		{"change a member", func() error { _, _, err := m.AddOutput(ctx, base("b1", "127.0.0.1:9")); return err }(), `base "b1" is in pair "p"`},
		{"pair a base twice", func() error {
			_, _, err := m.AddOutput(ctx, store.Output{Name: "q", Type: "pair", Members: []string{"b2", "b2"}})
			return err
		}(), `base "b2" is already in pair "p"`},
		{"pair a sentry base", func() error {
			_, _, err := m.AddOutput(ctx, store.Output{Name: "q", Type: "pair", Members: []string{"sentry:s", "sentry:s"}})
			return err
		}(), "is not a forwarder base"},
		{"a sentry base outside its namespace", func() error {
			_, _, err := m.AddOutput(ctx, store.Output{Name: "s2", Type: "base", Target: "127.0.0.1:4", Key: "k", Trust: "t", Sentry: true})
			return err
		}(), "not in the sentry namespace"},
		{"a base without a port", func() error { _, _, err := m.AddOutput(ctx, base("b3", "127.0.0.1")); return err }(), "use HOST PORT"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.what, tc.err, tc.want)
		}
	}
	if err := m.RemoveOutput(ctx, "p", false); err != nil {
		t.Fatal(err)
	}
	if got := r.defaults(); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("after the pair is removed, inputs with no route go to %v", got)
	}
	if s := state(m, "b1"); s != "running" {
		t.Fatalf("b1 after the pair: %s", s)
	}
	// An operator's own * route wins over the default.
	if _, _, err := m.AddOutput(ctx, store.Output{Name: "sink", Type: "discard"}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddRoute("*", "sink"); err != nil {
		t.Fatal(err)
	}
	if got := r.defaults(); !slices.Equal(got, []string{"sink"}) {
		t.Fatalf("with route * -> sink, inputs with no route go to %v", got)
	}
}

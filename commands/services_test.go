package commands

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/secretbox"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/httpd"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

type testHostKeys []gossh.PublicKey

func (k testHostKeys) PublicKeys() []gossh.PublicKey { return k }

// testServices are real services over a confdb in a temporary directory.
func testServices(t *testing.T) Services {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	box, _, err := secretbox.Open(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := certs.NewRegistry(certs.RegistryConfig{Records: st.Keystores(), Secrets: box, Flags: st,
		CADir: filepath.Join(dir, "ca", "certs"), Hostname: "test", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Shutdown(context.Background()) })
	web, err := httpd.New(httpd.Config{Records: st.Bindings(), Keys: keys, Contexts: noContexts{}})
	if err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New(1, nil)
	self := &outputs.Node{Settings: st, Host: "test"}
	dests, err := outputs.New(outputs.Config{Outputs: st.Outputs(), Routes: st.Routes(), Filters: st.Filters(), Router: pipe, SpoolDir: t.TempDir(),
		Relay: outputs.RelayDeps{Keys: keys, Identity: self.Identity, Sentry: self.SentryIdentity}})
	if err != nil {
		t.Fatal(err)
	}
	self.Dests = dests
	ins, err := inputs.New(inputs.Config{Records: st.Inputs(), Sink: pipe, Pool: event.NewPool(0, 0), Keys: keys,
		Router: pipe, RelayDir: t.TempDir(), Identity: self.Identity})
	if err != nil {
		t.Fatal(err)
	}
	return Services{
		Inputs: ins, Trace: pipe, Outputs: dests, Filters: dests, Spools: dests, Relay: self,
		Accounts: accounts.New(st), Lockouts: lockout.New(lockout.Config{}, nil, nil), Confdb: st.Operations(), Status: status.New(), Sessions: shell.NewSessions(),
		HostKeys: testHostKeys{sshPub}, LogPath: filepath.Join(dir, "ferry.log"), Keystores: keys, Bindings: web,
	}
}

// noContexts knows the context names and serves nothing: the command tests open no port.
type noContexts struct{}

func (noContexts) Handler(name string) (http.Handler, error) {
	if name == "webconsole" || name == "api" || name == "metrics" {
		return http.NotFoundHandler(), nil
	}
	return nil, fmt.Errorf("context %q: unknown (webconsole, api, metrics)", name)
}

func (noContexts) Describe() []httpd.ContextInfo {
	return []httpd.ContextInfo{{Name: "webconsole", Description: "the web console"}, {Name: "api", Description: "JSON API"}, {Name: "metrics", Description: "Prometheus"}}
}

func testTable(t *testing.T) *shell.Registry {
	t.Helper()
	reg, err := Build(testServices(t))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestMissingDependencyFailsAtBuild: a group whose service is missing fails when the
// table is built, naming the group and the service, never later as a nil.
func TestMissingDependencyFailsAtBuild(t *testing.T) {
	var nilStore *store.Store
	tests := []struct {
		name  string
		strip func(*Services)
		want  string
	}{
		{"accounts", func(s *Services) { s.Accounts = nil }, "account commands: account service: missing dependency"},
		{"lockouts", func(s *Services) { s.Lockouts = nil }, "account commands: lockout service"},
		{"typed nil accounts", func(s *Services) { s.Accounts = (*accounts.Service)(nil) }, "account commands: account service"},
		{"confdb", func(s *Services) { s.Confdb = nil }, "confdb commands: confdb service"},
		{"typed nil confdb", func(s *Services) { s.Confdb = nilStore }, "confdb commands: confdb service"},
		{"the raw store as confdb", func(s *Services) { s.Confdb = rawStore(t) }, "confdb commands: confdb service: is the store itself"},
		{"status", func(s *Services) { s.Status = nil }, "system commands: status model"},
		{"sessions", func(s *Services) { s.Sessions = nil }, "system commands: session list"},
		{"host keys", func(s *Services) { s.HostKeys = nil }, "system commands: host keys"},
		{"log path", func(s *Services) { s.LogPath = "" }, "logger commands: log path"},
		{"keystores", func(s *Services) { s.Keystores = nil }, "keystore commands: keystore registry"},
		{"bindings", func(s *Services) { s.Bindings = nil }, "keystore commands: binding list"},
		{"inputs", func(s *Services) { s.Inputs = nil }, "syslog commands: input service"},
		{"outputs", func(s *Services) { s.Outputs = nil }, "output commands: output service"},
		{"filters", func(s *Services) { s.Filters = nil }, "filter commands: filter service"},
		{"spools", func(s *Services) { s.Spools = nil }, "spool commands: spool service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := testServices(t)
			tc.strip(&svc)
			reg, err := Build(svc)
			if reg != nil || !errors.Is(err, errMissing) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, %v; want an error containing %q", reg, err, tc.want)
			}
		})
	}
}

// TestCommandsCannotReachTheStore: the command groups get narrow services only.
// Were any non-test file here to import the store or bbolt, a command could write
// records past the rules (the password policy, a live apply); this fails first.
func TestCommandsCannotReachTheStore(t *testing.T) {
	forbidden := map[string]bool{
		"github.com/ferry-appliance/ferry/store": true,
		"go.etcd.io/bbolt":                       true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] {
				t.Errorf("%s imports %s: give the group a narrow service instead", f, path)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files; the glob is wrong", checked)
	}
}

func rawStore(t *testing.T) *store.Store {
	st, err := store.Open(filepath.Join(t.TempDir(), "raw.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestUnlockTakesWhatLockoutsShows: an IPv6 source is listed as its /64, and
// account.unlock accepts that form as well as any address inside it.
func TestUnlockTakesWhatLockoutsShows(t *testing.T) {
	for _, arg := range []string{"2001:db8::/64", "2001:db8::1234"} {
		svc := testServices(t)
		logins := lockout.New(lockout.Config{Failures: 1}, nil, nil)
		svc.Lockouts = logins
		reg, err := Build(svc)
		if err != nil {
			t.Fatal(err)
		}
		check, ok := logins.Begin(context.Background(), "ssh", lockout.Source("[2001:db8::1]:22"))
		if !ok {
			t.Fatal("Begin refused")
		}
		check.End(false)
		var out bytes.Buffer
		admin := accounts.Identity{Name: "ada", Role: accounts.Admin}
		if err := reg.RunBatch(context.Background(), discard(), admin, strings.NewReader("account.lockouts\n"), &out); err != nil ||
			!strings.Contains(out.String(), "2001:db8::/64") {
			t.Fatalf("account.lockouts: %v\n%s", err, out.String())
		}
		out.Reset()
		if err := reg.RunBatch(context.Background(), discard(), admin, strings.NewReader("account.unlock "+arg+"\n"), &out); err != nil {
			t.Fatalf("account.unlock %s: %v", arg, err)
		}
		if len(logins.List()) != 0 {
			t.Errorf("account.unlock %s left %v", arg, logins.List())
		}
	}
}

package console

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/internal/testutil"
	"github.com/ferry-appliance/ferry/store"
)

// Passwords of the fixture accounts; each passes accounts.CheckPolicy.
const (
	rootPassword  = "harbour-lights-2026"
	opsPassword   = "tugboat-at-dawn-7"
	wrongPassword = "not-the-password-9"
)

// fixture is a console over a real confdb and account service, served by an
// httptest TLS server per context.
type fixture struct {
	t     *testing.T
	st    *store.Store
	acc   *accounts.Service
	lo    *lockout.Lockout
	clock *testutil.Clock
	logs  *testutil.Buffer
	con   *Console
	srv   map[string]*httptest.Server // by context
}

type fixtureOpt func(*fixture, *Config)

// newFixture starts a console with the accounts root (admin) and ops (viewer).
func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: testutil.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), logs: &testutil.Buffer{}}
	st, err := store.New(filepath.Join(t.TempDir(), "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st, f.acc = st, accounts.New(st)
	f.addAccount("root", accounts.Admin, rootPassword, false)
	f.addAccount("ops", accounts.Viewer, opsPassword, false)
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.lo = lockout.New(lockout.Config{Failures: 3, Window: time.Minute, Duration: time.Minute}, log, nil)
	cfg := Config{
		Accounts: f.acc, Lockout: f.lo, Log: log, Version: "v0.2.0+test", Hostname: "ferry-test-01", Now: f.clock.Now,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "ferry_system_uptime_seconds 12\n")
		}),
		Views: []View{
			{Name: "status", Get: func() (any, error) {
				return []map[string]any{{"section": "system", "labels": map[string]string{}, "fields": []any{}}}, nil
			}},
			{Name: "broken", Get: func() (any, error) { return nil, errBroken }},
		},
	}
	for _, o := range opts {
		o(f, &cfg)
	}
	f.con, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.con.Close)
	f.srv = map[string]*httptest.Server{}
	for _, ci := range Contexts() {
		h, err := f.con.Handler(ci.Name)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewTLSServer(h)
		t.Cleanup(srv.Close)
		f.srv[ci.Name] = srv
	}
	return f
}

var errBroken = &brokenError{}

type brokenError struct{}

func (*brokenError) Error() string { return "status model unavailable" }

// addAccount stores an account directly, hashed at bcrypt's minimum cost: a
// check at accounts' real cost takes about two seconds under -race.
func (f *fixture) addAccount(name string, role accounts.Role, password string, mustChange bool) {
	f.t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		f.t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := f.st.CreateAccount(store.Account{Name: name, Role: string(role), PasswordHash: string(h),
		MustChangePassword: mustChange, CreatedAt: now, PasswordChangedAt: now}); err != nil {
		f.t.Fatal(err)
	}
}

// request is one request to a context's server.
type request struct {
	context string // "" is webconsole
	method  string // "" is GET
	path    string
	form    url.Values
	header  map[string]string
	cookies []*http.Cookie
	basic   []string // account, password
}

type response struct {
	status int
	header http.Header
	body   string
	cookie map[string]*http.Cookie // Set-Cookie, by name
}

func (f *fixture) do(r request) response {
	f.t.Helper()
	ctx := r.context
	if ctx == "" {
		ctx = "webconsole"
	}
	srv := f.srv[ctx]
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req, err := http.NewRequest(method, srv.URL+r.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	if r.basic != nil {
		req.SetBasicAuth(r.basic[0], r.basic[1])
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	out := response{status: res.StatusCode, header: res.Header, body: string(b), cookie: map[string]*http.Cookie{}}
	for _, c := range res.Cookies() {
		out.cookie[c.Name] = c
	}
	return out
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginForm GETs the login page and returns its pre-login cookie and form token.
func (f *fixture) loginForm() (*http.Cookie, string) {
	f.t.Helper()
	res := f.do(request{path: "/login"})
	ck := res.cookie[loginCookie]
	m := csrfField.FindStringSubmatch(res.body)
	if res.status != http.StatusOK || ck == nil || m == nil {
		f.t.Fatalf("GET /login: %d, cookie %v, csrf field found %v", res.status, ck, m != nil)
	}
	return ck, m[1]
}

// postLogin submits the login form as a browser would.
func (f *fixture) postLogin(name, password string) response {
	f.t.Helper()
	ck, token := f.loginForm()
	return f.do(request{method: http.MethodPost, path: "/login", cookies: []*http.Cookie{ck},
		form: url.Values{"csrf": {token}, "account": {name}, "password": {password}}})
}

// login signs in and returns the session cookie and its CSRF token.
func (f *fixture) login(name, password string) (*http.Cookie, string) {
	f.t.Helper()
	res := f.postLogin(name, password)
	ck := res.cookie[sessionCookie]
	if res.status != http.StatusSeeOther || ck == nil {
		f.t.Fatalf("login %s: %d (session cookie %v)\n%s", name, res.status, ck, res.body)
	}
	info := f.session(ck)
	if info == nil {
		f.t.Fatalf("login %s: the new session is not accepted", name)
	}
	return ck, info.CSRF
}

// session returns /api/session for the cookie, or nil if it is refused.
func (f *fixture) session(ck *http.Cookie) *sessionInfo {
	f.t.Helper()
	res := f.do(request{path: "/api/session", cookies: []*http.Cookie{ck}})
	if res.status == http.StatusUnauthorized {
		return nil
	}
	var info sessionInfo
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &info) != nil {
		f.t.Fatalf("GET /api/session: %d %s", res.status, res.body)
	}
	return &info
}

// audits returns the audit records logged so far.
func (f *fixture) audits() []map[string]any {
	f.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			f.t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "audit" {
			out = append(out, rec)
		}
	}
	return out
}

// auditResults lists "command account result" of every audit record.
func (f *fixture) auditResults() []string {
	var out []string
	for _, rec := range f.audits() {
		out = append(out, strings.Join([]string{str(rec["command"]), str(rec["account"]), str(rec["result"])}, " "))
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// noPasswordsLogged fails if any fixture password appears in the log.
func (f *fixture) noPasswordsLogged() {
	f.t.Helper()
	logs := f.logs.String()
	for _, pw := range []string{rootPassword, opsPassword, wrongPassword} {
		if strings.Contains(logs, pw) {
			f.t.Errorf("the log contains a password:\n%s", logs)
		}
	}
}

// httptestServer is a plain-HTTP server for h, closed with the test.
func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

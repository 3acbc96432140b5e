package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/store"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	acc := accounts.New(nil) // never called: New only checks
	lo := lockout.New(lockout.Config{}, nil, nil)
	metrics := http.NotFoundHandler()
	get := func() (any, error) { return nil, nil }
	tests := []struct {
		name string
		cfg  Config
		want string // "" for no error
	}{
		{"ok", Config{Accounts: acc, Lockout: lo, Metrics: metrics, Views: []View{{"status", get}}}, ""},
		{"no accounts", Config{Lockout: lo, Metrics: metrics}, "no accounts service"},
		{"no lockout", Config{Accounts: acc, Metrics: metrics}, "no lockout"},
		{"no metrics", Config{Accounts: acc, Lockout: lo}, "no metrics handler"},
		{"bad view name", Config{Accounts: acc, Lockout: lo, Metrics: metrics, Views: []View{{"Status/x", get}}}, `view "Status/x": name must match`},
		{"reserved view", Config{Accounts: acc, Lockout: lo, Metrics: metrics, Views: []View{{"session", get}}}, `view "session": name is reserved`},
		{"nil get", Config{Accounts: acc, Lockout: lo, Metrics: metrics, Views: []View{{"status", nil}}}, `view "status": no Get`},
		{"duplicate view", Config{Accounts: acc, Lockout: lo, Metrics: metrics, Views: []View{{"status", get}, {"status", get}}}, `view "status": given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.want == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				c.Close() // idempotent
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestHandlerContexts(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Accounts: accounts.New(nil), Lockout: lockout.New(lockout.Config{}, nil, nil), Metrics: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ci := range Contexts() {
		names = append(names, ci.Name)
		if ci.Description == "" {
			t.Errorf("context %s has no description", ci.Name)
		}
		if h, err := c.Handler(ci.Name); h == nil || err != nil {
			t.Errorf("Handler(%q) = %v, %v", ci.Name, h, err)
		}
	}
	if want := []string{"webconsole", "api", "metrics"}; !slices.Equal(names, want) {
		t.Errorf("Contexts() = %v, want %v", names, want)
	}
	_, err = c.Handler("x")
	if err == nil || err.Error() != `context "x": unknown (webconsole, api, metrics)` {
		t.Errorf("Handler(x): %v", err)
	}
}

// TestContextPaths: each context serves its own paths and 404s the others.
func TestContextPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := []string{"root", rootPassword}
	tests := []struct {
		context, path string
		basic         []string
		want          int
	}{
		{"webconsole", "/", nil, http.StatusSeeOther},
		{"webconsole", "/login", nil, http.StatusOK},
		{"webconsole", "/assets/console.css", nil, http.StatusOK},
		{"webconsole", "/assets/console.js", nil, http.StatusUnauthorized}, // the dashboard is for signed-in browsers
		{"webconsole", "/assets/nope.js", nil, http.StatusNotFound},
		{"webconsole", "/assets/index.html", nil, http.StatusNotFound},
		{"webconsole", "/api/status", nil, http.StatusUnauthorized},
		{"webconsole", "/metrics", nil, http.StatusUnauthorized},
		{"webconsole", "/metrics", root, http.StatusOK},
		{"webconsole", "/elsewhere", nil, http.StatusNotFound},
		{"api", "/api/status", nil, http.StatusUnauthorized},
		{"api", "/api/status", root, http.StatusOK},
		{"api", "/", nil, http.StatusNotFound},
		{"api", "/login", nil, http.StatusNotFound},
		{"api", "/assets/console.css", nil, http.StatusNotFound},
		{"api", "/metrics", root, http.StatusNotFound},
		{"metrics", "/metrics", nil, http.StatusUnauthorized},
		{"metrics", "/metrics", root, http.StatusOK},
		{"metrics", "/", nil, http.StatusNotFound},
		{"metrics", "/login", nil, http.StatusNotFound},
		{"metrics", "/api/status", root, http.StatusNotFound},
	}
	for _, tt := range tests {
		res := f.do(request{context: tt.context, path: tt.path, basic: tt.basic})
		if res.status != tt.want {
			t.Errorf("%s %s (basic %v): %d, want %d", tt.context, tt.path, tt.basic != nil, res.status, tt.want)
		}
	}
	if res := f.do(request{context: "metrics", path: "/metrics", basic: root}); !strings.Contains(res.body, "ferry_system_uptime_seconds 12") {
		t.Errorf("/metrics body = %q, want the metrics handler's", res.body)
	}
	if res := f.do(request{path: "/"}); res.header.Get("Location") != "/login" {
		t.Errorf("/ without a session redirects to %q, want /login", res.header.Get("Location"))
	}
}

func TestLoginOK(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.postLogin("root", rootPassword)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
		t.Fatalf("login: %d Location %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	ck := res.cookie[sessionCookie]
	if ck == nil {
		t.Fatal("no session cookie")
	}
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("session cookie %s: want Secure, HttpOnly, SameSite=Strict, Path=/", ck)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(raw) != 32 {
		t.Errorf("session token %q: want 32 random bytes, base64url (%v)", ck.Value, err)
	}
	if pre := res.cookie[loginCookie]; pre == nil || pre.MaxAge >= 0 {
		t.Errorf("the pre-login cookie is not dropped at login: %v", pre)
	}

	page := f.do(request{path: "/", cookies: []*http.Cookie{ck}})
	if page.status != http.StatusOK || !strings.Contains(page.body, `<script src="/assets/console.js"`) {
		t.Errorf("GET / with the session: %d\n%s", page.status, page.body)
	}
	if again := f.do(request{path: "/login", cookies: []*http.Cookie{ck}}); again.status != http.StatusSeeOther || again.header.Get("Location") != "/" {
		t.Errorf("GET /login while signed in: %d %q, want 303 to /", again.status, again.header.Get("Location"))
	}

	raw := f.do(request{path: "/api/session", cookies: []*http.Cookie{ck}})
	var got map[string]any
	if err := json.Unmarshal([]byte(raw.body), &got); err != nil {
		t.Fatalf("/api/session: %v: %s", err, raw.body)
	}
	csrf, _ := got["csrf"].(string)
	if got["account"] != "root" || got["role"] != "admin" || got["version"] != "v0.2.0+test" ||
		got["hostname"] != "ferry-test-01" || len(csrf) != tokenLen || len(got) != 5 {
		t.Errorf("/api/session = %s", raw.body)
	}
	if csrf == ck.Value {
		t.Error("the CSRF token is the session token")
	}
	if got := f.auditResults(); !slices.Equal(got, []string{"web.login root ok"}) {
		t.Errorf("audit = %q", got)
	}
	rec := f.audits()[0]
	if rec["mode"] != "web" || !strings.HasPrefix(str(rec["remote"]), "127.0.0.1:") || rec["took_ms"] == nil {
		t.Errorf("audit record %v: want mode web, remote 127.0.0.1:port, took_ms", rec)
	}
	f.noPasswordsLogged()
}

func TestLoginWrongPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.postLogin("root", wrongPassword)
	if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `id="login-error"`) || !strings.Contains(res.body, "Sign-in failed") {
		t.Fatalf("wrong password: %d\n%s", res.status, res.body)
	}
	if res.cookie[sessionCookie] != nil {
		t.Error("a wrong password got a session cookie")
	}
	if strings.Contains(res.body, wrongPassword) {
		t.Error("the page echoes the password")
	}
	if !strings.Contains(res.body, `value="root"`) {
		t.Error("the account name is not kept in the form")
	}
	if got := f.auditResults(); !slices.Equal(got, []string{"web.login root failed"}) {
		t.Errorf("audit = %q", got)
	}
	// The account name is the client's: the page escapes it. (Rendered
	// directly: a login as an unknown account costs a full-cost bcrypt.)
	rec := httptest.NewRecorder()
	f.con.renderLogin(rec, httptest.NewRequest("GET", "/login", nil), http.StatusUnauthorized,
		loginData{Account: `"><img src=x onerror=alert(1)>`, Error: msgFailed})
	if body := rec.Body.String(); strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;img src=x") {
		t.Errorf("the account name is not escaped:\n%s", body)
	}
	f.noPasswordsLogged()
}

// TestLockout: web failures lock the source, which then cannot sign in even
// with the right password, over the form or with Basic; the SSH side of the
// same lockout sees the failures.
func TestLockout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for range 3 {
		if res := f.postLogin("root", wrongPassword); res.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", res.status)
		}
	}
	if !f.lo.Locked("127.0.0.1") {
		t.Fatal("three failures did not lock 127.0.0.1")
	}
	res := f.postLogin("root", rootPassword)
	if res.status != http.StatusUnauthorized || res.cookie[sessionCookie] != nil || !strings.Contains(res.body, "Sign-in failed") {
		t.Errorf("right password while locked out: %d (cookie %v)\n%s", res.status, res.cookie[sessionCookie], res.body)
	}
	basic := f.do(request{context: "api", path: "/api/status", basic: []string{"root", rootPassword}})
	if basic.status != http.StatusUnauthorized {
		t.Errorf("Basic while locked out: %d", basic.status)
	}
	want := []string{"web.login root failed", "web.login root failed", "web.login root failed",
		"web.login root locked out", "web.basic root locked out"}
	if got := f.auditResults(); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	if st := f.lo.Stats().Services["web"]; st.Failed != 3 || st.Refused != 2 {
		t.Errorf("lockout counters for web = %+v, want 3 failed, 2 refused", st)
	}
	f.noPasswordsLogged()
}

// TestLoginCSRF: the login POST needs the pre-login cookie and its form
// token, and is refused from another site.
func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ck, token := f.loginForm()
	other, otherToken := f.loginForm()
	if other.Value == ck.Value || otherToken == token {
		t.Fatal("two login forms got the same token")
	}
	if token == ck.Value {
		t.Error("the form token is the cookie's value: a planted cookie would be enough")
	}
	// A field that differs from the token in its first character (never equal to it).
	wrong := "x" + token[1:]
	if token[0] == 'x' {
		wrong = "y" + token[1:]
	}
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "account": {"root"}, "password": {rootPassword}}
	}
	host := strings.TrimPrefix(f.srv["webconsole"].URL, "https://")
	tests := []struct {
		name    string
		cookies []*http.Cookie
		form    url.Values
		header  map[string]string
		want    int
	}{
		{"no cookie", nil, form(token), nil, http.StatusForbidden},
		{"no field", []*http.Cookie{ck}, url.Values{"account": {"root"}, "password": {rootPassword}}, nil, http.StatusForbidden},
		{"wrong field", []*http.Cookie{ck}, form(wrong), nil, http.StatusForbidden},
		{"another form's field", []*http.Cookie{ck}, form(otherToken), nil, http.StatusForbidden},
		{"cookie value as field", []*http.Cookie{ck}, form(ck.Value), nil, http.StatusForbidden},
		{"cross-site origin", []*http.Cookie{ck}, form(token), map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", []*http.Cookie{ck}, form(token), map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch", []*http.Cookie{ck}, form(token), map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"same origin", []*http.Cookie{ck}, form(token), map[string]string{"Origin": "https://" + host, "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		res := f.do(request{method: http.MethodPost, path: "/login", cookies: tt.cookies, form: tt.form, header: tt.header})
		if res.status != tt.want {
			t.Errorf("%s: %d, want %d\n%s", tt.name, res.status, tt.want, res.body)
		}
		if (res.cookie[sessionCookie] != nil) != (tt.want == http.StatusSeeOther) {
			t.Errorf("%s: session cookie %v", tt.name, res.cookie[sessionCookie])
		}
	}
	// Refused before any password check: only the accepted attempt reached the lockout.
	if st := f.lo.Stats().Services["web"]; st.Failed != 0 {
		t.Errorf("refused forms were checked: %+v", st)
	}
	f.noPasswordsLogged()
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ck, csrf := f.login("ops", opsPassword)
	session := []*http.Cookie{ck}

	if res := f.do(request{path: "/logout", cookies: session}); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", res.status)
	}
	for _, tok := range []string{"", "wrong", ck.Value} {
		res := f.do(request{method: http.MethodPost, path: "/logout", cookies: session, header: map[string]string{csrfHeader: tok}})
		if res.status != http.StatusForbidden {
			t.Errorf("POST /logout with token %q: %d, want 403", tok, res.status)
		}
	}
	if f.session(ck) == nil {
		t.Fatal("a refused logout ended the session")
	}
	res := f.do(request{method: http.MethodPost, path: "/logout", cookies: session, header: map[string]string{csrfHeader: csrf}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Errorf("logout: %d %q", res.status, res.header.Get("Location"))
	}
	if c := res.cookie[sessionCookie]; c == nil || c.MaxAge >= 0 {
		t.Errorf("logout does not drop the cookie: %v", c)
	}
	if f.session(ck) != nil {
		t.Error("the session outlived its logout")
	}
	if got := f.auditResults(); !slices.Equal(got, []string{"web.login ops ok", "web.logout ops ok"}) {
		t.Errorf("audit = %q", got)
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	// Unauthenticated: 401 with a Basic challenge and a one-line body.
	for _, tt := range []struct{ context, path, ctype string }{
		{"api", "/api/status", "application/json"},
		{"webconsole", "/api/status", "application/json"},
		{"metrics", "/metrics", "text/plain; charset=utf-8"},
	} {
		res := f.do(request{context: tt.context, path: tt.path})
		if res.status != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != `Basic realm="Ferry"` ||
			res.header.Get("Content-Type") != tt.ctype || strings.Count(res.body, "\n") != 1 {
			t.Errorf("%s %s unauthenticated: %d %q %q %q", tt.context, tt.path, res.status,
				res.header.Get("WWW-Authenticate"), res.header.Get("Content-Type"), res.body)
		}
	}
	if res := f.do(request{path: "/api/status"}); res.body != `{"error":"authentication required"}`+"\n" {
		t.Errorf("401 body = %q", res.body)
	}
	// The console page's own requests get no challenge a browser would prompt for.
	if res := f.do(request{path: "/api/status", header: map[string]string{consoleHeader: "auto"}}); res.status != http.StatusUnauthorized ||
		strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("console request unauthenticated: %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}

	// Basic: good credentials work and are not audited; bad ones are.
	ops := []string{"ops", opsPassword}
	res := f.do(request{context: "api", path: "/api/status", basic: ops})
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" ||
		!strings.Contains(res.body, `"section":"system"`) {
		t.Errorf("Basic /api/status: %d %q", res.status, res.body)
	}
	sess := f.do(request{context: "api", path: "/api/session", basic: ops})
	if sess.body != `{"account":"ops","role":"viewer","csrf":"","version":"v0.2.0+test","hostname":"ferry-test-01"}`+"\n" {
		t.Errorf("Basic /api/session = %s", sess.body)
	}
	if res := f.do(request{context: "api", path: "/api/status", basic: []string{"ops", wrongPassword}}); res.status != http.StatusUnauthorized ||
		res.header.Get("WWW-Authenticate") != `Basic realm="Ferry"` {
		t.Errorf("wrong Basic password: %d", res.status)
	}
	if got := f.auditResults(); !slices.Equal(got, []string{"web.basic ops failed"}) {
		t.Errorf("audit = %q, want only the Basic failure", got)
	}

	// A session: views, errors, and CSRF on anything but GET.
	ck, csrf := f.login("ops", opsPassword)
	session := []*http.Cookie{ck}
	tests := []struct {
		method, path string
		header       map[string]string
		want         int
		body         string // a substring
	}{
		{"GET", "/api/status", nil, http.StatusOK, `"section":"system"`},
		{"HEAD", "/api/status", nil, http.StatusOK, ""},
		{"GET", "/api/", nil, http.StatusOK, `{"views":["session","status","broken"]}`},
		{"GET", "/api/nope", nil, http.StatusNotFound, `{"error":"view \"nope\": not found"}`},
		{"GET", "/api/broken", nil, http.StatusInternalServerError, `{"error":"view broken: status model unavailable"}`},
		{"POST", "/api/status", nil, http.StatusForbidden, `X-CSRF-Token`},
		{"DELETE", "/api/status", map[string]string{csrfHeader: "nope"}, http.StatusForbidden, `X-CSRF-Token`},
		{"POST", "/api/status", map[string]string{csrfHeader: csrf}, http.StatusMethodNotAllowed, "read-only"},
		{"POST", "/metrics", nil, http.StatusForbidden, "X-CSRF-Token"},
	}
	for _, tt := range tests {
		res := f.do(request{method: tt.method, path: tt.path, cookies: session, header: tt.header})
		if res.status != tt.want || !strings.Contains(res.body, tt.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tt.method, tt.path, res.status, res.body, tt.want, tt.body)
		}
	}
	if !strings.Contains(f.logs.String(), `"msg":"view failed","component":"console","view":"broken","err":"status model unavailable"`) {
		t.Errorf("the failed view is not logged:\n%s", f.logs.String())
	}
	f.noPasswordsLogged()
}

// TestSessionExpiry: a session dies 30 minutes after the user's last request
// (background refreshes do not count) and 12 hours after login in any case.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	get := func(ck *http.Cookie, background bool) int {
		h := map[string]string{consoleHeader: "user"}
		if background {
			h[consoleHeader] = "auto"
		}
		return f.do(request{path: "/api/status", cookies: []*http.Cookie{ck}, header: h}).status
	}

	idle, _ := f.login("ops", opsPassword)
	polled, _ := f.login("ops", opsPassword)
	busy, _ := f.login("root", rootPassword)
	for i := 1; i <= 5; i++ {
		f.clock.Advance(10 * time.Minute)
		for _, c := range []struct {
			name       string
			ck         *http.Cookie
			background bool
			live       bool
		}{
			{"polled in the background", polled, true, i < 3},
			{"used", busy, false, true},
		} {
			if got := get(c.ck, c.background); (got == http.StatusOK) != c.live {
				t.Errorf("after %d min, session %s: %d, want live %v", i*10, c.name, got, c.live)
			}
		}
	}
	if got := get(idle, false); got != http.StatusUnauthorized {
		t.Errorf("idle session after 50 min: %d, want 401", got)
	}
	// busy stays in use up to its absolute lifetime.
	for elapsed := 50 * time.Minute; elapsed+20*time.Minute < maxLifetime; elapsed += 20 * time.Minute {
		f.clock.Advance(20 * time.Minute)
		if got := get(busy, false); got != http.StatusOK {
			t.Fatalf("busy session after %v: %d", elapsed+20*time.Minute, got)
		}
	}
	f.clock.Advance(20 * time.Minute)
	if got := get(busy, false); got != http.StatusUnauthorized {
		t.Errorf("busy session past 12 h: %d, want 401", got)
	}
	if n := f.con.Stats().Sessions; n != 0 {
		t.Errorf("%d expired sessions left in the table", n)
	}
}

// TestAccountChanges: a removed account's session dies, and so does one whose
// password an admin reset; the survivors see role changes at once.
func TestAccountChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addAccount("temp", accounts.Viewer, opsPassword, false)
	removed, _ := f.login("temp", opsPassword)
	reset, _ := f.login("ops", opsPassword)
	admin, _ := f.login("root", rootPassword)

	if err := f.acc.Remove("temp"); err != nil {
		t.Fatal(err)
	}
	if f.session(removed) != nil {
		t.Error("the session of a removed account lives on")
	}
	if err := f.st.UpdateAccount("ops", func(a *store.Account) error { a.MustChangePassword = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if f.session(reset) != nil {
		t.Error("the session of a reset account lives on")
	}
	if err := f.acc.SetRole("ops", accounts.Admin); err != nil {
		t.Fatal(err)
	}
	if err := f.acc.SetRole("root", accounts.Viewer); err != nil {
		t.Fatal(err)
	}
	if info := f.session(admin); info == nil || info.Role != "viewer" {
		t.Errorf("root's session after its demotion: %+v", info)
	}
	if !strings.Contains(f.logs.String(), `"msg":"web session ended","component":"console","account":"temp"`) {
		t.Errorf("the ended session is not logged:\n%s", f.logs.String())
	}
}

// TestMustChangePassword: an account that must change its password (added
// with an initial one, or reset by an admin) does that over SSH before it may
// sign in here, as in the shell's exec mode.
func TestMustChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addAccount("fresh", accounts.Viewer, opsPassword, true)
	res := f.postLogin("fresh", opsPassword)
	if res.status != http.StatusForbidden || res.cookie[sessionCookie] != nil || !strings.Contains(res.body, "must change its password") {
		t.Errorf("login of an account that must change its password: %d\n%s", res.status, res.body)
	}
	basic := f.do(request{context: "api", path: "/api/status", basic: []string{"fresh", opsPassword}})
	if basic.status != http.StatusForbidden || !strings.Contains(basic.body, "password change required") {
		t.Errorf("Basic for an account that must change its password: %d %s", basic.status, basic.body)
	}
	want := []string{"web.login fresh password change required", "web.basic fresh password change required"}
	if got := f.auditResults(); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	f.noPasswordsLogged()
}

func TestPlainHTTPLoginRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h, _ := f.con.Handler("webconsole")
	plain := httptestServer(t, h)
	f.srv["plain"] = plain
	page := f.do(request{context: "plain", path: "/login"})
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="login-notls"`) {
		t.Errorf("login page over HTTP does not warn: %d", page.status)
	}
	ck := page.cookie[loginCookie]
	m := csrfField.FindStringSubmatch(page.body)
	res := f.do(request{context: "plain", method: http.MethodPost, path: "/login", cookies: []*http.Cookie{ck},
		form: url.Values{"csrf": {m[1]}, "account": {"root"}, "password": {rootPassword}}})
	if res.status != http.StatusForbidden || res.cookie[sessionCookie] != nil {
		t.Errorf("login over plain HTTP: %d", res.status)
	}
	if st := f.lo.Stats().Services["web"]; st.Failed != 0 {
		t.Errorf("the password was checked over plain HTTP: %+v", st)
	}
	f.noPasswordsLogged()
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ck, _ := f.login("ops", opsPassword)
	tests := []struct {
		name  string
		req   request
		cache string
	}{
		{"login page", request{path: "/login"}, "no-store"},
		{"dashboard", request{path: "/", cookies: []*http.Cookie{ck}}, "no-store"},
		{"redirect", request{path: "/"}, "no-store"},
		{"api", request{path: "/api/status", cookies: []*http.Cookie{ck}}, "no-store"},
		{"api 401", request{context: "api", path: "/api/status"}, "no-store"},
		{"metrics 401", request{context: "metrics", path: "/metrics"}, "no-store"},
		{"404", request{context: "metrics", path: "/nope"}, "no-store"},
		{"cross-origin 403", request{method: http.MethodPost, path: "/login", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, "no-store"},
		{"stylesheet", request{path: "/assets/console.css"}, "no-cache"},
		{"script", request{path: "/assets/console.js", cookies: []*http.Cookie{ck}}, "no-cache"},
	}
	for _, tt := range tests {
		res := f.do(tt.req)
		h := res.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q", tt.name, csp)
		}
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
			"X-Frame-Options": "DENY", "Cache-Control": tt.cache,
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s (%d): %s = %q, want %q", tt.name, res.status, name, got, want)
			}
		}
	}
	// The assets revalidate cheaply.
	css := f.do(request{path: "/assets/console.css"})
	if !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || css.header.Get("ETag") == "" {
		t.Fatalf("console.css: %q, ETag %q", css.header.Get("Content-Type"), css.header.Get("ETag"))
	}
	if again := f.do(request{path: "/assets/console.css", header: map[string]string{"If-None-Match": css.header.Get("ETag")}}); again.status != http.StatusNotModified {
		t.Errorf("revalidating console.css: %d, want 304", again.status)
	}
}

// TestPagesHaveNoInlineScript: the CSP forbids inline script and style, so
// the pages must not need them.
func TestPagesHaveNoInlineScript(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"assets/index.html", "assets/login.html"} {
		b, err := assetFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:", "http://", "https://"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	js, _ := assetFS.ReadFile("assets/console.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "http://", "https://"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("console.js contains %q", bad)
		}
	}
}

func TestSessionTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tab := newSessionTable(2)
	a, _, ev := tab.add("a", now)
	b, _, _ := tab.add("b", now.Add(time.Minute))
	if ev != "" {
		t.Fatalf("evicted %q from a table with room", ev)
	}
	// a is used, so b is the least recently used when c arrives.
	if _, ok := tab.get(a, now.Add(2*time.Minute), true); !ok {
		t.Fatal("a is not live")
	}
	c, _, ev := tab.add("c", now.Add(3*time.Minute))
	if ev != "b" {
		t.Errorf("evicted %q, want b (the least recently used)", ev)
	}
	if _, ok := tab.get(b, now.Add(3*time.Minute), false); ok {
		t.Error("b is still there")
	}
	// Once a and c have expired, a new session sweeps them instead of evicting.
	later := now.Add(3*time.Minute + idleTimeout)
	tab.add("d", later)
	if st := tab.stats(); st.Sessions != 1 || st.Evicted != 1 {
		t.Errorf("stats = %+v, want 1 session, 1 evicted", st)
	}
	for _, tok := range []string{a, c} {
		if _, ok := tab.get(tok, later, false); ok {
			t.Error("an expired session is live")
		}
	}
	for _, tok := range []string{"", "short", strings.Repeat("A", tokenLen)} {
		if _, ok := tab.get(tok, now, true); ok {
			t.Errorf("token %q is accepted", tok)
		}
	}
}

// TestSessionTableFullOverHTTP: logins past the bound push the oldest session
// out, counted and logged, and do not fail.
func TestSessionTableFullOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.con.sessions.max = 2
	first, _ := f.login("ops", opsPassword)
	f.clock.Advance(time.Second)
	second, _ := f.login("ops", opsPassword)
	f.clock.Advance(time.Second)
	third, _ := f.login("root", rootPassword)
	if f.session(first) != nil || f.session(second) == nil || f.session(third) == nil {
		t.Error("want the oldest session evicted and the other two live")
	}
	if st := f.con.Stats(); st.Sessions != 2 || st.Evicted != 1 {
		t.Errorf("stats = %+v", st)
	}
	if !strings.Contains(f.logs.String(), "web session table full") {
		t.Error("the eviction is not logged")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ck, _ := f.login("ops", opsPassword)
	f.con.Close()
	f.con.Close()
	if res := f.do(request{path: "/api/status", cookies: []*http.Cookie{ck}}); res.status != http.StatusServiceUnavailable {
		t.Errorf("after Close: %d, want 503", res.status)
	}
	if n := f.con.Stats().Sessions; n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
}

func TestEndSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, _ := f.login("ops", opsPassword)
	b, _ := f.login("ops", opsPassword)
	r, _ := f.login("root", rootPassword)
	if n := f.con.EndSessions("ops"); n != 2 {
		t.Errorf("EndSessions(ops) = %d, want 2", n)
	}
	if f.session(a) != nil || f.session(b) != nil || f.session(r) == nil {
		t.Error("EndSessions(ops) did not end exactly ops's sessions")
	}
}

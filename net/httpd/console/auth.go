package console

import (
	"crypto/subtle"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/internal/termsafe"
)

// Cookie and header names.
const (
	sessionCookie = "ferry_session"
	loginCookie   = "ferry_csrf" // pre-login double-submit token
	csrfHeader    = "X-CSRF-Token"
	// consoleHeader marks the console page's own requests: "auto" for its
	// background refresh, "user" for the rest. A background refresh does not
	// extend the idle timeout (a dashboard left open must still time out), and
	// a 401 to the page carries no Basic challenge, which would make the
	// browser pop up its own password dialog over the page.
	consoleHeader = "X-Ferry-Console"
)

// Audit results besides "ok".
const (
	resultOK         = "ok"
	resultFailed     = "failed"
	resultLocked     = "locked out"
	resultMustChange = "password change required"
	resultGone       = "" // the client went away while waiting: nothing to record
)

// principal is who a request is from.
type principal struct {
	accounts.Identity
	token string // the session's token; "" for HTTP Basic
	csrf  string // the session's CSRF token; "" for HTTP Basic
}

// fromSession returns the principal of the request's session cookie. The
// account is looked up every time, so a removed account, or one an admin has
// reset, loses its sessions at once, and a role change applies at once.
func (c *Console) fromSession(r *http.Request) (principal, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, false
	}
	s, ok := c.sessions.get(ck.Value, c.now(), r.Header.Get(consoleHeader) != "auto")
	if !ok {
		return principal{}, false
	}
	id, err := c.cfg.Accounts.Lookup(s.account)
	if err != nil || id.MustChangePassword {
		c.sessions.remove(ck.Value)
		reason := "account must change its password"
		if err != nil {
			reason = err.Error()
		}
		c.log.Info("web session ended", "account", s.account, "remote", r.RemoteAddr, "reason", reason)
		return principal{}, false
	}
	return principal{Identity: id, token: ck.Value, csrf: s.csrf}, true
}

// authenticated serves h to a request with a live session or good HTTP Basic
// credentials; others get 401. A session's non-GET requests must carry its
// CSRF token: the cookie alone is what a forged request would have.
func (c *Console) authenticated(h func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := c.fromSession(r); ok {
			if !safeMethod(r.Method) && !csrfMatches(r.Header.Get(csrfHeader), p.csrf) {
				c.fail(w, r, http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
				return
			}
			h(w, r, p)
			return
		}
		name, password, ok := r.BasicAuth()
		if !ok {
			c.challenge(w, r, "authentication required")
			return
		}
		start := time.Now()
		id, result := c.verify(r, name, password)
		switch result {
		case resultOK:
			// Not audited: a Prometheus scrape every 15 s would drown the log.
			h(w, r, principal{Identity: id})
			return
		case resultGone:
			return
		}
		c.audit(r, name, "web.basic", result, start)
		if result == resultMustChange {
			c.fail(w, r, http.StatusForbidden, "password change required: log in over SSH and run passwd")
			return
		}
		// The same answer for a wrong password and a locked-out source.
		c.challenge(w, r, "wrong account or password")
	})
}

// verify checks a password through the lockout and returns the account and
// the audit result. A locked-out source is refused after the time a real
// check takes, so it cannot tell the refusal from a wrong password.
func (c *Console) verify(r *http.Request, name, password string) (accounts.Identity, string) {
	check, ok := c.cfg.Lockout.Begin(r.Context(), loginService, lockout.Source(r.RemoteAddr))
	if !ok {
		if r.Context().Err() != nil {
			return accounts.Identity{}, resultGone
		}
		c.cfg.Lockout.Refuse(loginService)
		return accounts.Identity{}, resultLocked
	}
	ok = c.cfg.Accounts.VerifyPassword(name, password)
	check.End(ok)
	if !ok {
		return accounts.Identity{}, resultFailed
	}
	id, err := c.cfg.Accounts.Lookup(name)
	if err != nil {
		return accounts.Identity{}, resultFailed // removed since the check
	}
	if id.MustChangePassword {
		// Like the shell's exec mode: such an account may do nothing but change
		// its password, which it does over SSH.
		return id, resultMustChange
	}
	return id, resultOK
}

// audit records a login or logout the way the shell records commands. The
// account name is what the client sent, so it is clipped and escaped; a
// password is never passed here.
func (c *Console) audit(r *http.Request, account, command, result string, start time.Time) {
	c.log.Info("audit", "account", termsafe.Escape(clip(account, 64)), "remote", r.RemoteAddr, "mode", "web",
		"command", command, "result", result, "took_ms", time.Since(start).Milliseconds())
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// challenge answers 401. Scripts get the Basic challenge; the console page
// (which says so in consoleHeader) gets a scheme no browser prompts for.
func (c *Console) challenge(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Header.Get(consoleHeader) != "" {
		w.Header().Set("WWW-Authenticate", `FerrySession realm="Ferry"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="Ferry"`)
	}
	c.fail(w, r, http.StatusUnauthorized, msg)
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

func csrfMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sessionCookieFor is the session cookie: never sent cross-site, never to
// plain HTTP, never readable by script. No expiry: it ends with the browser,
// and the server ends it sooner.
func sessionCookieFor(token string) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// expired is a cookie that tells the browser to drop name.
func expired(name, path string) *http.Cookie {
	return &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

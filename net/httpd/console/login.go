package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

// maxLoginForm bounds the login POST body; the form has three short fields.
const maxLoginForm = 8 << 10

// Messages of the login page.
const (
	msgFailed = "Sign-in failed. Check the account and password; after repeated failures " +
		"this address is refused for a while."
	msgMustChange = "This account must change its password first: log in over SSH, set a new one, then sign in here."
	msgStaleForm  = "The sign-in form had expired. Please try again."
	msgNoTLS      = "This port serves plain HTTP. Sign in over HTTPS (a binding with a key) so the password is not sent in clear."
)

// loginData fills assets/login.html.
type loginData struct {
	CSRF    string
	Account string // prefilled after a failure; never the password
	Error   string
	NoTLS   bool
}

// serveIndex is the dashboard for a signed-in browser, the login page for others.
func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.fromSession(r); !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(c.assets[indexPage].body)
}

func (c *Console) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.fromSession(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, loginData{})
}

// serveLogin checks the form and opens a session. Cross-site posts never get
// here (secure checks Sec-Fetch-Site and Origin); the double-submit token
// also stops a same-site page or an old browser from signing the victim in
// to the attacker's account.
func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "malformed login form")
		return
	}
	name := r.PostForm.Get("account")
	again := loginData{Account: name}
	if r.TLS == nil {
		c.audit(r, name, "web.login", "refused: plain HTTP", start)
		again.Error = msgNoTLS
		c.renderLogin(w, r, http.StatusForbidden, again)
		return
	}
	if !c.loginTokenOK(r) {
		c.audit(r, name, "web.login", "refused: form token", start)
		again.Error = msgStaleForm
		c.renderLogin(w, r, http.StatusForbidden, again)
		return
	}
	id, result := c.verify(r, name, r.PostForm.Get("password"))
	if result == resultGone {
		return
	}
	c.audit(r, name, "web.login", result, start)
	switch result {
	case resultOK:
	case resultMustChange:
		again.Error = msgMustChange
		c.renderLogin(w, r, http.StatusForbidden, again)
		return
	default:
		again.Error = msgFailed
		c.renderLogin(w, r, http.StatusUnauthorized, again)
		return
	}
	// A fresh token at every login: a session cookie planted before it is worth nothing after.
	if old, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(old.Value)
	}
	token, _, evicted := c.sessions.add(id.Name, c.now())
	if evicted != "" {
		c.log.Warn("web session table full: signed out the least recently used session",
			"account", evicted, "limit", c.sessions.max)
	}
	http.SetCookie(w, sessionCookieFor(token))
	http.SetCookie(w, expired(loginCookie, "/login"))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// serveLogout ends the session. It needs the session's CSRF token, so a
// forged request cannot sign the operator out.
func (c *Console) serveLogout(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, ok := c.fromSession(r)
	if !ok {
		http.SetCookie(w, expired(sessionCookie, "/"))
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !csrfMatches(r.Header.Get(csrfHeader), p.csrf) {
		c.fail(w, r, http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
		return
	}
	c.sessions.remove(p.token)
	c.audit(r, p.Name, "web.logout", resultOK, start)
	http.SetCookie(w, expired(sessionCookie, "/"))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// renderLogin writes the login page with the form's token: the pre-login
// cookie's value signed with loginKey. The cookie is kept while it looks
// right, so two tabs with the form both work.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	token := ""
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) == tokenLen {
		token = ck.Value
	} else {
		token = newToken()
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/login",
			Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	d.CSRF = c.loginMAC(token)
	d.NoTLS = r.TLS == nil
	var b bytes.Buffer
	if err := c.loginPage.Execute(&b, d); err != nil {
		c.log.Error("login page", "err", err)
		c.fail(w, r, http.StatusInternalServerError, "login page failed")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// loginTokenOK checks the double submit: the form's csrf field must be the
// MAC of the ferry_csrf cookie. A page that can set cookies for this host
// (a sibling subdomain) still cannot make the MAC.
func (c *Console) loginTokenOK(r *http.Request) bool {
	ck, err := r.Cookie(loginCookie)
	if err != nil || len(ck.Value) != tokenLen {
		return false
	}
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(c.loginMAC(ck.Value)))
}

func (c *Console) loginMAC(token string) string {
	m := hmac.New(sha256.New, c.loginKey)
	m.Write([]byte("ferry login form\x00"))
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

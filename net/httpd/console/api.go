package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// sessionInfo is /api/session: who is signed in, and what the page needs.
type sessionInfo struct {
	Account  string `json:"account"`
	Role     string `json:"role"`
	CSRF     string `json:"csrf"` // "" under HTTP Basic, which needs none
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
}

// serveAPI serves GET /api/<view>, /api/session, and /api/ (the view names).
func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, p principal) {
	if !safeMethod(r.Method) {
		w.Header().Set("Allow", "GET, HEAD")
		c.fail(w, r, http.StatusMethodNotAllowed, "the API is read-only: use GET")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	switch name {
	case "":
		c.writeJSON(w, r, map[string][]string{"views": append([]string{sessionView}, c.names...)})
		return
	case sessionView:
		c.writeJSON(w, r, sessionInfo{Account: p.Name, Role: string(p.Role), CSRF: p.csrf,
			Version: c.cfg.Version, Hostname: c.cfg.Hostname})
		return
	}
	v, ok := c.views[name]
	if !ok {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("view %q: not found", name))
		return
	}
	data, err := v.Get()
	if err != nil {
		c.log.Error("view failed", "view", name, "err", err)
		c.fail(w, r, http.StatusInternalServerError, fmt.Sprintf("view %s: %v", name, err))
		return
	}
	c.writeJSON(w, r, data)
}

// writeJSON encodes v before writing anything, so a value that cannot be
// encoded gets a clean 500 rather than half a document.
func (c *Console) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("encode API response", "path", r.URL.Path, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "cannot encode the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// fail writes a one-line error: JSON under /api/, text elsewhere.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		b, _ := json.Marshal(map[string]string{"error": msg}) // a string map always encodes
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

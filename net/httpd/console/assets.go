package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The page, its script and style are compiled in: an appliance runs offline,
// and its console must not depend on anything it cannot serve itself.
//
//go:embed assets
var assetFS embed.FS

// indexPage is served at / (to a signed-in browser), not under /assets/.
const indexPage = "index.html"

// publicAssets are what the login page needs, served without a session.
// The rest (the dashboard's script) is for signed-in browsers only.
var publicAssets = map[string]bool{"console.css": true, "favicon.svg": true}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// loadAssets reads the embedded files once; login.html is a template and not among them.
func loadAssets() (map[string]asset, error) {
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	out := map[string]asset{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "login.html" {
			continue
		}
		body, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("console: asset %s: %w", e.Name(), err)
		}
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	if _, ok := out[indexPage]; !ok {
		return nil, fmt.Errorf("console: asset %s: missing", indexPage)
	}
	return out, nil
}

// serveAsset serves /assets/<name>. The URLs carry no version, so browsers
// revalidate (no-cache) and an upgraded appliance serves its new files at once.
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := c.assets[name]
	if !ok || name == indexPage {
		http.NotFound(w, r)
		return
	}
	if !publicAssets[name] {
		if _, ok := c.fromSession(r); !ok {
			c.fail(w, r, http.StatusUnauthorized, "sign in first")
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

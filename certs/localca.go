package certs

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The aliases first boot registers, as the operators' guide names them with
// Ferry's prefix.
const (
	AliasCA     = "ferry-ca"     // JKS truststore holding the CA certificate
	AliasCAKey  = "ferry-ca-key" // the CA key: certs.issue signs with it
	AliasWeb    = "ferry-web"    // the web console's server certificate
	AliasBase   = "ferry-base"   // the relay listener's server certificate
	AliasSentry = "ferry-sentry" // the client certificate presented to upstream bases
)

// Validities of what first boot and certs.issue create.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 825 * 24 * time.Hour
)

// Generated is one keystore file first boot wrote, with the password it chose.
type Generated struct {
	Alias    string
	Type     Type
	Path     string
	Password []byte
}

// CreateLocalCA creates a CA and the appliance's first keystores in dir
// (<data-dir>/ca/certs): ca.jks, ca.pfx, web.pfx, base.pfx and sentry.pfx,
// each 0600 with its own random password. Server certificates carry
// DefaultServerSANs. A dir that already holds files is moved aside first
// (certs.<time>.old), never overwritten: it may hold the only copy of a CA key.
func CreateLocalCA(dir, hostname string, now time.Time) ([]Generated, error) {
	if err := moveAside(dir, now); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	if hostname == "" {
		hostname = "ferry"
	}
	ca, err := NewCA("Ferry CA "+hostname, CAValidity)
	if err != nil {
		return nil, err
	}
	out := []Generated{
		{Alias: AliasCA, Type: JKS, Path: filepath.Join(dir, "ca.jks")},
		{Alias: AliasCAKey, Type: PKCS12, Path: filepath.Join(dir, "ca.pfx")},
		{Alias: AliasWeb, Type: PKCS12, Path: filepath.Join(dir, "web.pfx")},
		{Alias: AliasBase, Type: PKCS12, Path: filepath.Join(dir, "base.pfx")},
		{Alias: AliasSentry, Type: PKCS12, Path: filepath.Join(dir, "sentry.pfx")},
	}
	for i := range out {
		g := &out[i]
		g.Password = []byte(rand.Text())
		var err error
		switch g.Alias {
		case AliasCA:
			err = WriteJKSTrustStore(g.Path, "ferry-ca", []*x509.Certificate{ca.Certificate()}, g.Password)
		case AliasCAKey:
			err = WritePKCS12(g.Path, ca.Bundle(), g.Password)
		default:
			kind, cn, sans := Server, hostname, DefaultServerSANs()
			if g.Alias == AliasSentry {
				kind, cn, sans = Client, "sentry "+hostname, nil
			}
			var b Bundle
			if b, err = ca.Issue(cn, kind, sans, LeafValidity); err == nil {
				err = WritePKCS12(g.Path, b, g.Password)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("local CA: %s: %w", filepath.Base(g.Path), err)
		}
	}
	return out, nil
}

// moveAside renames a non-empty dir to <dir>.<time>.old.
func moveAside(dir string, now time.Time) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	old := fmt.Sprintf("%s.%s.old", dir, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("local CA: move the earlier %s aside: %w", dir, err)
	}
	return nil
}

package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"
)

// EntryKind tells key entries from trust entries, in keytool's words.
type EntryKind string

// Entry kinds as `keytool -list` prints them.
const (
	KeyEntryKind     EntryKind = "PrivateKeyEntry"
	TrustedEntryKind EntryKind = "trustedCertEntry"
)

// EntrySummary describes one keystore entry by its (end-entity) certificate,
// for keystore.show and keystore.list.
type EntrySummary struct {
	Alias       string    `json:"alias"`
	Kind        EntryKind `json:"kind"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	SANs        []string  `json:"sans,omitempty"`
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
	SHA256      string    `json:"sha256"`
	ChainLength int       `json:"chainLength"` // certificates in the entry, leaf included
}

// Summary describes every entry: key entries first, then trusted certificates.
func (ks *Keystore) Summary() []EntrySummary {
	out := make([]EntrySummary, 0, len(ks.Keys)+len(ks.Trusted))
	for _, k := range ks.Keys {
		s := summarize(k.Alias, KeyEntryKind, k.Cert)
		s.ChainLength = 1 + len(k.Chain)
		out = append(out, s)
	}
	for _, t := range ks.Trusted {
		out = append(out, summarize(t.Alias, TrustedEntryKind, t.Cert))
	}
	return out
}

func summarize(alias string, kind EntryKind, c *x509.Certificate) EntrySummary {
	return EntrySummary{
		Alias:       alias,
		Kind:        kind,
		Subject:     c.Subject.String(),
		Issuer:      c.Issuer.String(),
		SANs:        SANs(c),
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		SHA256:      Fingerprint(c),
		ChainLength: 1,
	}
}

// SANs lists a certificate's subject alternative names: DNS names, then IP
// addresses, e-mail addresses and URIs.
func SANs(c *x509.Certificate) []string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	out = append(out, c.EmailAddresses...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return out
}

// Fingerprint is the SHA-256 fingerprint of the certificate as keytool prints
// it: upper-case hex bytes joined by colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

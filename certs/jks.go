package certs

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
)

// WriteJKSTrustStore stores certs as trusted certificate entries in a new JKS
// file at path (mode 0600), replacing any file there atomically. One
// certificate gets alias; several get alias-1, alias-2 and so on. Aliases are
// lower-cased, as keytool has them.
func WriteJKSTrustStore(path string, alias string, certs []*x509.Certificate, password []byte) error {
	if alias == "" {
		return errors.New("write JKS trust store: the alias is empty")
	}
	if len(certs) == 0 {
		return errors.New("write JKS trust store: no certificates")
	}
	pw, err := javaPassword(password)
	if err != nil {
		return fmt.Errorf("write JKS trust store %s: %w", path, err)
	}
	ks := keystore.New(keystore.WithOrderedAliases())
	now := time.Now()
	for i, c := range certs {
		name := strings.ToLower(alias)
		if len(certs) > 1 {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		entry := keystore.TrustedCertificateEntry{
			CreationTime: now,
			Certificate:  keystore.Certificate{Type: "X.509", Content: c.Raw},
		}
		if err := ks.SetTrustedCertificateEntry(name, entry); err != nil {
			return fmt.Errorf("write JKS trust store %s: %w", path, err)
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, pw); err != nil {
		return fmt.Errorf("write JKS trust store %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes(), 0o600)
}

// parseJKS reads a JKS keystore. Ferry takes one password, for the store and
// its keys, as keytool uses by default.
func parseJKS(data, password []byte) (*Keystore, error) {
	pw, err := javaPassword(password)
	if err != nil {
		return nil, err
	}
	// keystore-go allocates the lengths it reads before reading them, and
	// cannot tell a wrong password from damage: walk the structure with bounds
	// checks and verify the digest first.
	if err := scanJKS(data, pw); err != nil {
		return nil, err
	}
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	if err := ks.Load(bytes.NewReader(data), pw); err != nil {
		return nil, fail(ErrCorrupt, "%v", err)
	}
	out := &Keystore{}
	for _, alias := range ks.Aliases() {
		if ks.IsTrustedCertificateEntry(alias) {
			e, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, fail(ErrCorrupt, "entry %q: %v", alias, err)
			}
			c, err := jksCertificate(alias, e.Certificate)
			if err != nil {
				return nil, err
			}
			out.Trusted = append(out.Trusted, TrustedEntry{Alias: alias, Cert: c})
			continue
		}
		e, err := ks.GetPrivateKeyEntry(alias, pw)
		if err != nil {
			return nil, fail(ErrUnsupported, "entry %q: its key does not open with the keystore password (%v); "+
				"Ferry needs the key password to equal the keystore password", alias, err)
		}
		key, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
		if err != nil {
			return nil, fail(ErrCorrupt, "entry %q: private key: %v", alias, err)
		}
		signer, err := asSigner(key)
		if err != nil {
			return nil, err
		}
		var chain []*x509.Certificate
		for _, jc := range e.CertificateChain {
			c, err := jksCertificate(alias, jc)
			if err != nil {
				return nil, err
			}
			chain = append(chain, c)
		}
		b, rest, err := bundleFor(signer, chain)
		if err != nil {
			return nil, inEntry(alias, err)
		}
		b.Chain = append(b.Chain, rest...) // keep what the entry holds, in its order
		out.Keys = append(out.Keys, KeyEntry{Alias: alias, Bundle: b})
	}
	return out, nil
}

// inEntry names the entry in a keystore error's detail.
func inEntry(alias string, err error) error {
	var ke *Error
	if !errors.As(err, &ke) {
		return fmt.Errorf("entry %q: %w", alias, err)
	}
	c := *ke
	c.Detail = fmt.Sprintf("entry %q: %s", alias, c.Detail)
	return &c
}

func jksCertificate(alias string, c keystore.Certificate) (*x509.Certificate, error) {
	if c.Type != "X.509" && c.Type != "X509" {
		return nil, fail(ErrUnsupported, "entry %q: certificate type %q", alias, c.Type)
	}
	cert, err := x509.ParseCertificate(c.Content)
	if err != nil {
		return nil, fail(ErrCorrupt, "entry %q: certificate: %v", alias, err)
	}
	return cert, nil
}

// javaPassword turns a UTF-8 password into the bytes keystore-go expects: one
// per Java char, so only Latin-1 text survives the way Java encodes it.
func javaPassword(password []byte) ([]byte, error) {
	if !utf8.Valid(password) {
		return password, nil
	}
	out := make([]byte, 0, len(password))
	for _, r := range string(password) {
		if r > 0xFF {
			return nil, fail(ErrUnsupported, "JKS passwords with characters beyond Latin-1 are not supported")
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// jksReader reads the big-endian fields of a JKS file with bounds checks.
type jksReader struct {
	data []byte
	off  int
	err  error
}

func (r *jksReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data)-r.off {
		r.err = fail(ErrCorrupt, "truncated at byte %d (%s)", r.off, what)
		return nil
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}

func (r *jksReader) u16(what string) int {
	if b := r.take(2, what); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *jksReader) u32(what string) int {
	if b := r.take(4, what); b != nil {
		return int(binary.BigEndian.Uint32(b))
	}
	return 0
}

// scanJKS checks that data is a whole JKS file (version 1 or 2) and that its
// SHA-1 integrity digest matches pw.
func scanJKS(data, pw []byte) error {
	r := &jksReader{data: data}
	if r.u32("magic") != jksMagic {
		return fail(ErrCorrupt, "not a JKS keystore")
	}
	version := r.u32("version")
	if r.err == nil && version != 1 && version != 2 {
		return fail(ErrUnsupported, "JKS version %d", version)
	}
	count := r.u32("entry count")
	cert := func(what string) {
		if version == 2 {
			r.take(r.u16(what+" type length"), what+" type")
		}
		r.take(r.u32(what+" length"), what)
	}
	for i := 0; i < count && r.err == nil; i++ {
		tag := r.u32("entry tag")
		r.take(r.u16("alias length"), "alias")
		r.take(8, "timestamp")
		switch {
		case r.err != nil:
		case tag == 1:
			r.take(r.u32("key length"), "key")
			n := r.u32("chain length")
			for j := 0; j < n && r.err == nil; j++ {
				cert("certificate")
			}
		case tag == 2:
			cert("certificate")
		default:
			return fail(ErrCorrupt, "entry %d has unknown tag %d", i+1, tag)
		}
	}
	body := r.off
	digest := r.take(sha1.Size, "digest")
	if r.err != nil {
		return r.err
	}
	h := sha1.New()
	for _, b := range pw {
		h.Write([]byte{0, b})
	}
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(data[:body])
	if subtle.ConstantTimeCompare(h.Sum(nil), digest) != 1 {
		return fail(ErrWrongPassword, "")
	}
	return nil
}

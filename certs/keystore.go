package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Type is a keystore file format, as keystore.register names it.
type Type string

// The keystore formats Ferry reads.
const (
	JKS    Type = "JKS"
	PKCS12 Type = "PKCS12"
	PEM    Type = "PEM"
)

// Types lists the keystore formats, for help text and completion.
func Types() []Type { return []Type{JKS, PKCS12, PEM} }

func (t Type) String() string { return string(t) }

// ParseType reads a keystore type, ignoring case; P12 and PFX mean PKCS12.
func ParseType(s string) (Type, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "JKS":
		return JKS, nil
	case "PKCS12", "P12", "PFX":
		return PKCS12, nil
	case "PEM":
		return PEM, nil
	}
	return "", fmt.Errorf("keystore type %q is not JKS, PKCS12 or PEM", s)
}

// maxKeystoreSize bounds what Load reads; Java's cacerts is about 200 KiB.
const maxKeystoreSize = 16 << 20

// Bundle is a private key and its certificate chain: Cert is the end-entity
// certificate, Chain the certificates above it, leaf side first.
type Bundle struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate
}

// TLSCertificate is the bundle as crypto/tls serves it.
func (b Bundle) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: b.Key, Leaf: b.Cert}
	if b.Cert != nil {
		c.Certificate = append(c.Certificate, b.Cert.Raw)
	}
	for _, ca := range b.Chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c
}

// KeyEntry is a private key entry of a keystore.
type KeyEntry struct {
	Alias string // empty when the format has none (PEM)
	Bundle
}

// TrustedEntry is a trusted certificate entry of a keystore.
type TrustedEntry struct {
	Alias string // empty when the format has none (PEM, PKCS12 trust bags)
	Cert  *x509.Certificate
}

// Keystore is the content of a keystore file.
type Keystore struct {
	Path    string
	Type    Type
	Keys    []KeyEntry
	Trusted []TrustedEntry
}

// Load reads the keystore at path as typ, decrypting it with password (PEM
// files without an encrypted key ignore it). Failures are *Error values
// wrapping ErrNotFound, ErrWrongType, ErrWrongPassword, ErrCorrupt,
// ErrNoEntries or ErrUnsupported.
func Load(path string, typ Type, password []byte) (*Keystore, error) {
	data, err := readKeystore(path)
	if err != nil {
		return nil, withPath(path, err)
	}
	ks, err := parse(data, typ, password)
	if err != nil {
		return nil, withPath(path, err)
	}
	ks.Path, ks.Type = path, typ
	return ks, nil
}

// NeedsPassword says whether loading path as typ needs a password, so the
// shell prompts only when it must: JKS and PKCS12 always do, PEM only for an
// encrypted private key. It fails like Load on a missing file or a wrong type.
func NeedsPassword(path string, typ Type) (bool, error) {
	data, err := readKeystore(path)
	if err != nil {
		return false, withPath(path, err)
	}
	if err := checkFormat(data, typ); err != nil {
		return false, withPath(path, err)
	}
	if typ != PEM {
		return true, nil
	}
	enc, err := pemNeedsPassword(data)
	if err != nil {
		return false, withPath(path, err)
	}
	return enc, nil
}

// KeyPair is the keystore's first private key entry (JKS entries come in alias
// order), for serving TLS or signing.
func (ks *Keystore) KeyPair() (KeyEntry, error) {
	if len(ks.Keys) == 0 {
		return KeyEntry{}, withPath(ks.Path, fail(ErrNoEntries, "no private key entry; it holds %d trusted certificate(s)", len(ks.Trusted)))
	}
	return ks.Keys[0], nil
}

// TrustPool is the pool of the keystore's trusted certificates, for verifying peers.
func (ks *Keystore) TrustPool() (*x509.CertPool, error) {
	if len(ks.Trusted) == 0 {
		return nil, withPath(ks.Path, fail(ErrNoEntries, "no trusted certificate entry; it holds %d private key(s)", len(ks.Keys)))
	}
	pool := x509.NewCertPool()
	for _, t := range ks.Trusted {
		pool.AddCert(t.Cert)
	}
	return pool, nil
}

func readKeystore(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail(ErrNotFound, "")
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fail(ErrNotFound, "%s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeystoreSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeystoreSize {
		return nil, fail(ErrUnsupported, "the file is larger than %d MiB", maxKeystoreSize>>20)
	}
	return data, nil
}

func parse(data []byte, typ Type, password []byte) (*Keystore, error) {
	if err := checkFormat(data, typ); err != nil {
		return nil, err
	}
	var (
		ks  *Keystore
		err error
	)
	// The decoders below are third-party code fed with untrusted bytes; a
	// panic in them is a corrupt file, not a crashed daemon.
	func() {
		defer func() {
			if r := recover(); r != nil {
				ks, err = nil, fail(ErrCorrupt, "the %s decoder failed: %v", typ, r)
			}
		}()
		switch typ {
		case JKS:
			ks, err = parseJKS(data, password)
		case PKCS12:
			ks, err = parsePKCS12(data, password)
		case PEM:
			ks, err = parsePEM(data, password)
		}
	}()
	if err != nil {
		return nil, err
	}
	if len(ks.Keys) == 0 && len(ks.Trusted) == 0 {
		return nil, fail(ErrNoEntries, "the %s keystore is empty", typ)
	}
	return ks, nil
}

// format is what a file's content looks like, whatever its declared type.
type format int

const (
	formatUnknown format = iota
	formatEmpty
	formatJKS
	formatJCEKS
	formatPKCS12
	formatPEM
	formatDERCert
)

var formatNames = map[format]string{
	formatJKS:     "a JKS keystore",
	formatJCEKS:   "a JCEKS keystore",
	formatPKCS12:  "a PKCS12 keystore",
	formatPEM:     "a PEM file",
	formatDERCert: "a DER (binary) certificate",
}

const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

// sniff recognises a keystore format from the first bytes of the content.
func sniff(data []byte) format {
	if len(bytes.TrimSpace(data)) == 0 {
		return formatEmpty
	}
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case jksMagic:
			return formatJKS
		case jceksMagic:
			return formatJCEKS
		}
	}
	if data[0] == 0x30 {
		if body, ok := derBody(data); ok {
			// PFX ::= SEQUENCE { version INTEGER (v3), ... }
			if bytes.HasPrefix(body, []byte{0x02, 0x01, 0x03}) {
				return formatPKCS12
			}
			if _, err := x509.ParseCertificate(data); err == nil {
				return formatDERCert
			}
		}
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return formatPEM
	}
	return formatUnknown
}

// derBody skips the tag and length of a DER SEQUENCE header.
func derBody(data []byte) ([]byte, bool) {
	if len(data) < 2 {
		return nil, false
	}
	n := int(data[1])
	if n < 0x80 {
		return data[2:], true
	}
	n &= 0x7f
	if n == 0 || n > 4 || len(data) < 2+n {
		return nil, false
	}
	return data[2+n:], true
}

var wantFormat = map[Type]format{JKS: formatJKS, PKCS12: formatPKCS12, PEM: formatPEM}

// checkFormat refuses content that is not of the declared type, naming what it is.
func checkFormat(data []byte, typ Type) error {
	want, ok := wantFormat[typ]
	if !ok {
		return fmt.Errorf("keystore type %q is not JKS, PKCS12 or PEM", string(typ))
	}
	got := sniff(data)
	switch {
	case got == want:
		return nil
	case got == formatEmpty:
		return fail(ErrCorrupt, "the file is empty")
	case got == formatJCEKS && typ == JKS:
		return fail(ErrUnsupported, "JCEKS keystores are not supported; convert it with keytool -importkeystore -deststoretype PKCS12")
	case got == formatUnknown:
		return fail(ErrCorrupt, "the file is not %s", strings.TrimPrefix(formatNames[want], "a "))
	}
	return fail(ErrWrongType, "the file is %s, not %s", formatNames[got], typ)
}

// keyMatches says whether key is the private key of cert.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// bundleFor orders certs into key's bundle: the certificate of the key, then
// the issuers above it found among certs. It returns the certificates that are
// not in the chain separately.
func bundleFor(key crypto.Signer, certs []*x509.Certificate) (Bundle, []*x509.Certificate, error) {
	leaf := -1
	for i, c := range certs {
		if keyMatches(key, c) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		if len(certs) == 0 {
			return Bundle{}, nil, fail(ErrNoEntries, "a private key without a certificate")
		}
		return Bundle{}, nil, fail(ErrCorrupt, "the private key does not match any certificate (first: %s)", certs[0].Subject.String())
	}
	b := Bundle{Key: key, Cert: certs[leaf]}
	used := map[int]bool{leaf: true}
	for cur := certs[leaf]; ; {
		next := -1
		for i, c := range certs {
			if !used[i] && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = certs[next]
		b.Chain = append(b.Chain, cur)
	}
	var rest []*x509.Certificate
	for i, c := range certs {
		if !used[i] {
			rest = append(rest, c)
		}
	}
	return b, rest, nil
}

func asSigner(key any) (crypto.Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fail(ErrUnsupported, "private key of type %T", key)
	}
	return s, nil
}

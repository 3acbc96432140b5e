package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"software.sslmate.com/src/go-pkcs12"
)

// pkcs12Encoder writes AES-256-CBC/PBKDF2-SHA256 encrypted files with an
// HMAC-SHA256 MAC. It is pinned to Modern2023 rather than pkcs12.Modern because
// Modern may move to PBMAC1 (Modern2026), which Java 17 and OpenSSL 3.0 cannot read.
var pkcs12Encoder = pkcs12.Modern2023

// WritePKCS12 stores b in a new PKCS12 file at path (mode 0600), replacing
// any file there atomically.
func WritePKCS12(path string, b Bundle, password []byte) error {
	if b.Key == nil || b.Cert == nil {
		return errors.New("write PKCS12: the bundle has no key or no certificate")
	}
	if !keyMatches(b.Key, b.Cert) {
		return fmt.Errorf("write PKCS12: the key does not match certificate %q", b.Cert.Subject.String())
	}
	pfx, err := pkcs12Encoder.Encode(b.Key, b.Cert, b.Chain, string(password))
	if err != nil {
		return fmt.Errorf("write PKCS12 %s: %w", path, err)
	}
	return writeFileAtomic(path, pfx, 0o600)
}

// parsePKCS12 reads a PKCS12 file holding one private key and its chain
// (certificates outside the chain become trusted entries), or a Java trust
// store whose certificates all carry Java's trusted-certificate attribute.
func parsePKCS12(data, password []byte) (*Keystore, error) {
	if err := checkPKCS12Work(data); err != nil {
		return nil, err
	}
	pw := string(password)
	key, cert, cas, err := pkcs12.DecodeChain(data, pw)
	if err != nil {
		if !strings.Contains(err.Error(), "private key missing") {
			return nil, pkcs12Error(err)
		}
		return parsePKCS12TrustStore(data, pw)
	}
	signer, err := asSigner(key)
	if err != nil {
		return nil, err
	}
	b, rest, err := bundleFor(signer, append([]*x509.Certificate{cert}, cas...))
	if err != nil {
		return nil, err
	}
	ks := &Keystore{Keys: []KeyEntry{{Alias: pkcs12KeyAlias(data), Bundle: b}}}
	for _, c := range rest {
		ks.Trusted = append(ks.Trusted, TrustedEntry{Cert: c})
	}
	return ks, nil
}

func parsePKCS12TrustStore(data []byte, pw string) (*Keystore, error) {
	certs, err := pkcs12.DecodeTrustStore(data, pw)
	if err != nil {
		if strings.Contains(err.Error(), "not marked as trusted") {
			return nil, fail(ErrUnsupported, "a PKCS12 file with certificates but no private key must be a Java trust store "+
				"(keytool -importcert); store the certificates in a PEM file instead")
		}
		return nil, pkcs12Error(err)
	}
	ks := &Keystore{}
	for _, c := range certs {
		ks.Trusted = append(ks.Trusted, TrustedEntry{Cert: c})
	}
	return ks, nil
}

// pkcs12Error sorts go-pkcs12's errors into the keystore sentinels.
func pkcs12Error(err error) error {
	var ni pkcs12.NotImplementedError
	msg := strings.TrimPrefix(err.Error(), "pkcs12: ")
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption),
		strings.Contains(msg, "decryption password incorrect"), strings.Contains(msg, "incorrect padding"),
		strings.Contains(msg, "error unmarshaling decrypted"), strings.Contains(msg, "UCS-2"):
		// A MAC or padding mismatch, or a key that decrypts to garbage; a
		// password that is not a BMP string cannot be the right one either.
		return fail(ErrWrongPassword, "")
	case msg == "no MAC in data":
		return fail(ErrUnsupported, "the PKCS12 file has no MAC (integrity check); it opens only with an empty password")
	case strings.Contains(msg, "exactly one key bag"):
		return fail(ErrUnsupported, "the PKCS12 file holds more than one private key")
	case errors.As(err, &ni):
		return fail(ErrUnsupported, "%s", msg)
	}
	return fail(ErrCorrupt, "%s", msg)
}

// The PKCS12 structures needed to read a key bag's friendlyName (its alias),
// which DecodeChain does not return. Keytool and OpenSSL put key bags in an
// unencrypted safe, so their names are readable once the MAC has been checked.
type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12Pfx struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

type p12Attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []p12Attribute `asn1:"set,optional"`
}

var (
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidKeyBag           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidFriendlyName     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	errNoFriendlyName   = errors.New("no friendlyName")
	errNotDataContained = errors.New("not data")
)

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	Salt       []byte
	Iterations int `asn1:"optional,default:1"`
}

// checkPKCS12Work refuses a MAC that asks for more key-derivation work than
// maxKDFIterations: the MAC is computed before anything in the file is known
// to be genuine, and go-pkcs12 sets no bound.
func checkPKCS12Work(data []byte) error {
	var pfx p12Pfx
	if _, err := asn1.Unmarshal(data, &pfx); err != nil || len(pfx.MacData.FullBytes) == 0 {
		return nil // go-pkcs12 reports it
	}
	var mac p12MacData
	if _, err := asn1.Unmarshal(pfx.MacData.FullBytes, &mac); err != nil {
		return nil
	}
	n := mac.Iterations
	if mac.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
		var params struct {
			KDF    pkix.AlgorithmIdentifier
			Scheme pkix.AlgorithmIdentifier
		}
		var kdf pbkdf2Params
		if _, err := asn1.Unmarshal(mac.Mac.Algorithm.Parameters.FullBytes, &params); err == nil {
			if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err == nil {
				n = kdf.Iterations
			}
		}
	}
	if n > maxKDFIterations {
		return fail(ErrUnsupported, "the PKCS12 MAC asks for %d iterations (at most %d)", n, maxKDFIterations)
	}
	return nil
}

// pkcs12KeyAlias is the friendlyName of the file's key bag, or "" when it has none.
func pkcs12KeyAlias(data []byte) string {
	name, err := findKeyFriendlyName(data)
	if err != nil {
		return ""
	}
	return name
}

func findKeyFriendlyName(data []byte) (string, error) {
	var pfx p12Pfx
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return "", err
	}
	safe, err := dataContent(pfx.AuthSafe)
	if err != nil {
		return "", err
	}
	var authSafe []p12ContentInfo
	if _, err := asn1.Unmarshal(safe, &authSafe); err != nil {
		return "", err
	}
	for _, ci := range authSafe {
		contents, err := dataContent(ci)
		if err != nil {
			continue // an encrypted safe: certificates, in keytool and OpenSSL files
		}
		var bags []p12SafeBag
		if _, err := asn1.Unmarshal(contents, &bags); err != nil {
			return "", err
		}
		for _, bag := range bags {
			if !bag.ID.Equal(oidShroudedKeyBag) && !bag.ID.Equal(oidKeyBag) {
				continue
			}
			for _, a := range bag.Attributes {
				if a.ID.Equal(oidFriendlyName) {
					return decodeBMP(a.Value.Bytes)
				}
			}
		}
	}
	return "", errNoFriendlyName
}

func dataContent(ci p12ContentInfo) ([]byte, error) {
	if !ci.ContentType.Equal(oidData) {
		return nil, errNotDataContained
	}
	var b []byte
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &b); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeBMP decodes a DER BMPString (tag 30): big-endian UTF-16.
func decodeBMP(der []byte) (string, error) {
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return "", err
	}
	if raw.Tag != asn1.TagBMPString || len(raw.Bytes)%2 != 0 {
		return "", errNoFriendlyName
	}
	u := make([]uint16, len(raw.Bytes)/2)
	for i := range u {
		u[i] = uint16(raw.Bytes[2*i])<<8 | uint16(raw.Bytes[2*i+1])
	}
	return string(utf16.Decode(u)), nil
}

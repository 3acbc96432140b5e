package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// WritePEMCert writes certificates as PEM CERTIFICATE blocks (mode 0644:
// certificates are public), replacing any file at path atomically.
func WritePEMCert(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("write PEM certificate: no certificates")
	}
	var buf bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return fmt.Errorf("write PEM certificate %s: %w", path, err)
		}
	}
	return writeFileAtomic(path, buf.Bytes(), 0o644)
}

// WritePEMKey writes an unencrypted PKCS#8 PRIVATE KEY block (mode 0600), for
// peers such as rsyslog that read key files.
func WritePEMKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("write PEM key %s: %w", path, err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// PEM block types a keystore file may hold.
const (
	pemCert         = "CERTIFICATE"
	pemTrustedCert  = "TRUSTED CERTIFICATE" // OpenSSL's: a certificate followed by trust settings
	pemPKCS8        = "PRIVATE KEY"
	pemEncPKCS8     = "ENCRYPTED PRIVATE KEY"
	pemRSA          = "RSA PRIVATE KEY"
	pemEC           = "EC PRIVATE KEY"
	pemECParameters = "EC PARAMETERS" // written by openssl ecparam -genkey; carries nothing we need
)

// pemBlocks splits data into its PEM blocks, refusing a block that does not
// decode (a truncated file, a damaged header).
func pemBlocks(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		b, r := pem.Decode(rest)
		if b == nil {
			if bytes.Contains(rest, []byte("-----BEGIN ")) {
				return nil, fail(ErrCorrupt, "PEM block %d is truncated or malformed", len(blocks)+1)
			}
			return blocks, nil
		}
		blocks = append(blocks, b)
		rest = r
	}
}

func isEncryptedKey(b *pem.Block) bool {
	//lint:ignore SA1019 legacy OpenSSL encryption is what operators' files have
	return b.Type == pemEncPKCS8 || ((b.Type == pemRSA || b.Type == pemEC) && x509.IsEncryptedPEMBlock(b)) //nolint:staticcheck
}

func pemNeedsPassword(data []byte) (bool, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return false, err
	}
	for _, b := range blocks {
		if isEncryptedKey(b) {
			return true, nil
		}
	}
	return false, nil
}

// parsePEM reads certificates and at most one private key. Certificates alone
// are a trust store; a key makes a key entry of the certificates that form
// its chain, and the others are trusted entries.
func parsePEM(data, password []byte) (*Keystore, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var (
		certs []*x509.Certificate
		key   crypto.Signer
	)
	for i, b := range blocks {
		n := i + 1
		switch b.Type {
		case pemCert, pemTrustedCert:
			der := b.Bytes
			if b.Type == pemTrustedCert {
				var raw asn1.RawValue
				if _, err := asn1.Unmarshal(der, &raw); err != nil {
					return nil, fail(ErrCorrupt, "PEM block %d (%s): %v", n, b.Type, err)
				}
				der = raw.FullBytes
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fail(ErrCorrupt, "PEM block %d (%s): %v", n, b.Type, err)
			}
			certs = append(certs, c)
		case pemPKCS8, pemEncPKCS8, pemRSA, pemEC:
			if key != nil {
				return nil, fail(ErrUnsupported, "PEM block %d is a second private key; a PEM keystore holds one", n)
			}
			k, err := pemKey(b, password)
			if err != nil {
				return nil, err
			}
			key = k
		case pemECParameters:
		default:
			return nil, fail(ErrUnsupported, "PEM block %d is %q, not a certificate or a private key", n, b.Type)
		}
	}
	if len(blocks) == 0 {
		return nil, fail(ErrCorrupt, "the file holds no PEM block")
	}
	ks := &Keystore{}
	if key == nil {
		for _, c := range certs {
			ks.Trusted = append(ks.Trusted, TrustedEntry{Cert: c})
		}
		return ks, nil
	}
	b, rest, err := bundleFor(key, certs)
	if err != nil {
		return nil, err
	}
	ks.Keys = []KeyEntry{{Bundle: b}}
	for _, c := range rest {
		ks.Trusted = append(ks.Trusted, TrustedEntry{Cert: c})
	}
	return ks, nil
}

// pemKey decodes one private key block, decrypting it when it is encrypted.
func pemKey(b *pem.Block, password []byte) (crypto.Signer, error) {
	der := b.Bytes
	encrypted := isEncryptedKey(b)
	if encrypted && len(password) == 0 {
		return nil, fail(ErrWrongPassword, "")
	}
	var err error
	switch {
	case b.Type == pemEncPKCS8:
		if der, err = decryptPKCS8(der, password); err != nil {
			return nil, err
		}
	case encrypted:
		//lint:ignore SA1019 legacy OpenSSL encryption is what operators' files have
		der, err = x509.DecryptPEMBlock(b, password) //nolint:staticcheck
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fail(ErrWrongPassword, "")
		}
		if err != nil {
			return nil, fail(ErrUnsupported, "encrypted %s: %v", b.Type, err)
		}
	}
	var key any
	switch b.Type {
	case pemPKCS8, pemEncPKCS8:
		key, err = x509.ParsePKCS8PrivateKey(der)
	case pemRSA:
		key, err = x509.ParsePKCS1PrivateKey(der)
	case pemEC:
		key, err = x509.ParseECPrivateKey(der)
	}
	if err != nil {
		if encrypted {
			// The padding happened to check out; the plaintext did not.
			return nil, fail(ErrWrongPassword, "")
		}
		if strings.Contains(err.Error(), "unknown algorithm") {
			return nil, fail(ErrUnsupported, "%s: %v", b.Type, err)
		}
		return nil, fail(ErrCorrupt, "%s: %v", b.Type, err)
	}
	return asSigner(key)
}

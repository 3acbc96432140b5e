// Package certs holds Ferry's key material: SSH host keys now; the local CA,
// keystores and tls.Config builders as the appliance grows.
package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// Host key algorithms Ferry generates on first boot, in the order clients are offered them.
const (
	HostKeyEd25519 = "ed25519"
	HostKeyRSA     = "rsa"
)

// HostKeyAlgorithms lists the host keys every Ferry has.
var HostKeyAlgorithms = []string{HostKeyEd25519, HostKeyRSA}

// rsaBits follows current guidance for RSA host keys (ssh-keygen's default is 3072).
const rsaBits = 3072

// NewHostKey generates a host private key and returns it in OpenSSH PEM form.
func NewHostKey(algorithm string) ([]byte, error) {
	var key any
	switch algorithm {
	case HostKeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %s host key: %w", algorithm, err)
		}
		key = priv
	case HostKeyRSA:
		priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate %s host key: %w", algorithm, err)
		}
		key = priv
	default:
		return nil, fmt.Errorf("host key algorithm %q is not supported", algorithm)
	}
	block, err := gossh.MarshalPrivateKey(key, "ferry host key")
	if err != nil {
		return nil, fmt.Errorf("encode %s host key: %w", algorithm, err)
	}
	return pem.EncodeToMemory(block), nil
}

// ParseHostKey decodes a stored host key.
func ParseHostKey(algorithm string, pemBytes []byte) (gossh.Signer, error) {
	s, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", algorithm, err)
	}
	return s, nil
}

// KeygenLine formats a public key the way `ssh-keygen -lf` does:
// "<bits> SHA256:<fingerprint> <comment> (<TYPE>)".
func KeygenLine(pub gossh.PublicKey, comment string) string {
	bits, typ := 0, strings.ToUpper(strings.TrimPrefix(pub.Type(), "ssh-"))
	if ck, ok := pub.(gossh.CryptoPublicKey); ok {
		switch k := ck.CryptoPublicKey().(type) {
		case ed25519.PublicKey:
			bits = 256
		case *rsa.PublicKey:
			bits = k.N.BitLen()
		case *ecdsa.PublicKey:
			bits, typ = k.Curve.Params().BitSize, "ECDSA"
		}
	}
	if comment == "" {
		comment = "no comment"
	}
	return fmt.Sprintf("%d %s %s (%s)", bits, gossh.FingerprintSHA256(pub), comment, typ)
}

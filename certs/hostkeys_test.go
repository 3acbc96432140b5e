package certs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/certs"
)

// RSA generation is the slow part; generate each algorithm once per test binary.
var (
	keysOnce sync.Once
	keyPEM   map[string][]byte
	keyErr   map[string]error
)

func hostKey(t *testing.T, algorithm string) []byte {
	t.Helper()
	keysOnce.Do(func() {
		keyPEM, keyErr = map[string][]byte{}, map[string]error{}
		for _, alg := range certs.HostKeyAlgorithms {
			keyPEM[alg], keyErr[alg] = certs.NewHostKey(alg)
		}
	})
	if err := keyErr[algorithm]; err != nil {
		t.Fatalf("NewHostKey(%s): %v", algorithm, err)
	}
	return keyPEM[algorithm]
}

func TestNewHostKeyRoundTrip(t *testing.T) {
	tests := []struct {
		algorithm string
		sshType   string
		bits      int
	}{
		{certs.HostKeyEd25519, gossh.KeyAlgoED25519, 0},
		{certs.HostKeyRSA, gossh.KeyAlgoRSA, 3072},
	}
	for _, tc := range tests {
		t.Run(tc.algorithm, func(t *testing.T) {
			pemBytes := hostKey(t, tc.algorithm)
			if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
				t.Errorf("NewHostKey(%s) is not an OpenSSH PEM key: %.60q", tc.algorithm, pemBytes)
			}
			signer, err := certs.ParseHostKey(tc.algorithm, pemBytes)
			if err != nil {
				t.Fatalf("ParseHostKey: %v", err)
			}
			pub := signer.PublicKey()
			if pub.Type() != tc.sshType {
				t.Errorf("public key type = %q, want %q", pub.Type(), tc.sshType)
			}
			if tc.bits != 0 {
				ck, ok := pub.(gossh.CryptoPublicKey)
				if !ok {
					t.Fatalf("%T is not a CryptoPublicKey", pub)
				}
				rsaPub, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
				if !ok {
					t.Fatalf("crypto key is %T, want *rsa.PublicKey", ck.CryptoPublicKey())
				}
				if got := rsaPub.N.BitLen(); got != tc.bits {
					t.Errorf("RSA modulus is %d bits, want %d", got, tc.bits)
				}
			}
			// The parsed key signs, and the signature verifies with its public key.
			data := []byte("ferry host key check")
			sig, err := signer.Sign(rand.Reader, data)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if err := pub.Verify(data, sig); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestNewHostKeyIsFresh(t *testing.T) {
	a, err := certs.NewHostKey(certs.HostKeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	b, err := certs.NewHostKey(certs.HostKeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := certs.ParseHostKey(certs.HostKeyEd25519, a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := certs.ParseHostKey(certs.HostKeyEd25519, b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sa.PublicKey().Marshal(), sb.PublicKey().Marshal()) {
		t.Error("two NewHostKey calls returned the same key")
	}
}

func TestNewHostKeyUnknownAlgorithm(t *testing.T) {
	for _, alg := range []string{"", "dsa", "ecdsa", "ED25519", "ssh-rsa"} {
		if key, err := certs.NewHostKey(alg); err == nil || key != nil {
			t.Errorf("NewHostKey(%q) = %d bytes, %v; want nil, an error", alg, len(key), err)
		}
	}
}

func TestParseHostKeyRejectsGarbage(t *testing.T) {
	tests := map[string][]byte{
		"empty":     nil,
		"not pem":   []byte("not a key"),
		"truncated": hostKey(t, certs.HostKeyEd25519)[:100],
	}
	for name, in := range tests {
		s, err := certs.ParseHostKey("ed25519", in)
		if err == nil {
			t.Errorf("%s: ParseHostKey = %v, nil; want an error", name, s)
			continue
		}
		if !strings.Contains(err.Error(), "ed25519") {
			t.Errorf("%s: error %q does not name the algorithm", name, err)
		}
	}
}

func TestKeygenLineMatchesSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		keygen = "/usr/bin/ssh-keygen"
	}
	const comment = "ferry host key"
	for _, alg := range certs.HostKeyAlgorithms {
		t.Run(alg, func(t *testing.T) {
			signer, err := certs.ParseHostKey(alg, hostKey(t, alg))
			if err != nil {
				t.Fatal(err)
			}
			pub := signer.PublicKey()
			authorized := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pub))) + " " + comment + "\n"
			file := filepath.Join(t.TempDir(), "key.pub")
			if err := os.WriteFile(file, []byte(authorized), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(keygen, "-lf", file).CombinedOutput()
			if err != nil {
				t.Fatalf("ssh-keygen -lf: %v\n%s", err, out)
			}
			want := strings.TrimSpace(string(out))
			if got := certs.KeygenLine(pub, comment); got != want {
				t.Errorf("KeygenLine = %q\nssh-keygen -lf prints %q", got, want)
			}
		})
	}
}

// KeygenLine also matches ssh-keygen for keys without a comment and for ECDSA keys,
// which operators may add with account.addKey.
func TestKeygenLineEdgeCasesMatchSSHKeygen(t *testing.T) {
	for _, tc := range []struct{ typ, bits, comment string }{
		{"ed25519", "", ""},
		{"ecdsa", "256", "ops@laptop"},
		{"ecdsa", "384", ""},
	} {
		t.Run(tc.typ+tc.bits+tc.comment, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "k")
			args := []string{"-q", "-t", tc.typ, "-N", "", "-C", tc.comment, "-f", key}
			if tc.bits != "" {
				args = append(args, "-b", tc.bits)
			}
			if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen: %v %s", err, out)
			}
			raw, _ := os.ReadFile(key + ".pub")
			pub, _, _, _, err := gossh.ParseAuthorizedKey(raw)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("ssh-keygen", "-lf", key+".pub").CombinedOutput()
			if err != nil {
				t.Fatalf("ssh-keygen -lf: %v %s", err, out)
			}
			if got, want := certs.KeygenLine(pub, tc.comment), strings.TrimSpace(string(out)); got != want {
				t.Errorf("KeygenLine = %q, ssh-keygen -lf prints %q", got, want)
			}
		})
	}
}

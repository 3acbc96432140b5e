package certs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/certs"
)

// fuzzPassword opens every keystore in testdata/fuzz/FuzzLoad (see testdata/README.md).
const fuzzPassword = "changeit"

var sentinels = []error{certs.ErrWrongPassword, certs.ErrNotFound, certs.ErrWrongType,
	certs.ErrCorrupt, certs.ErrNoEntries, certs.ErrUnsupported}

// checkKeystoreError requires err to be an *Error for path wrapping exactly one sentinel.
func checkKeystoreError(t *testing.T, what, path string, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	var ke *certs.Error
	if n != 1 || !errors.As(err, &ke) || ke.Path != path {
		t.Fatalf("%s: error %q is not a keystore error for %s with one sentinel", what, err, path)
	}
}

// FuzzLoad feeds arbitrary file content to Load and NeedsPassword as each
// type. They must not panic, every failure must be a keystore error with one
// sentinel, and what loads must be consistent.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "keystore")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, typ := range certs.Types() {
			_, err := certs.NeedsPassword(path, typ)
			if err != nil {
				checkKeystoreError(t, "NeedsPassword "+typ.String(), path, err)
			}
			ks, err := certs.Load(path, typ, []byte(fuzzPassword))
			if err != nil {
				checkKeystoreError(t, "Load "+typ.String(), path, err)
				continue
			}
			sum := ks.Summary()
			if len(sum) == 0 || len(sum) != len(ks.Keys)+len(ks.Trusted) {
				t.Fatalf("Load %s: %d summary entries for %d keys and %d trusted", typ, len(sum), len(ks.Keys), len(ks.Trusted))
			}
			for _, k := range ks.Keys {
				if k.Key == nil || k.Cert == nil {
					t.Fatalf("Load %s: key entry %q without key or certificate", typ, k.Alias)
				}
				checkSigns(t, k.Key, k.Cert)
				_ = k.TLSCertificate()
			}
		}
	})
}

// TestFuzzSeedsLoad keeps the committed seed corpus meaningful: each seed
// still loads (or fails) as its name says, so the fuzzer starts from valid
// keystores of every format.
func TestFuzzSeedsLoad(t *testing.T) {
	for _, tc := range []struct {
		seed         string
		typ          certs.Type
		keys, trusts int
		err          error
	}{
		{"key.jks", certs.JKS, 1, 0, nil},
		{"trust.jks", certs.JKS, 0, 1, nil},
		{"key.p12", certs.PKCS12, 1, 0, nil},
		{"trust.p12", certs.PKCS12, 0, 1, nil},
		{"ossl.p12", certs.PKCS12, 1, 0, nil},
		{"cert.pem", certs.PEM, 0, 1, nil},
		{"bundle-plain.pem", certs.PEM, 1, 0, nil},
		{"bundle-pkcs8enc.pem", certs.PEM, 1, 0, nil},
		{"bundle-legacyenc.pem", certs.PEM, 1, 0, nil},
		{"truncated.jks", certs.JKS, 0, 0, certs.ErrCorrupt},
		{"jceks.bin", certs.JKS, 0, 0, certs.ErrUnsupported},
	} {
		t.Run(tc.seed, func(t *testing.T) {
			data := readSeed(t, tc.seed)
			path := writeTemp(t, tc.seed, data)
			ks, err := certs.Load(path, tc.typ, []byte(fuzzPassword))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Load = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ks.Keys) != tc.keys || len(ks.Trusted) != tc.trusts {
				t.Errorf("%d keys, %d trusted; want %d, %d", len(ks.Keys), len(ks.Trusted), tc.keys, tc.trusts)
			}
		})
	}
}

// readSeed decodes a `go test fuzz v1` corpus file holding one []byte.
func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLoad", name))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := bytes.CutPrefix(raw, []byte("go test fuzz v1\n[]byte("))
	if !ok {
		t.Fatalf("%s is not a fuzz corpus file", name)
	}
	q := strings.TrimSuffix(strings.TrimSpace(string(body)), ")")
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

package certs_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/ferry-appliance/ferry/certs"
)

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want certs.Type
		ok   bool
	}{
		{"JKS", certs.JKS, true},
		{"jks", certs.JKS, true},
		{"PKCS12", certs.PKCS12, true},
		{"pkcs12", certs.PKCS12, true},
		{"P12", certs.PKCS12, true},
		{"pfx", certs.PKCS12, true},
		{"Pem", certs.PEM, true},
		{" PEM ", certs.PEM, true},
		{"", "", false},
		{"JCEKS", "", false},
		{"pkcs", "", false},
		{"der", "", false},
	} {
		got, err := certs.ParseType(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "JKS, PKCS12 or PEM") {
			t.Errorf("ParseType(%q) error %q does not list the types", tc.in, err)
		}
	}
}

// wantEntry is what a loaded entry must look like.
type wantEntry struct {
	kind     certs.EntryKind
	alias    string
	subject  string // substring of the subject
	issuer   string // substring of the issuer
	sans     []string
	chainLen int
}

func TestLoadToolMadeKeystores(t *testing.T) {
	dir := fixtures(t)
	caPEM, err := os.ReadFile(filepath.Join(dir, fxCAPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	leaf := wantEntry{certs.KeyEntryKind, "", "CN=" + fxLeafCN, "CN=" + fxCACN, []string{fxLeafCN, "127.0.0.1"}, 2}
	root := wantEntry{certs.TrustedEntryKind, "", "CN=" + fxCACN, "CN=" + fxCACN, nil, 1}
	withAlias := func(e wantEntry, alias string) wantEntry { e.alias = alias; return e }
	for _, tc := range []struct {
		name, file string
		typ        certs.Type
		password   string
		want       []wantEntry
		verify     bool // the key entry's chain verifies against the test root
	}{
		{"keytool PKCS12 RSA", fxKtP12, certs.PKCS12, ktPass, []wantEntry{
			{certs.KeyEntryKind, "kt-server", "CN=" + fxKtP12CN, "CN=" + fxKtP12CN, []string{fxKtP12CN, "127.0.0.1"}, 1}}, false},
		{"keytool JKS RSA", fxKtJKS, certs.JKS, ktPass, []wantEntry{
			{certs.KeyEntryKind, "kt-jks-server", "CN=" + fxKtJKSCN, "CN=" + fxKtJKSCN, []string{fxKtJKSCN, "127.0.0.1"}, 1}}, false},
		{"keytool JKS EC", fxKtECJKS, certs.JKS, ktPass, []wantEntry{
			{certs.KeyEntryKind, "kt-ec", "CN=" + fxKtECCN, "CN=" + fxKtECCN, []string{fxKtECCN, "127.0.0.1"}, 1}}, false},
		{"keytool JKS trust store", fxKtTrustJKS, certs.JKS, trustPass, []wantEntry{withAlias(root, "test-root")}, false},
		{"keytool PKCS12 trust store", fxKtTrustP12, certs.PKCS12, trustPass, []wantEntry{root}, false},
		{"openssl pkcs12 -export", fxOsslP12, certs.PKCS12, p12Pass, []wantEntry{withAlias(leaf, "ossl-leaf")}, true},
		{"openssl pkcs12 -export -legacy", fxOsslLegacy, certs.PKCS12, p12Pass, []wantEntry{withAlias(leaf, "ossl-legacy")}, true},
		{"PEM certificate only", fxCAPEM, certs.PEM, "", []wantEntry{root}, false},
		{"PEM certificate only, password ignored", fxCAPEM, certs.PEM, "anything", []wantEntry{root}, false},
		{"PEM chain, PKCS#8 key", fxChainPlain, certs.PEM, "", []wantEntry{leaf}, true},
		{"PEM chain, encrypted PKCS#8 AES-256", fxChainEnc, certs.PEM, pemPass, []wantEntry{leaf}, true},
		{"PEM chain, encrypted PKCS#8 3DES SHA-1", fxChainDES, certs.PEM, pemPass, []wantEntry{leaf}, true},
		{"PEM chain, PKCS#1 key", fxChainPKCS1, certs.PEM, "", []wantEntry{leaf}, true},
		{"PEM chain, encrypted PKCS#1 key", fxChainPKCS1E, certs.PEM, pemPass, []wantEntry{leaf}, true},
		{"PEM openssl req -x509 encrypted key", fxSelfEnc, certs.PEM, pemPass, []wantEntry{
			{certs.KeyEntryKind, "", "CN=" + fxSelfCN, "CN=" + fxSelfCN, []string{fxSelfCN}, 1}}, false},
		{"PEM EC key with parameters", fxECBundle, certs.PEM, "", []wantEntry{
			{certs.KeyEntryKind, "", "CN=" + fxECCN, "CN=" + fxECCN, nil, 1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.file)
			ks, err := certs.Load(path, tc.typ, []byte(tc.password))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if ks.Path != path || ks.Type != tc.typ {
				t.Errorf("Load gave path %q type %q", ks.Path, ks.Type)
			}
			sum := ks.Summary()
			if len(sum) != len(tc.want) {
				t.Fatalf("Summary has %d entries, want %d: %+v", len(sum), len(tc.want), sum)
			}
			for i, w := range tc.want {
				checkEntry(t, sum[i], w)
			}
			if tc.want[0].kind == certs.TrustedEntryKind {
				if _, err := ks.KeyPair(); !errors.Is(err, certs.ErrNoEntries) {
					t.Errorf("KeyPair on a trust store = %v, want ErrNoEntries", err)
				}
				if _, err := ks.TrustPool(); err != nil {
					t.Errorf("TrustPool: %v", err)
				}
				return
			}
			kp, err := ks.KeyPair()
			if err != nil {
				t.Fatalf("KeyPair: %v", err)
			}
			checkSigns(t, kp.Key, kp.Cert)
			if tc.verify {
				inter := x509.NewCertPool()
				for _, c := range kp.Chain {
					inter.AddCert(c)
				}
				if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
					t.Errorf("the loaded chain does not verify against the test root: %v", err)
				}
				if got := kp.Chain[len(kp.Chain)-1].Subject.CommonName; got != fxCACN {
					t.Errorf("chain ends in %q, want the root", got)
				}
			}
		})
	}
}

func checkEntry(t *testing.T, got certs.EntrySummary, w wantEntry) {
	t.Helper()
	if got.Kind != w.kind || got.Alias != w.alias {
		t.Errorf("entry kind %q alias %q, want %q %q", got.Kind, got.Alias, w.kind, w.alias)
	}
	if !strings.Contains(got.Subject, w.subject) || !strings.Contains(got.Issuer, w.issuer) {
		t.Errorf("entry subject %q issuer %q, want %q, %q", got.Subject, got.Issuer, w.subject, w.issuer)
	}
	if w.sans != nil && !slices.Equal(got.SANs, w.sans) {
		t.Errorf("entry SANs %q, want %q", got.SANs, w.sans)
	}
	if got.ChainLength != w.chainLen {
		t.Errorf("entry chain length %d, want %d", got.ChainLength, w.chainLen)
	}
	if !got.NotBefore.Before(got.NotAfter) || got.NotAfter.Sub(got.NotBefore).Hours() < 24*29 {
		t.Errorf("entry validity %v .. %v, want the 30 days the tools were given", got.NotBefore, got.NotAfter)
	}
	if len(got.SHA256) != 32*3-1 || strings.ToUpper(got.SHA256) != got.SHA256 || strings.Count(got.SHA256, ":") != 31 {
		t.Errorf("fingerprint %q is not keytool's colon hex", got.SHA256)
	}
}

// checkSigns proves key is the private key of cert.
func checkSigns(t *testing.T, key crypto.Signer, cert *x509.Certificate) {
	t.Helper()
	digest := sha256.Sum256([]byte("ferry"))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	alg := x509.SHA256WithRSA
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		alg = x509.ECDSAWithSHA256
	}
	if err := cert.CheckSignature(alg, []byte("ferry"), sig); err != nil {
		t.Errorf("the key does not match the certificate: %v", err)
	}
}

// writeTemp writes data to a new file in a test directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadErrors(t *testing.T) {
	dir := fixtures(t)
	fx := func(name string) func(*testing.T) string {
		return func(*testing.T) string { return filepath.Join(dir, name) }
	}
	data := func(name string, b func(t *testing.T) []byte) func(*testing.T) string {
		return func(t *testing.T) string { return writeTemp(t, name, b(t)) }
	}
	random := func(n int) func(*testing.T) []byte {
		return func(*testing.T) []byte { b := make([]byte, n); rand.Read(b); b[0] = 0x42; return b }
	}
	truncated := func(name string, keep float64) func(*testing.T) []byte {
		return func(t *testing.T) []byte { b := readFixture(t, name); return b[:int(float64(len(b))*keep)] }
	}
	emptyJKS := func(t *testing.T) []byte {
		var buf bytes.Buffer
		if err := keystore.New().Store(&buf, []byte(ktPass)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	const wrongPW = "keystore password was incorrect"
	for _, tc := range []struct {
		name     string
		path     func(*testing.T) string
		typ      certs.Type
		password string
		want     error
		detail   string // the message is `keystore "<path>": <sentinel>` plus this
	}{
		{"wrong password keytool PKCS12", fx(fxKtP12), certs.PKCS12, "wrong-pass", certs.ErrWrongPassword, ""},
		{"wrong password keytool JKS", fx(fxKtJKS), certs.JKS, "wrong-pass", certs.ErrWrongPassword, ""},
		{"wrong password keytool JKS trust store", fx(fxKtTrustJKS), certs.JKS, ktPass, certs.ErrWrongPassword, ""},
		{"wrong password keytool PKCS12 trust store", fx(fxKtTrustP12), certs.PKCS12, ktPass, certs.ErrWrongPassword, ""},
		{"wrong password openssl PKCS12", fx(fxOsslP12), certs.PKCS12, "wrong-pass", certs.ErrWrongPassword, ""},
		{"wrong password openssl legacy PKCS12", fx(fxOsslLegacy), certs.PKCS12, "", certs.ErrWrongPassword, ""},
		{"wrong password PEM PKCS#8", fx(fxChainEnc), certs.PEM, "wrong-pass", certs.ErrWrongPassword, ""},
		{"wrong password PEM PKCS#8 3DES", fx(fxChainDES), certs.PEM, "wrong-pass", certs.ErrWrongPassword, ""},
		{"wrong password PEM PKCS#1", fx(fxChainPKCS1E), certs.PEM, "wrong-pass", certs.ErrWrongPassword, ""},
		{"no password for encrypted PEM", fx(fxSelfEnc), certs.PEM, "", certs.ErrWrongPassword, ""},

		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.jks") }, certs.JKS, ktPass, certs.ErrNotFound, ""},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "no", "such.pfx") }, certs.PKCS12, ktPass, certs.ErrNotFound, ""},

		{"PKCS12 loaded as JKS", fx(fxKtP12), certs.JKS, ktPass, certs.ErrWrongType, "the file is a PKCS12 keystore, not JKS"},
		{"PKCS12 loaded as PEM", fx(fxOsslP12), certs.PEM, p12Pass, certs.ErrWrongType, "the file is a PKCS12 keystore, not PEM"},
		{"JKS loaded as PKCS12", fx(fxKtJKS), certs.PKCS12, ktPass, certs.ErrWrongType, "the file is a JKS keystore, not PKCS12"},
		{"JKS loaded as PEM", fx(fxKtTrustJKS), certs.PEM, trustPass, certs.ErrWrongType, "the file is a JKS keystore, not PEM"},
		{"PEM loaded as JKS", fx(fxCAPEM), certs.JKS, "", certs.ErrWrongType, "the file is a PEM file, not JKS"},
		{"PEM loaded as PKCS12", fx(fxChainPlain), certs.PKCS12, "", certs.ErrWrongType, "the file is a PEM file, not PKCS12"},
		{"DER certificate loaded as PEM", fx(fxCADER), certs.PEM, "", certs.ErrWrongType, "the file is a DER (binary) certificate, not PEM"},

		{"random bytes as JKS", data("r.jks", random(2048)), certs.JKS, ktPass, certs.ErrCorrupt, "the file is not JKS keystore"},
		{"random bytes as PKCS12", data("r.p12", random(2048)), certs.PKCS12, ktPass, certs.ErrCorrupt, "the file is not PKCS12 keystore"},
		{"random bytes as PEM", data("r.pem", random(2048)), certs.PEM, "", certs.ErrCorrupt, "the file is not PEM file"},
		{"empty file", data("e.jks", func(*testing.T) []byte { return nil }), certs.JKS, ktPass, certs.ErrCorrupt, "the file is empty"},
		{"truncated keytool JKS", data("t.jks", truncated(fxKtJKS, 0.5)), certs.JKS, ktPass, certs.ErrCorrupt, "truncated at byte"},
		{"JKS without its digest", data("t.jks", truncated(fxKtTrustJKS, 0.99)), certs.JKS, trustPass, certs.ErrCorrupt, "(digest)"},
		{"truncated keytool PKCS12", data("t.p12", truncated(fxKtP12, 0.5)), certs.PKCS12, ktPass, certs.ErrCorrupt, "error reading P12 data"},
		{"truncated openssl PKCS12", data("t.p12", truncated(fxOsslP12, 0.9)), certs.PKCS12, p12Pass, certs.ErrCorrupt, "error reading P12 data"},
		{"truncated PEM chain", data("t.pem", truncated(fxChainPlain, 0.6)), certs.PEM, "", certs.ErrCorrupt, "is truncated or malformed"},
		{"damaged PEM certificate", data("d.pem", func(t *testing.T) []byte {
			b := readFixture(t, fxCAPEM)
			return bytes.Replace(b, []byte("\nMII"), []byte("\nMIA"), 1)
		}), certs.PEM, "", certs.ErrCorrupt, "PEM block 1 (CERTIFICATE)"},
		{"PEM key of another certificate", data("m.pem", func(t *testing.T) []byte {
			return append(readFixture(t, fxLeafKey), readFixture(t, fxCAPEM)...)
		}), certs.PEM, "", certs.ErrCorrupt, "the private key does not match any certificate"},

		{"JKS with no entries", data("0.jks", emptyJKS), certs.JKS, ktPass, certs.ErrNoEntries, "the JKS keystore is empty"},
		{"PEM key without certificate", fx(fxLeafKey), certs.PEM, "", certs.ErrNoEntries, "a private key without a certificate"},
		{"PEM without blocks", data("n.pem", func(*testing.T) []byte { return []byte("hello -----BEGIN \n") }), certs.PEM, "", certs.ErrCorrupt, "PEM block 1 is truncated"},

		{"JCEKS loaded as JKS", data("j.jks", func(*testing.T) []byte {
			return append([]byte{0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2}, make([]byte, 40)...)
		}), certs.JKS, ktPass, certs.ErrUnsupported, "JCEKS keystores are not supported"},
		{"PEM with a PBES1 key", fx(fxChainV1), certs.PEM, pemPass, certs.ErrUnsupported, "only PBES2"},
		{"PEM with two keys", data("2.pem", func(t *testing.T) []byte {
			return append(readFixture(t, fxChainPlain), readFixture(t, fxECKey)...)
		}), certs.PEM, "", certs.ErrUnsupported, "a second private key"},
		{"PEM with a CSR", fx(fxLeafCSR), certs.PEM, "", certs.ErrUnsupported, `PEM block 1 is "CERTIFICATE REQUEST"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.path(t)
			ks, err := certs.Load(path, tc.typ, []byte(tc.password))
			if err == nil {
				t.Fatalf("Load = %d keys, %d trusted; want %v", len(ks.Keys), len(ks.Trusted), tc.want)
			}
			for _, other := range []error{certs.ErrWrongPassword, certs.ErrNotFound, certs.ErrWrongType,
				certs.ErrCorrupt, certs.ErrNoEntries, certs.ErrUnsupported} {
				if errors.Is(err, other) != (other == tc.want) {
					t.Fatalf("Load error %q: errors.Is(%v) = %v", err, other, !(other == tc.want))
				}
			}
			prefix := `keystore "` + path + `": ` + tc.want.Error()
			if tc.want == certs.ErrWrongPassword && err.Error() != `keystore "`+path+`": `+wrongPW {
				t.Errorf("error %q, want exactly %q", err, `keystore "`+path+`": `+wrongPW)
			}
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q, want %q with %q", err, prefix, tc.detail)
			}
			var ke *certs.Error
			if !errors.As(err, &ke) || ke.Path != path {
				t.Errorf("error %q is not a *certs.Error for the path", err)
			}
		})
	}
}

func TestNeedsPassword(t *testing.T) {
	dir := fixtures(t)
	for _, tc := range []struct {
		file string
		typ  certs.Type
		want bool
		err  error
	}{
		{fxCAPEM, certs.PEM, false, nil},
		{fxChainPlain, certs.PEM, false, nil},
		{fxChainPKCS1, certs.PEM, false, nil},
		{fxECBundle, certs.PEM, false, nil},
		{fxChainEnc, certs.PEM, true, nil},
		{fxChainPKCS1E, certs.PEM, true, nil},
		{fxSelfEnc, certs.PEM, true, nil},
		{fxKtP12, certs.PKCS12, true, nil},
		{fxKtTrustJKS, certs.JKS, true, nil},
		{fxKtP12, certs.PEM, false, certs.ErrWrongType},
		{fxCAPEM, certs.JKS, false, certs.ErrWrongType},
		{"missing.pem", certs.PEM, false, certs.ErrNotFound},
	} {
		got, err := certs.NeedsPassword(filepath.Join(dir, tc.file), tc.typ)
		if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("NeedsPassword(%s, %s) = %v, %v; want %v, %v", tc.file, tc.typ, got, err, tc.want, tc.err)
		}
	}
}

func TestTrustPoolNeedsTrustedEntries(t *testing.T) {
	ks, err := certs.Load(filepath.Join(fixtures(t), fxKtP12), certs.PKCS12, []byte(ktPass))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ks.TrustPool()
	if !errors.Is(err, certs.ErrNoEntries) || !strings.Contains(err.Error(), fxKtP12) {
		t.Errorf("TrustPool on a key store = %v, want ErrNoEntries naming the file", err)
	}
}

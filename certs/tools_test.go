package certs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The keystore tests run the real keytool and openssl. Both are test
// dependencies (scripts/install-test-deps.sh installs default-jre-headless and
// openssl); a machine without them fails the tests rather than skipping them.

var fixtureDir string // created in TestMain, shared by the tool-made fixtures

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-certs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by the certs tests and was not found in PATH: run scripts/install-test-deps.sh", name)
	}
	return p
}

// jvmFlags make each keytool run start faster (about 0.8 s instead of 1.1 s).
var jvmFlags = []string{"-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData"}

// runTool runs a tool in dir and returns its combined output, or an error
// that carries the command and the output.
func runTool(dir, name string, args ...string) (string, error) {
	if name == "keytool" {
		args = append(append([]string{}, jvmFlags...), args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func mustRun(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	requireTool(t, name)
	out, err := runTool(dir, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Passwords of the tool-made fixtures.
const (
	ktPass    = "kt-secret"
	trustPass = "trust-secret"
	pemPass   = "pem-secret"
	p12Pass   = "p12-secret"
)

// Tool-made fixtures, by file name under fixtureDir.
const (
	fxCAKey        = "ca.key"
	fxCAPEM        = "ca.pem"   // openssl req -x509: the test root CA
	fxCADER        = "ca.der"   // the same, DER
	fxLeafKey      = "leaf.key" // unencrypted PKCS#8 RSA
	fxLeafPEM      = "leaf.pem" // signed by the test root
	fxChainPlain   = "chain-plain.pem"
	fxChainEnc     = "chain-enc.pem"      // PBES2 AES-256-CBC, HMAC-SHA256
	fxChainDES     = "chain-enc-des3.pem" // PBES2 3DES-CBC, HMAC-SHA1
	fxChainPKCS1   = "chain-pkcs1.pem"
	fxChainPKCS1E  = "chain-pkcs1-enc.pem" // legacy Proc-Type encryption, AES-256
	fxChainV1      = "chain-pbes1.pem"     // PKCS#5 v1.5 PBE-SHA1-3DES: unsupported
	fxSelfEnc      = "self-enc.pem"        // openssl req -x509 with -passout: key then cert
	fxECBundle     = "ec-bundle.pem"       // openssl ecparam -genkey: EC PARAMETERS + EC PRIVATE KEY + cert
	fxOsslP12      = "ossl.p12"            // openssl pkcs12 -export (OpenSSL 3 defaults: AES-256)
	fxOsslLegacy   = "ossl-legacy.p12"     // openssl pkcs12 -export -legacy (RC2-40, 3DES, SHA-1 MAC)
	fxKtP12        = "kt.p12"              // keytool -genkeypair -storetype PKCS12, RSA
	fxKtJKS        = "kt.jks"              // keytool -genkeypair -storetype JKS, RSA
	fxKtECJKS      = "kt-ec.jks"           // keytool -genkeypair -storetype JKS, EC P-256
	fxKtTrustJKS   = "kt-trust.jks"        // keytool -importcert of ca.pem, JKS
	fxKtTrustP12   = "kt-trust.p12"        // keytool -importcert of ca.pem, PKCS12
	fxLeafCN       = "ossl-leaf.example"
	fxCACN         = "Ferry Test Root"
	fxKtP12CN      = "kt-p12.example"
	fxKtJKSCN      = "kt-jks.example"
	fxKtECCN       = "kt-ec.example"
	fxSelfCN       = "ossl-self.example"
	fxECCN         = "ossl-ec.example"
	fxLeafExtFile  = "leaf.ext"
	fxLeafCSR      = "leaf.csr"
	fxSelfKey      = "self.key"
	fxSelfCert     = "self.pem"
	fxECKey        = "ec.key"
	fxECCert       = "ec.pem"
	fxEncLeafKey   = "leaf-enc.key"
	fxDESLeafKey   = "leaf-des.key"
	fxPKCS1Key     = "leaf-pkcs1.key"
	fxPKCS1EncKey  = "leaf-pkcs1-enc.key"
	fxPBES1LeafKey = "leaf-pbes1.key"
)

var (
	fixturesOnce sync.Once
	fixturesErr  error
)

// fixtures makes the keytool and openssl files once per test binary, running
// independent tools in parallel, and returns the directory that holds them.
func fixtures(t testing.TB) string {
	t.Helper()
	requireTool(t, "keytool")
	requireTool(t, "openssl")
	fixturesOnce.Do(func() { fixturesErr = makeFixtures(fixtureDir) })
	if fixturesErr != nil {
		t.Fatalf("making keystore fixtures with keytool and openssl: %v", fixturesErr)
	}
	return fixtureDir
}

func makeFixtures(dir string) error {
	type step struct {
		tool string
		args []string
	}
	run := func(steps ...step) error {
		for _, s := range steps {
			if _, err := runTool(dir, s.tool, s.args...); err != nil {
				return err
			}
		}
		return nil
	}
	cat := func(out string, parts ...string) error {
		var b []byte
		for _, p := range parts {
			d, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return err
			}
			b = append(b, d...)
		}
		return os.WriteFile(filepath.Join(dir, out), b, 0o600)
	}
	genkey := func(file, alias, cn, storetype, alg string) step {
		args := []string{"-genkeypair", "-keyalg", alg, "-alias", alias, "-dname", "CN=" + cn + ", O=Ferry Test",
			"-ext", "san=dns:" + cn + ",ip:127.0.0.1", "-validity", "30", "-storetype", storetype,
			"-keystore", file, "-storepass", ktPass, "-keypass", ktPass}
		if alg == "RSA" {
			args = append(args, "-keysize", "2048")
		} else {
			args = append(args, "-groupname", "secp256r1")
		}
		return step{"keytool", args}
	}
	if err := os.WriteFile(filepath.Join(dir, fxLeafExtFile), []byte(
		"subjectAltName=DNS:"+fxLeafCN+",IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"+
			"basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o600); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	async := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	// keytool key stores: independent of everything else.
	async(func() error { return run(genkey(fxKtP12, "kt-server", fxKtP12CN, "PKCS12", "RSA")) })
	async(func() error { return run(genkey(fxKtJKS, "kt-jks-server", fxKtJKSCN, "JKS", "RSA")) })
	async(func() error { return run(genkey(fxKtECJKS, "kt-ec", fxKtECCN, "JKS", "EC")) })
	// openssl self-signed ones.
	async(func() error {
		return firstErr(
			run(step{"openssl", []string{"req", "-x509", "-newkey", "rsa:2048", "-keyout", fxSelfKey, "-out", fxSelfCert,
				"-subj", "/CN=" + fxSelfCN, "-days", "30", "-passout", "pass:" + pemPass, "-addext", "subjectAltName=DNS:" + fxSelfCN}}),
			func() error { return cat(fxSelfEnc, fxSelfKey, fxSelfCert) })
	})
	async(func() error {
		return firstErr(
			run(step{"openssl", []string{"ecparam", "-genkey", "-name", "prime256v1", "-out", fxECKey}},
				step{"openssl", []string{"req", "-x509", "-key", fxECKey, "-out", fxECCert, "-subj", "/CN=" + fxECCN, "-days", "30"}}),
			func() error { return cat(fxECBundle, fxECKey, fxECCert) })
	})
	// The CA, then what depends on it: a leaf, its key in every PEM form,
	// PKCS12 exports and keytool trust stores.
	async(func() error {
		if err := run(
			step{"openssl", []string{"req", "-x509", "-newkey", "rsa:2048", "-noenc", "-keyout", fxCAKey, "-out", fxCAPEM,
				"-subj", "/CN=" + fxCACN + "/O=Ferry Test", "-days", "30",
				"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"}},
			step{"openssl", []string{"x509", "-in", fxCAPEM, "-outform", "der", "-out", fxCADER}},
		); err != nil {
			return err
		}
		var inner sync.WaitGroup
		innerErr := make(chan error, 2)
		for _, s := range []step{
			{"keytool", []string{"-importcert", "-noprompt", "-alias", "test-root", "-file", fxCAPEM, "-storetype", "JKS",
				"-keystore", fxKtTrustJKS, "-storepass", trustPass}},
			{"keytool", []string{"-importcert", "-noprompt", "-alias", "test-root", "-file", fxCAPEM, "-storetype", "PKCS12",
				"-keystore", fxKtTrustP12, "-storepass", trustPass}},
		} {
			inner.Add(1)
			go func() {
				defer inner.Done()
				if err := run(s); err != nil {
					innerErr <- err
				}
			}()
		}
		err := run(
			step{"openssl", []string{"req", "-new", "-newkey", "rsa:2048", "-noenc", "-keyout", fxLeafKey, "-out", fxLeafCSR,
				"-subj", "/CN=" + fxLeafCN}},
			step{"openssl", []string{"x509", "-req", "-in", fxLeafCSR, "-CA", fxCAPEM, "-CAkey", fxCAKey, "-set_serial", "0x1f2e3d",
				"-days", "30", "-extfile", fxLeafExtFile, "-out", fxLeafPEM}},
			step{"openssl", []string{"pkcs8", "-topk8", "-in", fxLeafKey, "-v2", "aes-256-cbc", "-passout", "pass:" + pemPass, "-out", fxEncLeafKey}},
			step{"openssl", []string{"pkcs8", "-topk8", "-in", fxLeafKey, "-v2", "des3", "-v2prf", "hmacWithSHA1", "-passout", "pass:" + pemPass, "-out", fxDESLeafKey}},
			step{"openssl", []string{"pkcs8", "-topk8", "-in", fxLeafKey, "-v1", "PBE-SHA1-3DES", "-passout", "pass:" + pemPass, "-out", fxPBES1LeafKey}},
			step{"openssl", []string{"rsa", "-in", fxLeafKey, "-traditional", "-out", fxPKCS1Key}},
			step{"openssl", []string{"rsa", "-in", fxLeafKey, "-traditional", "-aes256", "-passout", "pass:" + pemPass, "-out", fxPKCS1EncKey}},
			step{"openssl", []string{"pkcs12", "-export", "-in", fxLeafPEM, "-inkey", fxLeafKey, "-certfile", fxCAPEM, "-name", "ossl-leaf",
				"-passout", "pass:" + p12Pass, "-out", fxOsslP12}},
			step{"openssl", []string{"pkcs12", "-export", "-legacy", "-in", fxLeafPEM, "-inkey", fxLeafKey, "-certfile", fxCAPEM, "-name", "ossl-legacy",
				"-passout", "pass:" + p12Pass, "-out", fxOsslLegacy}},
		)
		if err == nil {
			for out, key := range map[string]string{fxChainPlain: fxLeafKey, fxChainEnc: fxEncLeafKey, fxChainDES: fxDESLeafKey,
				fxChainPKCS1: fxPKCS1Key, fxChainPKCS1E: fxPKCS1EncKey, fxChainV1: fxPBES1LeafKey} {
				if err = cat(out, key, fxLeafPEM, fxCAPEM); err != nil {
					break
				}
			}
		}
		inner.Wait()
		close(innerErr)
		if err != nil {
			return err
		}
		return <-innerErr
	})
	wg.Wait()
	close(errs)
	return <-errs
}

func firstErr(err error, next func() error) error {
	if err != nil {
		return err
	}
	return next()
}

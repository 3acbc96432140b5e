package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T, path string) *Box {
	t.Helper()
	b, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	b, created, err := Open(path)
	if err != nil || !created {
		t.Fatalf("Open = %v, created %v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != keySize {
		t.Fatalf("key file: %v, mode %v, %d bytes", err, fi.Mode().Perm(), fi.Size())
	}
	sealed, _ := b.SealFor("keystore/a", []byte("hunter22"))
	b2, created, err := Open(path)
	if err != nil || created {
		t.Fatalf("second Open = %v, created %v; want the existing key", err, created)
	}
	if got, err := b2.OpenFor("keystore/a", sealed); err != nil || string(got) != "hunter22" {
		t.Fatalf("OpenFor after reopen = %q, %v", got, err)
	}
	if b2.Path() != path {
		t.Errorf("Path = %q", b2.Path())
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secret.key-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	b := open(t, filepath.Join(dir, "secret.key"))
	other := open(t, filepath.Join(dir, "other.key"))
	secret := []byte("correct horse battery")
	sealed, err := b.SealFor("keystore/ferry-web", secret)
	if err != nil || !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, string(secret)) {
		t.Fatalf("SealFor = %q, %v", sealed, err)
	}
	again, _ := b.SealFor("keystore/ferry-web", secret)
	if again == sealed {
		t.Error("two seals of the same secret are equal: the nonce is not random")
	}
	if got, err := b.OpenFor("keystore/ferry-web", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("OpenFor = %q, %v", got, err)
	}
	empty, _ := b.Seal(nil)
	if got, err := b.Open(empty); err != nil || len(got) != 0 {
		t.Errorf("empty secret: %q, %v", got, err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)-3] ^= 1
	if tampered[len(tampered)-3] == '-' || tampered[len(tampered)-3] == '_' {
		tampered[len(tampered)-3] = 'A'
	}
	tests := []struct {
		name    string
		box     *Box
		context string
		sealed  string
		want    error
	}{
		{"another key", other, "keystore/ferry-web", sealed, ErrWrongKey},
		{"another context", b, "keystore/ferry-base", sealed, ErrWrongKey},
		{"a changed byte", b, "keystore/ferry-web", string(tampered), ErrWrongKey},
		{"no prefix", b, "keystore/ferry-web", sealed[3:], ErrCorrupt},
		{"not base64", b, "keystore/ferry-web", "v1:!!!", ErrCorrupt},
		{"too short", b, "keystore/ferry-web", "v1:AAAA", ErrCorrupt},
		{"plain text", b, "keystore/ferry-web", "hunter22", ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.OpenFor(tc.context, tc.sealed)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("OpenFor = %q, %v; want %v", got, err, tc.want)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestOpenRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("too short"), 0o600)
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, bytes.Repeat([]byte{1}, keySize), 0o644)
	os.Chmod(loose, 0o644)
	tests := []struct {
		name, path, want string
	}{
		{"wrong size", short, "is 9 bytes, want 32"},
		{"readable by others", loose, "mode -rw-r--r-- lets others read it"},
		{"missing directory", filepath.Join(dir, "nope", "secret.key"), "no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, err := Open(tc.path)
			if b != nil || err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Open = %v; want an error naming %s with %q", err, tc.path, tc.want)
			}
		})
	}
}

// FuzzOpenFor: nothing a damaged confdb holds makes OpenFor panic, and only
// what Seal wrote opens.
func FuzzOpenFor(f *testing.F) {
	b, _, err := Open(filepath.Join(f.TempDir(), "secret.key"))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := b.SealFor("c", []byte("pw"))
	for _, s := range []string{good, "", "v1:", "v1:AAAA", "v2:" + good[3:], good + "A", "hunter22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sealed string) {
		got, err := b.OpenFor("c", sealed)
		if err == nil && sealed != good && !strings.HasPrefix(sealed, "v1:") {
			t.Fatalf("OpenFor(%q) = %q without error", sealed, got)
		}
		if err != nil && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenFor(%q): unexpected error %v", sealed, err)
		}
	})
}

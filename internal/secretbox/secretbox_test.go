package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustOpen(t testing.TB, path string) *Box {
	t.Helper()
	b, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeKey(t *testing.T, path string, key []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, key, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestOpenCreatesThenKeeps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	b, created, err := Open(path)
	if err != nil || !created {
		t.Fatalf("Open = %v, created %v; want a new key", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || fi.Size() != keySize {
		t.Fatalf("key file mode %v, %d bytes; want -rw------- and %d", fi.Mode(), fi.Size(), keySize)
	}
	key, _ := os.ReadFile(path)
	if bytes.Equal(key, make([]byte, keySize)) {
		t.Fatal("the key is all zeros")
	}
	if b.Path() != path {
		t.Errorf("Path = %q, want %q", b.Path(), path)
	}
	sealed, _ := b.SealFor("keystore/a", []byte("hunter22"))

	b2, created, err := Open(path)
	if err != nil || created {
		t.Fatalf("second Open = %v, created %v; want the existing key", err, created)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, key) {
		t.Fatal("a second Open replaced the key")
	}
	if got, err := b2.OpenFor("keystore/a", sealed); err != nil || string(got) != "hunter22" {
		t.Fatalf("OpenFor after reopening = %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v; want only secret.key (temporary file left?)", entries)
	}
}

// Two processes starting at once must not each make a key and have one
// replace the other: what one sealed would never open again.
func TestOpenConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	boxes := make([]*Box, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if boxes[i], created[i], err = Open(path); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ncreated := 0
	for i, b := range boxes {
		if created[i] {
			ncreated++
		}
		sealed, _ := b.Seal([]byte("pw"))
		for j, o := range boxes {
			if _, err := o.Open(sealed); err != nil {
				t.Fatalf("box %d cannot open what box %d sealed: %v", j, i, err)
			}
		}
	}
	if ncreated != 1 {
		t.Errorf("%d Opens say they created the key, want 1", ncreated)
	}
}

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, filepath.Join(dir, "secret.key"))
	other := mustOpen(t, filepath.Join(dir, "other.key")) // the confdb restored beside another key
	secret := []byte("correct horse battery")
	sealed, err := b.SealFor("keystore/ferry-web", secret)
	if err != nil || !strings.HasPrefix(sealed, "v1:") || strings.ContainsAny(sealed[3:], "+/=") {
		t.Fatalf("SealFor = %q, %v; want v1: and unpadded base64url", sealed, err)
	}
	if again, _ := b.SealFor("keystore/ferry-web", secret); again == sealed {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	plainSealed, _ := b.Seal(secret)
	empty, _ := b.Seal(nil)

	// Flip one bit of the decoded bytes at a few places: nonce, ciphertext, tag.
	raw, _ := b64.DecodeString(sealed[3:])
	tamper := func(i int) string {
		c := bytes.Clone(raw)
		c[i] ^= 0x01
		return prefix + b64.EncodeToString(c)
	}
	tests := []struct {
		name    string
		box     *Box
		context string
		sealed  string
		want    []byte
		err     error
	}{
		{"round trip", b, "keystore/ferry-web", sealed, secret, nil},
		{"no context", b, "", plainSealed, secret, nil},
		{"empty secret", b, "", empty, []byte{}, nil},
		{"another key", other, "keystore/ferry-web", sealed, nil, ErrWrongKey},
		{"another context", b, "keystore/ferry-base", sealed, nil, ErrWrongKey},
		{"context dropped", b, "", sealed, nil, ErrWrongKey},
		{"context added", b, "keystore/ferry-web", plainSealed, nil, ErrWrongKey},
		{"nonce changed", b, "keystore/ferry-web", tamper(0), nil, ErrWrongKey},
		{"ciphertext changed", b, "keystore/ferry-web", tamper(14), nil, ErrWrongKey},
		{"tag changed", b, "keystore/ferry-web", tamper(len(raw) - 1), nil, ErrWrongKey},
		{"truncated", b, "keystore/ferry-web", prefix + b64.EncodeToString(raw[:len(raw)-1]), nil, ErrWrongKey},
		{"no prefix", b, "keystore/ferry-web", sealed[3:], nil, ErrCorrupt},
		{"other version", b, "keystore/ferry-web", "v2:" + sealed[3:], nil, ErrCorrupt},
		{"not base64url", b, "keystore/ferry-web", "v1:!!!!", nil, ErrCorrupt},
		{"padded", b, "keystore/ferry-web", sealed + "==", nil, ErrCorrupt},
		{"too short", b, "keystore/ferry-web", "v1:AAAA", nil, ErrCorrupt},
		{"empty", b, "keystore/ferry-web", "", nil, ErrCorrupt},
		{"a password stored in clear", b, "keystore/ferry-web", "hunter22", nil, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.OpenFor(tc.context, tc.sealed)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("OpenFor = %q, %v; want error %v", got, err, tc.err)
			}
			if !bytes.Equal(got, tc.want) || (tc.want != nil) != (got != nil) {
				t.Fatalf("OpenFor = %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), string(secret)) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	// Box.Open is OpenFor with no context.
	if got, err := b.Open(plainSealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open of a value sealed for a context = %v, want ErrWrongKey", err)
	}
}

func TestOpenRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	good := bytes.Repeat([]byte{7}, keySize)
	tests := []struct {
		name  string
		key   []byte
		mode  os.FileMode
		want  string // in the error, beside the path
		isErr error  // nil: no sentinel expected
	}{
		{"too short", []byte("too short"), 0o600, "is 9 bytes, want 32", ErrCorrupt},
		{"too long", bytes.Repeat([]byte{1}, 4096), 0o600, "is 4096 bytes, want 32", ErrCorrupt},
		{"empty", nil, 0o600, "is 0 bytes, want 32", ErrCorrupt},
		{"readable by all", good, 0o644, "mode 0644 gives group or others access", nil},
		{"readable by the group", good, 0o640, "mode 0640", nil},
		{"writable by others", good, 0o602, "mode 0602", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i))+".key")
			writeKey(t, path, tc.key, tc.mode)
			b, created, err := Open(path)
			if b != nil || created || err == nil {
				t.Fatalf("Open = %v, %v, %v; want refused", b, created, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q; want it to name %s and say %q", err, path, tc.want)
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Errorf("error %v is not %v", err, tc.isErr)
			}
			if strings.Contains(err.Error(), string(good)) {
				t.Errorf("error %q shows the key", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tc.key) {
				t.Error("a refused key file was changed")
			}
		})
	}
	t.Run("owner read-only is fine", func(t *testing.T) {
		path := filepath.Join(dir, "ro.key")
		writeKey(t, path, good, 0o400)
		if _, _, err := Open(path); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		path := filepath.Join(dir, "sub")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Open(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open of a directory = %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(dir, "nope", "secret.key")
		if _, _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open = %v; want an error naming %s", err, path)
		}
	})
}

// FuzzOpen: nothing a damaged or edited confdb holds makes Open panic; every
// failure is ErrCorrupt or ErrWrongKey and shows no secret; and nothing opens
// but the one value sealed, since forging one needs the key.
func FuzzOpen(f *testing.F) {
	b := mustOpen(f, filepath.Join(f.TempDir(), "secret.key"))
	const secret = "the one secret"
	good, _ := b.SealFor("c", []byte(secret))
	for _, s := range []string{good, "", "v1:", "v1:AAAA", "v2:" + good[3:], good + "A", good[:len(good)-1], "hunter22", "v1:" + strings.Repeat("A", 40)} {
		f.Add("c", s)
	}
	f.Add("", good)
	f.Fuzz(func(t *testing.T, context, sealed string) {
		got, err := b.OpenFor(context, sealed)
		if err == nil {
			if string(got) != secret || context != "c" {
				t.Fatalf("OpenFor(%q, %q) = %q: opened something never sealed", context, sealed, got)
			}
			return
		}
		if got != nil {
			t.Fatalf("OpenFor(%q, %q) = %q with error %v", context, sealed, got, err)
		}
		if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenFor(%q, %q): error %v is neither ErrWrongKey nor ErrCorrupt", context, sealed, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q shows the secret", err)
		}
	})
}

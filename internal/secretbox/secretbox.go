// Package secretbox seals the secrets Ferry keeps in its confdb (keystore
// passwords) with a key that lives outside it, in <data-dir>/secret.key, so a
// confdb backup alone does not reveal them.
//
// A sealed value is "v1:" + base64url(nonce | AES-256-GCM ciphertext). SealFor
// and OpenFor bind it to a context, such as the record it belongs to, so a
// sealed value copied onto another record does not open there.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Errors of Open and Box.Open, for errors.Is. Their messages, like all errors
// of this package, never carry a secret or the key.
var (
	// ErrWrongKey: the value does not authenticate. It was sealed with
	// another secret.key (the confdb restored without its key) or for another
	// context, or it was changed.
	ErrWrongKey = errors.New("sealed with another secret.key")
	// ErrCorrupt: a key file or a sealed value that is malformed.
	ErrCorrupt = errors.New("corrupt")
)

const (
	keySize = 32 // AES-256
	prefix  = "v1:"
)

// b64 is base64url without padding; strict, so one value has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// Box seals and opens with one key. It is safe for concurrent use.
type Box struct {
	path string
	aead cipher.AEAD
}

// Open loads the key at path. When there is no file it creates one with 32
// random bytes and mode 0600 (created is true), atomically: a crash leaves no
// key or a whole one, and two processes starting at once end up with the
// same key. It refuses a key of the wrong size (ErrCorrupt) and one that
// group or others may access, since the key is what keeps a backup of the
// confdb from revealing the secrets.
func Open(path string) (b *Box, created bool, err error) {
	key, err := load(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = create(path)
		created = err == nil
		if errors.Is(err, fs.ErrExist) { // another process created it first
			key, err = load(path)
			created = false
		}
	}
	if err != nil {
		return nil, false, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false, fmt.Errorf("secret key %q: %w", path, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false, fmt.Errorf("secret key %q: %w", path, err)
	}
	return &Box{path: path, aead: aead}, created, nil
}

// load reads an existing key, checking the mode of the file it opened rather
// than of whatever is at path a moment later. A missing file is returned as
// is, for errors.Is(err, fs.ErrNotExist).
func load(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret key %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret key %q: is a %v, not a file: %w", path, fi.Mode().Type(), ErrCorrupt)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret key %q: mode %#o gives group or others access; want 0600 (chmod 600 %s)", path, perm, path)
	}
	key, err := io.ReadAll(io.LimitReader(f, keySize+1))
	if err != nil {
		return nil, fmt.Errorf("secret key %q: %w", path, err)
	}
	if len(key) != keySize {
		size := int64(len(key))
		if size > keySize {
			size = max(size, fi.Size())
		}
		return nil, fmt.Errorf("secret key %q: is %d bytes, want %d: %w", path, size, keySize, ErrCorrupt)
	}
	return key, nil
}

// create writes a new key to a temporary file in path's directory (mode
// 0600), syncs it, puts it in place and syncs the directory. It links rather
// than renames, so it never replaces a key another process has just made
// (fs.ErrExist then), and renames only where the file system has no hard
// links.
func create(path string) ([]byte, error) {
	key := make([]byte, keySize)
	rand.Read(key) // never fails; it crashes the program rather than return weak bytes
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("secret key %q: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // once linked, only the temporary name goes
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %q: %w", path, err)
	}
	if err = os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return nil, err
	} else if err != nil {
		if err = os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("secret key %q: %w", path, err)
		}
	}
	if err = syncDir(dir); err != nil {
		return nil, fmt.Errorf("secret key %q: sync %s: %w", path, dir, err)
	}
	return key, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Path returns the key file's path, for messages such as "back up secret.key
// with the confdb".
func (b *Box) Path() string { return b.path }

// Seal is SealFor with no context.
func (b *Box) Seal(plaintext []byte) (string, error) { return b.SealFor("", plaintext) }

// Open is OpenFor with no context.
func (b *Box) Open(sealed string) ([]byte, error) { return b.OpenFor("", sealed) }

// SealFor seals plaintext bound to context (such as "keystore/ferry-web"),
// which must be given again to open it: AES-256-GCM with a random nonce and
// context as additional data. Two seals of one plaintext differ. The error is
// always nil today; it is there for key sources that can fail.
func (b *Box) SealFor(context string, plaintext []byte) (string, error) {
	ns := b.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+b.aead.Overhead())
	rand.Read(out)
	out = b.aead.Seal(out, out, plaintext, []byte(context))
	return prefix + b64.EncodeToString(out), nil
}

// OpenFor opens what SealFor sealed for context: ErrWrongKey when it does
// not authenticate (another key, another context, a changed byte),
// ErrCorrupt when it is not a sealed value at all.
func (b *Box) OpenFor(context, sealed string) ([]byte, error) {
	body, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, fmt.Errorf("sealed value: does not start with %q: %w", prefix, ErrCorrupt)
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("sealed value: not base64url: %w", ErrCorrupt)
	}
	ns := b.aead.NonceSize()
	if len(raw) < ns+b.aead.Overhead() {
		return nil, fmt.Errorf("sealed value: %d bytes, too short: %w", len(raw), ErrCorrupt)
	}
	// Not nil when empty: a caller may tell "opened" from "nothing" by it.
	plain, err := b.aead.Open([]byte{}, raw[:ns], raw[ns:], []byte(context))
	if err != nil {
		what := "sealed value"
		if context != "" {
			what = fmt.Sprintf("sealed value for %q", context)
		}
		return nil, fmt.Errorf("%s does not open with %s: %w", what, b.path, ErrWrongKey)
	}
	return plain, nil
}

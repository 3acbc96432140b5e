package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-appliance/ferry/store"
)

// populated writes a confdb with accounts, host keys and history, closes it and
// returns its path: big enough to have branch-free but several-page trees.
func populated(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "confdb.db")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, account("root", "admin"), account("ops", "viewer"))
	if err := s.PutHostKey("ssh-ed25519", bytes.Repeat([]byte("k"), 400)); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.AppendHistory("root", fmt.Sprintf("account.list --json # %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// boltMeta is what the tests need of a meta page: see the format note in store.go.
type boltMeta struct{ root, freelist, hwm, txid uint64 }

// newestMeta returns the meta page bbolt uses (the higher txid of two valid ones) and its page size.
func newestMeta(t *testing.T, raw []byte) (boltMeta, int) {
	t.Helper()
	le := binary.LittleEndian
	pageSize := int(le.Uint32(raw[16+8:]))
	read := func(p []byte) boltMeta {
		m := p[16:]
		return boltMeta{root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	}
	a, b := read(raw[:pageSize]), read(raw[pageSize:2*pageSize])
	if b.txid > a.txid {
		a = b
	}
	return a, pageSize
}

// scribble overwrites page pgid of the file with seeded random bytes.
func scribble(t *testing.T, raw []byte, pgid uint64, pageSize int, seed uint64) []byte {
	t.Helper()
	out := bytes.Clone(raw)
	r := rand.New(rand.NewPCG(seed, seed))
	page := out[int(pgid)*pageSize : (int(pgid)+1)*pageSize]
	for i := range page {
		page[i] = byte(r.Uint32())
	}
	return out
}

// TestOpenRefusesDamagedFile: every kind of damage is refused with one line
// naming the file and the way back, the file is left exactly as it was, and
// nothing panics.
func TestOpenRefusesDamagedFile(t *testing.T) {
	good, err := os.ReadFile(populated(t))
	if err != nil {
		t.Fatal(err)
	}
	meta, pageSize := newestMeta(t, good)
	if meta.freelist < 2 || meta.freelist >= meta.hwm || meta.root < 2 || meta.root >= meta.hwm {
		t.Fatalf("unexpected layout: %+v", meta)
	}
	noSchema := func() []byte {
		path := filepath.Join(t.TempDir(), "plain.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}()
	cases := []struct {
		name   string
		file   []byte
		reason string // in the message
	}{
		{"empty", nil, "the file is empty"},
		{"quarter", good[:len(good)/4], "truncated"},
		{"two pages", good[:2*pageSize], "truncated"},
		{"freelist scribbled", scribble(t, good, meta.freelist, pageSize, 1), "freelist page"},
		{"both meta pages scribbled", scribble(t, scribble(t, good, 0, pageSize, 2), 1, pageSize, 3), "neither meta page is valid"},
		{"root page scribbled", scribble(t, good, meta.root, pageSize, 4), ""},
		{"not a confdb", noSchema, "no schema version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "confdb.db")
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(path, lockTimeout)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a damaged file")
			}
			var de *store.DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("Open: %v (%T), want a *store.DamagedError", err, err)
			}
			msg := err.Error()
			want := "confdb " + path + " is damaged ("
			if !strings.HasPrefix(msg, want) || !strings.Contains(msg, c.reason) ||
				!strings.HasSuffix(msg, "restore a backup made with confdb.backup (stop ferryd, copy the backup to that path) or move the file away to start afresh") {
				t.Errorf("message = %q\nwant %q..., reason containing %q, and how to restore", msg, want, c.reason)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine ") {
				t.Errorf("message is not one plain line: %q", msg)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, c.file) {
				t.Errorf("Open changed the damaged file (%d bytes before, %d after)", len(c.file), len(after))
			}
		})
	}
}

// TestOpenKeepsUsingTheOtherMetaPage: one bad meta page is what a torn write
// leaves; bbolt falls back to the other, and so does Open.
func TestOpenKeepsUsingTheOtherMetaPage(t *testing.T) {
	path := populated(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, pageSize := newestMeta(t, good)
	le := binary.LittleEndian
	newer := uint64(0)
	if le.Uint64(good[pageSize+16+48:]) > le.Uint64(good[16+48:]) {
		newer = 1
	}
	if err := os.WriteFile(path, scribble(t, good, newer, pageSize, 5), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open with one bad meta page: %v", err)
	}
	defer s.Close()
	if s.Created() {
		t.Error("Created() = true for an existing file")
	}
	if accts, err := s.Accounts(); err != nil || len(accts) != 2 {
		t.Errorf("Accounts() = %v, %v; want root and ops", accts, err)
	}
}

// TestOpenAcceptsFileLongerThanItsPages: bbolt grows the file ahead of its
// pages; cutting only the unused tail loses nothing and is no damage.
func TestOpenAcceptsFileLongerThanItsPages(t *testing.T) {
	path := populated(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	meta, pageSize := newestMeta(t, good)
	if err := os.Truncate(path, int64(meta.hwm)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if h, err := s.History("root", 100); err != nil || len(h) != 50 {
		t.Errorf("History = %d lines, %v; want 50", len(h), err)
	}
}

// TestCreatedOnlyForNewFile: only a missing file is a first boot.
func TestCreatedOnlyForNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb.db")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Created() {
		t.Error("Created() = false for a new file")
	}
	s.Close()
	s, err = store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Created() {
		t.Error("Created() = true for an existing file")
	}
}

// TestOpenLockedWhileChecking: the read-only check takes a shared lock, so a
// running ferryd still makes a second one fail with ErrLocked, not "damaged".
func TestOpenLockedWhileChecking(t *testing.T) {
	path := populated(t)
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = store.Open(path, lockTimeout)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

// TestOpenNeverCrashes scribbles over each page in turn and cuts the file at
// each page boundary: Open either uses the file (a free page, one meta page,
// an unused tail) or refuses it with a DamagedError, leaving it unchanged;
// it never panics or faults.
func TestOpenNeverCrashes(t *testing.T) {
	good, err := os.ReadFile(populated(t))
	if err != nil {
		t.Fatal(err)
	}
	_, pageSize := newestMeta(t, good)
	pages := len(good) / pageSize
	var variants [][]byte
	for p := range pages {
		for seed := range uint64(3) {
			variants = append(variants, scribble(t, good, uint64(p), pageSize, 100+seed*uint64(pages)+uint64(p)))
		}
		variants = append(variants, good[:p*pageSize+pageSize/2], good[:p*pageSize])
	}
	dir := t.TempDir()
	refused := 0
	for i, file := range variants {
		path := filepath.Join(dir, fmt.Sprintf("confdb-%d.db", i))
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(path, lockTimeout)
		if err == nil {
			if _, err := s.Accounts(); err != nil {
				t.Errorf("variant %d: opened, but Accounts: %v", i, err)
			}
			s.Close()
			continue
		}
		refused++
		var de *store.DamagedError
		if !errors.As(err, &de) {
			t.Errorf("variant %d: %v (%T), want a *store.DamagedError", i, err, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, file) {
			t.Errorf("variant %d: refused, but the file changed", i)
		}
	}
	t.Logf("%d variants of a %d-page confdb: %d refused, %d used", len(variants), pages, refused, len(variants)-refused)
}

// TestOpenedFilesCanBeRead: a file Open accepts after random scribbles past the
// meta pages must serve every reader without a panic (a scribbled bucket name
// once passed the checks, and the host-key reader then crashed ferryd).
func TestOpenedFilesCanBeRead(t *testing.T) {
	good, err := os.ReadFile(populated(t))
	if err != nil {
		t.Fatal(err)
	}
	_, pageSize := newestMeta(t, good)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	opened := 0
	for i := 0; i < 400; i++ {
		raw := bytes.Clone(good)
		for j := 1 + r.IntN(16); j > 0; j-- {
			raw[2*pageSize+r.IntN(len(raw)-2*pageSize)] = byte(r.Uint32())
		}
		path := filepath.Join(dir, "c.db")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(path, time.Second)
		if err != nil {
			continue
		}
		opened++
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("iteration %d: Open accepted the file, then a read panicked: %v", i, p)
				}
			}()
			s.Accounts()
			s.History("root", 100)
			s.HostKeys()
			s.Export(io.Discard)
			s.AppendHistory("root", "x")
		}()
		s.Close()
	}
	t.Logf("opened %d of 400 scribbled files", opened)
}

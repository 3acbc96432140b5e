package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-appliance/ferry/store"
)

const lockTimeout = 200 * time.Millisecond

// openStore opens a fresh confdb in a temporary directory and closes it at cleanup.
func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "confdb")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

// schemaVersionOf reads meta/schema_version of a closed confdb with bbolt directly.
func schemaVersionOf(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open(%s): %v", path, err)
	}
	defer db.Close()
	var v string
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if meta == nil {
			return errors.New("no meta bucket")
		}
		raw := meta.Get([]byte("schema_version"))
		if raw == nil {
			return errors.New("no meta/schema_version")
		}
		v = string(raw)
		return nil
	})
	if err != nil {
		t.Fatalf("read schema version: %v", err)
	}
	return v
}

func account(name, role string) store.Account {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return store.Account{
		Name: name, Role: role, PasswordHash: "$2a$04$not-a-real-hash-" + name,
		CreatedAt: now, PasswordChangedAt: now,
	}
}

func mustCreate(t *testing.T, s *store.Store, accts ...store.Account) {
	t.Helper()
	for _, a := range accts {
		if err := s.CreateAccount(a); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a.Name, err)
		}
	}
}

func TestOpenCreatesFileWithMode0600AndSchemaVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	path := filepath.Join(dir, "confdb")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if size, err := s.Size(); err != nil || size <= 0 {
		t.Errorf("Size() = %d, %v; want > 0, nil", size, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat confdb: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("confdb mode = %#o, want 0600", perm)
	}
	if got, want := schemaVersionOf(t, path), strconv.Itoa(store.SchemaVersion()); got != want {
		t.Errorf("schema_version = %q, want %q", got, want)
	}
}

func TestOpenTightensModeOfExistingFile(t *testing.T) {
	path2 := filepath.Join(t.TempDir(), "confdb")
	s, err := store.Open(path2, lockTimeout)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	if err := os.Chmod(path2, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path2, lockTimeout)
	if err != nil {
		t.Fatalf("re-Open: %v", err)
	}
	s.Close()
	fi, err := os.Stat(path2)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode after re-open = %#o, want 0600", perm)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustCreate(t, s, account("root", "admin"))
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.MarkBootstrapped(at); err != nil {
		t.Fatalf("MarkBootstrapped: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		s, err = store.Open(path, lockTimeout)
		if err != nil {
			t.Fatalf("re-Open #%d: %v", i+1, err)
		}
		accts, err := s.Accounts()
		if err != nil {
			t.Fatalf("Accounts: %v", err)
		}
		if len(accts) != 1 || accts[0].Name != "root" {
			t.Errorf("re-Open #%d: accounts = %+v, want only root", i+1, accts)
		}
		got, err := s.Bootstrapped()
		if err != nil || !got.Equal(at) {
			t.Errorf("re-Open #%d: Bootstrapped() = %v, %v; want %v", i+1, got, err, at)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := schemaVersionOf(t, path), strconv.Itoa(store.SchemaVersion()); got != want {
			t.Errorf("re-Open #%d: schema_version = %q, want %q", i+1, got, want)
		}
	}
}

func TestBootstrappedZeroOnFreshStore(t *testing.T) {
	s, _ := openStore(t)
	got, err := s.Bootstrapped()
	if err != nil || !got.IsZero() {
		t.Errorf("Bootstrapped() = %v, %v; want zero time, nil", got, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := []byte(strconv.Itoa(store.SchemaVersion() + 1))
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("schema_version"), newer)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := store.Open(path, lockTimeout)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer confdb succeeded; want ErrSchemaTooNew")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open error = %v; want ErrSchemaTooNew", err)
	}
	// Refusing must not have rewritten the version, and must have released the lock.
	if got := schemaVersionOf(t, path); got != string(newer) {
		t.Errorf("schema_version after refusal = %q, want %q", got, newer)
	}
}

func TestOpenRejectsCorruptSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("schema_version"), []byte("one"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := store.Open(path, lockTimeout)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with a non-numeric schema_version")
	}
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Open error = %v; want ErrCorrupt", err)
	}
}

func TestOpenLockedFailsWithinTimeout(t *testing.T) {
	_, path := openStore(t)
	start := time.Now()
	s2, err := store.Open(path, lockTimeout)
	took := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held confdb succeeded; want ErrLocked")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open error = %v; want ErrLocked", err)
	}
	// bbolt stops retrying one retry interval (50ms) before the timeout, so allow some slack below.
	if took < lockTimeout/2 || took > lockTimeout+2*time.Second {
		t.Errorf("second Open gave up after %v; want about %v", took, lockTimeout)
	}
}

func TestOpenAfterCloseSucceeds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	s1, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestAccountCRUD(t *testing.T) {
	s, _ := openStore(t)

	if _, err := s.Account("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Account(missing) error = %v; want ErrNotFound", err)
	}

	alice := account("alice", "admin")
	alice.Keys = []store.AuthorizedKey{{Line: "ssh-ed25519 AAAA alice", Fingerprint: "SHA256:x", AddedAt: alice.CreatedAt}}
	mustCreate(t, s, alice, account("carol", "viewer"), account("bob", "viewer"))

	got, err := s.Account("alice")
	if err != nil {
		t.Fatalf("Account(alice): %v", err)
	}
	if !reflect.DeepEqual(got, alice) {
		t.Errorf("Account(alice) = %+v\nwant %+v", got, alice)
	}

	dup := account("alice", "viewer")
	if err := s.CreateAccount(dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateAccount(duplicate) error = %v; want ErrExists", err)
	}
	if got, _ := s.Account("alice"); got.Role != "admin" {
		t.Errorf("duplicate create changed alice: role = %q", got.Role)
	}

	all, err := s.Accounts()
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Name)
	}
	if want := []string{"alice", "bob", "carol"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Accounts() names = %v, want %v (sorted)", names, want)
	}

	// UpdateAccount changes fields, but never the name.
	err = s.UpdateAccount("bob", func(a *store.Account) error {
		a.MustChangePassword = true
		a.PasswordHash = "new-hash"
		a.Name = "mallory"
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateAccount(bob): %v", err)
	}
	bob, err := s.Account("bob")
	if err != nil {
		t.Fatalf("Account(bob) after update: %v", err)
	}
	if !bob.MustChangePassword || bob.PasswordHash != "new-hash" || bob.Name != "bob" {
		t.Errorf("bob after update = %+v", bob)
	}
	if _, err := s.Account("mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAccount renamed the record: Account(mallory) error = %v", err)
	}

	// An error from fn aborts the update.
	boom := errors.New("boom")
	err = s.UpdateAccount("bob", func(a *store.Account) error {
		a.PasswordHash = "should-not-stick"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateAccount(fn error) = %v; want boom", err)
	}
	if b, _ := s.Account("bob"); b.PasswordHash != "new-hash" {
		t.Errorf("failed update was written: hash = %q", b.PasswordHash)
	}

	if err := s.UpdateAccount("nobody", func(*store.Account) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAccount(missing) error = %v; want ErrNotFound", err)
	}

	if err := s.DeleteAccount("carol"); err != nil {
		t.Fatalf("DeleteAccount(carol): %v", err)
	}
	if _, err := s.Account("carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Account(carol) after delete error = %v; want ErrNotFound", err)
	}
	if err := s.DeleteAccount("carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount(missing) error = %v; want ErrNotFound", err)
	}
}

// TestUpdateAccountsIsOneTransaction: what fn reads and writes commits together,
// or not at all (the accounts package builds its cross-record rules on this).
func TestUpdateAccountsIsOneTransaction(t *testing.T) {
	s, _ := openStore(t)
	mustCreate(t, s, account("a1", "admin"), account("v1", "viewer"))
	boom := errors.New("boom")
	err := s.UpdateAccounts(func(tx store.AccountsTx) error {
		if err := tx.Delete("a1"); err != nil {
			return err
		}
		if err := tx.Put(account("a2", "admin")); err != nil {
			return err
		}
		all, err := tx.Accounts()
		if err != nil || len(all) != 2 || all[0].Name != "a2" {
			t.Errorf("inside the transaction: %v, %v; want a2 and v1", all, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateAccounts = %v; want boom", err)
	}
	if _, err := s.Account("a1"); err != nil {
		t.Errorf("a failed transaction deleted a1: %v", err)
	}
	if _, err := s.Account("a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed transaction created a2: %v", err)
	}
	err = s.UpdateAccounts(func(tx store.AccountsTx) error {
		if _, err := tx.Account("nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tx.Account(missing) = %v; want ErrNotFound", err)
		}
		if err := tx.Delete("nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tx.Delete(missing) = %v; want ErrNotFound", err)
		}
		return tx.Delete("v1")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account("v1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("committed delete of v1 not applied: %v", err)
	}
}

func TestHistoryOrderAndLimit(t *testing.T) {
	s, _ := openStore(t)
	if h, err := s.History("alice", 10); err != nil || len(h) != 0 {
		t.Errorf("History(no history) = %v, %v; want empty", h, err)
	}
	for _, l := range []string{"one", "two", "three"} {
		if err := s.AppendHistory("alice", l); err != nil {
			t.Fatalf("AppendHistory: %v", err)
		}
	}
	if err := s.AppendHistory("bob", "bob's"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"three"}},
		{2, []string{"two", "three"}},
		{3, []string{"one", "two", "three"}},
		{10, []string{"one", "two", "three"}},
	}
	for _, tc := range tests {
		got, err := s.History("alice", tc.n)
		if err != nil {
			t.Fatalf("History(%d): %v", tc.n, err)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("History(alice, %d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got, _ := s.History("bob", 10); !reflect.DeepEqual(got, []string{"bob's"}) {
		t.Errorf("History(bob) = %q", got)
	}
}

func TestHistoryCapsAtLimit(t *testing.T) {
	s, _ := openStore(t)
	const extra = 7
	total := store.HistoryLimit + extra
	for i := 0; i < total; i++ {
		if err := s.AppendHistory("alice", fmt.Sprintf("cmd %d", i)); err != nil {
			t.Fatalf("AppendHistory #%d: %v", i, err)
		}
	}
	got, err := s.History("alice", total)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.HistoryLimit {
		t.Fatalf("kept %d lines, want HistoryLimit = %d", len(got), store.HistoryLimit)
	}
	for i, l := range got {
		if want := fmt.Sprintf("cmd %d", i+extra); l != want {
			t.Fatalf("history[%d] = %q, want %q (oldest dropped first)", i, l, want)
		}
	}
}

func TestDeleteAccountRemovesHistory(t *testing.T) {
	s, _ := openStore(t)
	mustCreate(t, s, account("root", "admin"), account("temp", "viewer"))
	if err := s.AppendHistory("temp", "secret-ish command"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount("temp"); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("temp", 10); err != nil || len(h) != 0 {
		t.Errorf("History after delete = %q, %v; want empty", h, err)
	}
	// An account without history can be deleted too.
	mustCreate(t, s, account("nohist", "viewer"))
	if err := s.DeleteAccount("nohist"); err != nil {
		t.Errorf("DeleteAccount(no history): %v", err)
	}
}

func TestHostKeys(t *testing.T) {
	s, _ := openStore(t)
	if err := s.PutHostKey("ed25519", []byte("pem-ed")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHostKey("rsa", []byte("pem-rsa")); err != nil {
		t.Fatal(err)
	}
	got, err := s.HostKeys()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"ed25519": []byte("pem-ed"), "rsa": []byte("pem-rsa")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostKeys() = %q, want %q", got, want)
	}
}

func TestBackup(t *testing.T) {
	s, _ := openStore(t)
	mustCreate(t, s, account("root", "admin"), account("view", "viewer"))

	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	// A pre-existing, world-readable file at the destination is replaced.
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(dst)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("backup mode = %#o, want 0600", perm)
	}
	if n != fi.Size() {
		t.Errorf("Backup returned %d bytes, file has %d", n, fi.Size())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("backup dir holds %v; want only backup.db (no temporary files)", names)
	}

	db, err := bolt.Open(dst, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt cannot open the backup: %v", err)
	}
	defer db.Close()
	var names []string
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("accounts"))
		if b == nil {
			return errors.New("backup has no accounts bucket")
		}
		return b.ForEach(func(k, v []byte) error {
			var a store.Account
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			names = append(names, a.Name+":"+a.Role)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"root:admin", "view:viewer"}; !reflect.DeepEqual(names, want) {
		t.Errorf("backup accounts = %v, want %v", names, want)
	}

	// The backup is a usable confdb.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	restored, err := store.Open(dst, lockTimeout)
	if err != nil {
		t.Fatalf("Open(backup): %v", err)
	}
	defer restored.Close()
	if a, err := restored.Account("view"); err != nil || a.Role != "viewer" {
		t.Errorf("restored Account(view) = %+v, %v", a, err)
	}
}

func TestBackupToMissingDirectoryFails(t *testing.T) {
	s, _ := openStore(t)
	mustCreate(t, s, account("root", "admin"))
	parent := t.TempDir()
	missing := filepath.Join(parent, "no-such-dir")
	dst := filepath.Join(missing, "backup.db")
	if n, err := s.Backup(dst); err == nil {
		t.Fatalf("Backup into a missing directory succeeded (%d bytes)", n)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Backup created %s (stat err %v)", missing, err)
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("failed Backup left %d entries in %s", len(entries), parent)
	}
}

func TestExportRedactsSecrets(t *testing.T) {
	s, _ := openStore(t)
	root := account("root", "admin")
	root.PasswordHash = "$2a$11$SECRETHASHSECRETHASHSECRETHASH"
	root.Keys = []store.AuthorizedKey{{Line: "ssh-ed25519 AAAAPUBLIC root@laptop", Fingerprint: "SHA256:pubfp"}}
	mustCreate(t, s, root, account("viewer1", "viewer"))
	hostKey := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nHOSTKEYBYTES0123456789\n-----END OPENSSH PRIVATE KEY-----\n")
	if err := s.PutHostKey("ed25519", hostKey); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory("root", "HISTORYLINE-sensitive"); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := s.Export(&buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	out := buf.String()

	var doc map[string]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("Export output is not JSON: %v\n%s", err, out)
	}
	accts, ok := doc["accounts"]
	if !ok {
		t.Fatalf("export has no accounts: %s", out)
	}
	for _, name := range []string{"root", "viewer1"} {
		rec, ok := accts[name].(map[string]any)
		if !ok {
			t.Errorf("export lacks account %q: %s", name, out)
			continue
		}
		if rec["name"] != name {
			t.Errorf("exported %s name field = %v", name, rec["name"])
		}
	}
	if rec, ok := accts["root"].(map[string]any); ok && rec["role"] != "admin" {
		t.Errorf("exported root role = %v, want admin", rec["role"])
	}
	if meta, ok := doc["meta"]; !ok || meta["schema_version"] != strconv.Itoa(store.SchemaVersion()) {
		t.Errorf("export meta = %v; want schema_version %d", doc["meta"], store.SchemaVersion())
	}
	for _, forbidden := range []string{
		"password_hash", "SECRETHASH", // password hashes
		"HOSTKEYBYTES", "PRIVATE KEY", "hostkeys", // host keys
		"HISTORYLINE", "history", // per-user state
	} {
		if strings.Contains(out, forbidden) {
			t.Errorf("export contains %q:\n%s", forbidden, out)
		}
	}
	// Redaction must not touch the stored record.
	if a, _ := s.Account("root"); a.PasswordHash != root.PasswordHash {
		t.Errorf("Export changed the stored hash to %q", a.PasswordHash)
	}
}

func TestExportRefusesUnlistedBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("tokens"))
		if err != nil {
			return err
		}
		return b.Put([]byte("api"), []byte("TOPSECRETTOKEN"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if err := s.Export(&buf); err == nil {
		t.Fatalf("Export with an unlisted bucket succeeded:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "TOPSECRETTOKEN") {
		t.Errorf("failed Export still wrote the secret: %s", buf.String())
	}
}

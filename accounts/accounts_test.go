package accounts

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/store"
)

// Passwords at bcryptCost take ~0.1 s each (~2 s under -race), so most tests
// store fixtures hashed at bcrypt.MinCost directly and only the code paths that
// must hash (Add, setPassword) or must burn the dummy hash pay the real cost.

const (
	oldPassword = "correct horse battery"
	newPassword = "staple-2-battery-horse"
)

func newService(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "confdb"), 200*time.Millisecond)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st), st
}

// fixture stores an account whose password hash is cheap to check.
func fixture(t *testing.T, st *store.Store, name string, role Role, password string, mustChange bool) store.Account {
	t.Helper()
	a := store.Account{Name: name, Role: string(role), MustChangePassword: mustChange,
		CreatedAt: time.Now().UTC().Add(-time.Hour), PasswordChangedAt: time.Now().UTC().Add(-time.Hour)}
	if password != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		a.PasswordHash = string(h)
	}
	if err := st.CreateAccount(a); err != nil {
		t.Fatalf("CreateAccount(%s): %v", name, err)
	}
	got, err := st.Account(name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustAccount(t *testing.T, st *store.Store, name string) store.Account {
	t.Helper()
	a, err := st.Account(name)
	if err != nil {
		t.Fatalf("Account(%s): %v", name, err)
	}
	return a
}

func TestDummyHashMatchesCost(t *testing.T) {
	cost, err := bcrypt.Cost(dummyHash)
	if err != nil {
		t.Fatalf("dummyHash is not a bcrypt hash: %v", err)
	}
	if cost != bcryptCost {
		t.Errorf("dummyHash cost = %d, want bcryptCost %d (refusals must cost as much as a real check)", cost, bcryptCost)
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     error
	}{
		{"empty", "", "", ErrWeakPassword},
		{"short", "", "elevenchars", ErrWeakPassword},
		{"short in runes though long in bytes", "", "ééééééééééé", ErrWeakPassword},
		{"exactly minimum", "", "twelve-chars", nil},
		{"multibyte at minimum", "", "éééééééééééé", nil},
		{"leading space", "", " leading-space-pw", ErrWeakPassword},
		{"trailing space", "", "trailing-space-pw ", ErrWeakPassword},
		{"trailing newline", "", "trailing-newline-pw\n", ErrWeakPassword},
		{"inner spaces ok", "", "correct horse battery", nil},
		{"at bcrypt's 72-byte limit", "", strings.Repeat("p", 72), nil},
		{"over bcrypt's 72-byte limit", "", strings.Repeat("p", 73), ErrWeakPassword},
		{"same as old", "same-password-123", "same-password-123", ErrSamePassword},
		{"different from old", "old-password-123", "new-password-456", nil},
		{"short and same as old reports weak", "short", "short", ErrWeakPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPolicy(tc.old, tc.new)
			if tc.want == nil {
				if err != nil {
					t.Errorf("CheckPolicy(%q, %q) = %v, want nil", tc.old, tc.new, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("CheckPolicy(%q, %q) = %v, want %v", tc.old, tc.new, err, tc.want)
			}
		})
	}
}

func TestAddRejectsInvalidInput(t *testing.T) {
	svc, st := newService(t)
	long := strings.Repeat("a", 33)
	tests := []struct {
		name, account string
		role          Role
		password      string
		want          error
	}{
		{"empty name", "", Viewer, newPassword, ErrBadName},
		{"upper case", "Alice", Viewer, newPassword, ErrBadName},
		{"leading digit", "1alice", Viewer, newPassword, ErrBadName},
		{"leading dash", "-alice", Viewer, newPassword, ErrBadName},
		{"space", "al ice", Viewer, newPassword, ErrBadName},
		{"semicolon", "al;ice", Viewer, newPassword, ErrBadName},
		{"slash", "al/ice", Viewer, newPassword, ErrBadName},
		{"newline", "alice\n", Viewer, newPassword, ErrBadName},
		{"non-ascii", "alicé", Viewer, newPassword, ErrBadName},
		{"33 characters", long, Viewer, newPassword, ErrBadName},
		{"empty role", "alice", "", newPassword, ErrBadRole},
		{"unknown role", "alice", "root", newPassword, ErrBadRole},
		{"capitalised role", "alice", "Admin", newPassword, ErrBadRole},
		{"weak password", "alice", Viewer, "short", ErrWeakPassword},
		{"padded password", "alice", Viewer, " " + newPassword, ErrWeakPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := svc.Add(tc.account, tc.role, tc.password)
			if !errors.Is(err, tc.want) {
				t.Errorf("Add(%q, %q, %q) = %v, want %v", tc.account, tc.role, tc.password, err, tc.want)
			}
		})
	}
	if all, err := st.Accounts(); err != nil || len(all) != 0 {
		t.Errorf("rejected Adds stored accounts: %+v, %v", all, err)
	}
}

func TestAddCreatesMustChangeAccount(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	// Longest valid name, with every allowed character class.
	name := "_a.b-c_9" + strings.Repeat("x", 24)
	before := time.Now().UTC()
	if err := svc.Add(name, Admin, oldPassword); err != nil {
		t.Fatalf("Add: %v", err)
	}
	a := mustAccount(t, st, name)
	if a.Role != "admin" || !a.MustChangePassword {
		t.Errorf("new account role=%q mustChange=%v; want admin, true", a.Role, a.MustChangePassword)
	}
	if a.PasswordHash == "" || strings.Contains(a.PasswordHash, oldPassword) {
		t.Errorf("stored password hash %q is empty or contains the password", a.PasswordHash)
	}
	if cost, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil || cost != bcryptCost {
		t.Errorf("hash cost = %d, %v; want %d", cost, err, bcryptCost)
	}
	if a.CreatedAt.Before(before.Add(-time.Second)) || a.PasswordChangedAt.IsZero() {
		t.Errorf("timestamps not set: created %v, changed %v", a.CreatedAt, a.PasswordChangedAt)
	}
	id, err := svc.Lookup(name)
	if err != nil || id != (Identity{Name: name, Role: Admin, MustChangePassword: true}) {
		t.Errorf("Lookup = %+v, %v", id, err)
	}
	if !svc.VerifyPassword(name, oldPassword) {
		t.Error("VerifyPassword(initial password) = false after Add")
	}
}

func TestVerifyPassword(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	fixture(t, st, "alice", Viewer, oldPassword, false)
	tests := []struct {
		name, account, password string
		want                    bool
	}{
		{"right", "alice", oldPassword, true},
		{"wrong", "alice", oldPassword + "x", false},
		{"prefix only", "alice", oldPassword[:len(oldPassword)-1], false},
		{"unknown user", "bob", oldPassword, false},
		{"empty password", "alice", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := svc.VerifyPassword(tc.account, tc.password); got != tc.want {
				t.Errorf("VerifyPassword(%q, %q) = %v, want %v", tc.account, tc.password, got, tc.want)
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	orig := fixture(t, st, "alice", Viewer, oldPassword, false)

	refusals := []struct {
		name, current, new string
		want               error
	}{
		{"wrong current", "not the password", newPassword, ErrWrongPassword},
		{"same password", oldPassword, oldPassword, ErrSamePassword},
		{"weak new", oldPassword, "short", ErrWeakPassword},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			err := svc.ChangePassword("alice", tc.current, tc.new)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ChangePassword = %v, want %v", err, tc.want)
			}
			if got := mustAccount(t, st, "alice"); !reflect.DeepEqual(got, orig) {
				t.Errorf("refused change modified the account:\n got %+v\nwant %+v", got, orig)
			}
		})
	}
	if err := svc.ChangePassword("alice", oldPassword, newPassword); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	a := mustAccount(t, st, "alice")
	if a.PasswordHash == orig.PasswordHash || a.MustChangePassword || !a.PasswordChangedAt.After(orig.PasswordChangedAt) {
		t.Errorf("after change: hash changed=%v mustChange=%v changedAt %v (was %v)",
			a.PasswordHash != orig.PasswordHash, a.MustChangePassword, a.PasswordChangedAt, orig.PasswordChangedAt)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(newPassword)); err != nil {
		t.Errorf("stored hash does not match the new password: %v", err)
	}
}

func TestCompleteForcedChange(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	orig := fixture(t, st, "alice", Admin, oldPassword, true)

	if err := svc.CompleteForcedChange("alice", oldPassword); !errors.Is(err, ErrSamePassword) {
		t.Fatalf("CompleteForcedChange(same password) = %v, want ErrSamePassword", err)
	}
	if err := svc.CompleteForcedChange("alice", "too short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("CompleteForcedChange(weak) = %v, want ErrWeakPassword", err)
	}
	if got := mustAccount(t, st, "alice"); !reflect.DeepEqual(got, orig) {
		t.Fatalf("refused forced change modified the account: %+v", got)
	}

	if err := svc.CompleteForcedChange("alice", newPassword); err != nil {
		t.Fatalf("CompleteForcedChange: %v", err)
	}
	id, err := svc.Lookup("alice")
	if err != nil {
		t.Fatal(err)
	}
	if id.MustChangePassword {
		t.Error("must-change still set after CompleteForcedChange")
	}
	if id.Role != Admin {
		t.Errorf("role changed to %q", id.Role)
	}
	a := mustAccount(t, st, "alice")
	if a.PasswordHash == orig.PasswordHash {
		t.Fatal("password hash unchanged")
	}
	if !svc.VerifyPassword("alice", newPassword) {
		t.Error("new password does not verify")
	}
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	orig := fixture(t, st, "bob", Viewer, oldPassword, false)

	if err := svc.ResetPassword("bob", "weak"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("ResetPassword(weak) = %v, want ErrWeakPassword", err)
	}
	if got := mustAccount(t, st, "bob"); !reflect.DeepEqual(got, orig) {
		t.Fatalf("refused reset modified the account: %+v", got)
	}
	if err := svc.ResetPassword("bob", newPassword); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	a := mustAccount(t, st, "bob")
	if !a.MustChangePassword {
		t.Error("ResetPassword did not set must-change")
	}
	if a.PasswordHash == orig.PasswordHash {
		t.Error("ResetPassword did not change the hash")
	}
	if cost, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil || cost != bcryptCost {
		t.Errorf("reset hash cost = %d, %v; want %d", cost, err, bcryptCost)
	}
}

func TestEnsureInitialAdminRefusesEmptyPassword(t *testing.T) {
	svc, st := newService(t)
	created, err := svc.EnsureInitialAdmin("admin", "")
	if created || !errors.Is(err, ErrWeakPassword) {
		t.Errorf("EnsureInitialAdmin(empty) = %v, %v; want false, ErrWeakPassword", created, err)
	}
	if _, err := st.Account("admin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account created anyway: %v", err)
	}
	// An existing account is left alone (and no hash is computed).
	orig := fixture(t, st, "admin", Admin, oldPassword, false)
	created, err = svc.EnsureInitialAdmin("admin", newPassword)
	if created || err != nil {
		t.Errorf("EnsureInitialAdmin(existing) = %v, %v; want false, nil", created, err)
	}
	if got := mustAccount(t, st, "admin"); !reflect.DeepEqual(got, orig) {
		t.Errorf("existing admin modified: %+v", got)
	}
}

func newKeyLine(t *testing.T, comment string) (gossh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub)))
	if comment != "" {
		line += " " + comment
	}
	return sshPub, line
}

func TestAuthorizedKeys(t *testing.T) {
	svc, st := newService(t)
	fixture(t, st, "alice", Viewer, "", false)
	fixture(t, st, "bob", Viewer, "", false)

	key1, line1 := newKeyLine(t, "alice@laptop")
	key2, line2 := newKeyLine(t, "")
	other, _ := newKeyLine(t, "")

	fp1, err := svc.AddKey("alice", "  "+line1+"\n")
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	if want := gossh.FingerprintSHA256(key1); fp1 != want {
		t.Errorf("AddKey fingerprint = %q, want %q", fp1, want)
	}
	if _, err := svc.AddKey("alice", line1); !errors.Is(err, ErrKeyExists) {
		t.Errorf("AddKey(duplicate) = %v, want ErrKeyExists", err)
	}
	// The same key with another comment is still the same key.
	keyOnly := strings.Join(strings.Fields(line1)[:2], " ")
	if _, err := svc.AddKey("alice", keyOnly+" other-comment"); !errors.Is(err, ErrKeyExists) {
		t.Errorf("AddKey(same key, other comment) = %v, want ErrKeyExists", err)
	}
	fp2, err := svc.AddKey("alice", line2)
	if err != nil {
		t.Fatalf("AddKey(second key): %v", err)
	}

	a := mustAccount(t, st, "alice")
	if len(a.Keys) != 2 {
		t.Fatalf("alice has %d keys, want 2: %+v", len(a.Keys), a.Keys)
	}
	if a.Keys[0].Line != line1 || a.Keys[0].Fingerprint != fp1 || a.Keys[0].AddedAt.IsZero() {
		t.Errorf("stored key 0 = %+v; want line %q", a.Keys[0], line1)
	}
	if a.Keys[1].Line != line2 || a.Keys[1].Fingerprint != fp2 {
		t.Errorf("stored key 1 = %+v; want line %q", a.Keys[1], line2)
	}

	bad := []struct{ name, line string }{
		{"garbage", "this is not a key"},
		{"empty", ""},
		{"truncated base64", keyOnly[:len(keyOnly)-10]},
		{"two keys", line1 + "\n" + line2},
	}
	for _, tc := range bad {
		t.Run("bad key/"+tc.name, func(t *testing.T) {
			if _, err := svc.AddKey("bob", tc.line); !errors.Is(err, ErrBadKey) {
				t.Errorf("AddKey(%q) = %v, want ErrBadKey", tc.line, err)
			}
		})
	}
	if b := mustAccount(t, st, "bob"); len(b.Keys) != 0 {
		t.Errorf("bad keys were stored for bob: %+v", b.Keys)
	}
	if _, err := svc.AddKey("nobody", line1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddKey(unknown account) = %v, want store.ErrNotFound", err)
	}

	verify := []struct {
		account string
		key     gossh.PublicKey
		want    bool
	}{
		{"alice", key1, true},
		{"alice", key2, true},
		{"alice", other, false},
		{"bob", key1, false},
		{"nobody", key1, false},
	}
	for _, tc := range verify {
		if got := svc.VerifyKey(tc.account, tc.key); got != tc.want {
			t.Errorf("VerifyKey(%s, %s) = %v, want %v", tc.account, gossh.FingerprintSHA256(tc.key), got, tc.want)
		}
	}

	if err := svc.RemoveKey("alice", gossh.FingerprintSHA256(other)); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("RemoveKey(unknown fingerprint) = %v, want ErrKeyNotFound", err)
	}
	if err := svc.RemoveKey("alice", fp1); err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	if svc.VerifyKey("alice", key1) {
		t.Error("removed key still verifies")
	}
	if !svc.VerifyKey("alice", key2) {
		t.Error("the other key stopped verifying after removing the first")
	}
	if err := svc.RemoveKey("alice", fp1); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("RemoveKey(already removed) = %v, want ErrKeyNotFound", err)
	}
	if a := mustAccount(t, st, "alice"); len(a.Keys) != 1 || a.Keys[0].Fingerprint != fp2 {
		t.Errorf("keys after removal = %+v; want only %s", a.Keys, fp2)
	}
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		role, need Role
		want       bool
	}{
		{Admin, Admin, true},
		{Admin, Viewer, true},
		{Viewer, Viewer, true},
		{Viewer, Admin, false},
		{Role(""), Admin, false},
		{Role("root"), Admin, false},
	}
	for _, tc := range tests {
		if got := tc.role.Allows(tc.need); got != tc.want {
			t.Errorf("Role(%q).Allows(%q) = %v, want %v", tc.role, tc.need, got, tc.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"admin", Admin, false},
		{"viewer", Viewer, false},
		{"Admin", "", true},
		{"VIEWER", "", true},
		{" admin", "", true},
		{"", "", true},
		{"root", "", true},
	}
	for _, tc := range tests {
		got, err := ParseRole(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrBadRole) || got != "" {
				t.Errorf("ParseRole(%q) = %q, %v; want \"\", ErrBadRole", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
		}
	}
}

func TestRemoveAndHistoryDelegateToStore(t *testing.T) {
	svc, st := newService(t)
	fixture(t, st, "root", Admin, "", false)
	fixture(t, st, "v", Viewer, "", false)
	if err := svc.Remove("root"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("Remove(last admin) = %v, want ErrLastAdmin", err)
	}
	for _, l := range []string{"a", "b", "c"} {
		if err := svc.AppendHistory("v", l); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := svc.History("v", 2); err != nil || !reflect.DeepEqual(h, []string{"b", "c"}) {
		t.Errorf("History(v, 2) = %q, %v", h, err)
	}
	if err := svc.Remove("v"); err != nil {
		t.Fatalf("Remove(v): %v", err)
	}
	list, err := svc.List()
	if err != nil || len(list) != 1 || list[0].Name != "root" {
		t.Errorf("List after Remove = %+v, %v", list, err)
	}
}

// A key line with options (from=, no-pty, ...) is refused rather than stored
// without the restrictions the operator asked for.
func TestAddKeyRefusesOptions(t *testing.T) {
	svc, st := newService(t)
	fixture(t, st, "alice", Viewer, "", false)
	_, line := newKeyLine(t, "c")
	_, err := svc.AddKey("alice", `from="10.0.0.0/8",no-pty `+line)
	if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("AddKey with options: %v", err)
	}
	a, _ := st.Account("alice")
	if len(a.Keys) != 0 {
		t.Fatalf("a key with options was stored: %+v", a.Keys)
	}
}

// TestLastAdminRule: the rule lives here and holds for removal and demotion alike.
func TestLastAdminRule(t *testing.T) {
	t.Run("remove", func(t *testing.T) {
		svc, st := newService(t)
		fixture(t, st, "a1", Admin, "", false)
		fixture(t, st, "a2", Admin, "", false)
		fixture(t, st, "v", Viewer, "", false)
		if err := svc.Remove("v"); err != nil {
			t.Fatalf("Remove(viewer): %v", err)
		}
		if err := svc.Remove("a1"); err != nil {
			t.Fatalf("Remove(a1) with a2 admin: %v", err)
		}
		err := svc.Remove("a2")
		if !errors.Is(err, ErrLastAdmin) || err.Error() != `account "a2": it is the last admin account` {
			t.Fatalf("Remove(last admin) = %v", err)
		}
		if _, err := svc.Lookup("a2"); err != nil {
			t.Errorf("refused removal removed a2: %v", err)
		}
		if err := svc.Remove("ghost"); !errors.Is(err, ErrNotFound) || err.Error() != `account "ghost": not found` {
			t.Errorf("Remove(missing) = %v", err)
		}
	})
	t.Run("demote", func(t *testing.T) {
		svc, st := newService(t)
		fixture(t, st, "a1", Admin, "", false)
		fixture(t, st, "a2", Admin, "", false)
		if err := svc.SetRole("a2", Viewer); err != nil {
			t.Fatalf("demote a2 with a1 admin: %v", err)
		}
		if id, _ := svc.Lookup("a2"); id.Role != Viewer {
			t.Errorf("a2 role = %q", id.Role)
		}
		if err := svc.SetRole("a1", Viewer); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("demote last admin = %v", err)
		}
		if id, _ := svc.Lookup("a1"); id.Role != Admin {
			t.Errorf("refused demotion was written: %q", id.Role)
		}
		if err := svc.SetRole("a1", Admin); err != nil {
			t.Errorf("admin to admin: %v", err)
		}
		if err := svc.SetRole("a2", "root"); !errors.Is(err, ErrBadRole) {
			t.Errorf("bad role = %v", err)
		}
	})
	t.Run("parallel removal of the last two admins", func(t *testing.T) {
		svc, st := newService(t)
		fixture(t, st, "a1", Admin, "", false)
		fixture(t, st, "a2", Admin, "", false)
		errs := make(chan error, 2)
		for _, n := range []string{"a1", "a2"} {
			go func() { errs <- svc.Remove(n) }()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("exactly one removal must succeed: %v, %v", e1, e2)
		}
	})
}

// TestListShowsNoPasswordHash: what List returns can be printed or sent anywhere.
func TestListShowsNoPasswordHash(t *testing.T) {
	svc, st := newService(t)
	fixture(t, st, "root", Admin, "Root-Password-1", true)
	_, line := newKeyLine(t, "root@laptop")
	if _, err := svc.AddKey("root", line); err != nil {
		t.Fatal(err)
	}
	all, err := svc.List()
	if err != nil || len(all) != 1 {
		t.Fatalf("List = %v, %v", all, err)
	}
	raw, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "$2a$") || strings.Contains(strings.ToLower(string(raw)), "hash") {
		t.Errorf("List exposes the password hash: %s", raw)
	}
	a := all[0]
	if a.Name != "root" || a.Role != Admin || !a.MustChangePassword || len(a.Keys) != 1 || a.Keys[0].Fingerprint == "" {
		t.Errorf("List = %+v", a)
	}
}

// Every hook hears of a password set and of a removal (the first boot and the
// web console both listen); a refused change tells none.
func TestChangeHooks(t *testing.T) {
	t.Parallel()
	svc, st := newService(t)
	fixture(t, st, "root", Admin, oldPassword, false)
	fixture(t, st, "bob", Viewer, oldPassword, false)
	var changed, changed2, removed []string
	svc.OnPasswordChange(func(n string) { changed = append(changed, n) })
	svc.OnPasswordChange(func(n string) { changed2 = append(changed2, n) })
	svc.OnRemove(func(n string) { removed = append(removed, n) })
	svc.ResetPassword("bob", "weak")
	if err := svc.ResetPassword("bob", newPassword); err != nil {
		t.Fatal(err)
	}
	svc.Remove("ghost")
	if err := svc.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "bob" || strings.Join(changed2, ",") != "bob" || strings.Join(removed, ",") != "bob" {
		t.Errorf("hooks saw changed %v, %v and removed %v; want bob once each", changed, changed2, removed)
	}
}

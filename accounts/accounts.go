// Package accounts holds the rules for shell logins: roles, password hashing and
// policy, authorized keys. Records live in the store; this package never caches them.
package accounts

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/store"
)

// Role decides which commands an account may run.
type Role string

const (
	Admin  Role = "admin"
	Viewer Role = "viewer"
)

// ParseRole accepts the role names operators type.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Admin, Viewer:
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q: %w (use admin or viewer)", s, ErrBadRole)
}

// Allows reports whether an account of role r may run a command that requires need.
func (r Role) Allows(need Role) bool { return r == Admin || need == Viewer }

// MinPasswordLength is the policy's minimum, in characters.
const MinPasswordLength = 12

// MaxPasswordBytes is bcrypt's limit; a longer password would be refused at hashing.
const MaxPasswordBytes = 72

var (
	ErrBadRole        = errors.New("unknown role")
	ErrBadName        = errors.New("invalid account name")
	ErrWeakPassword   = errors.New("password too weak")
	ErrSamePassword   = errors.New("new password must differ from the old one")
	ErrWrongPassword  = errors.New("current password is incorrect")
	ErrBadKey         = errors.New("invalid authorized_keys line")
	ErrKeyExists      = errors.New("key already added")
	ErrKeyNotFound    = errors.New("no such key")
	ErrPasswordNeeded = errors.New("password change required")
	ErrLastAdmin      = errors.New("it is the last admin account")
	ErrSelf           = errors.New("cannot remove the account you are logged in as")
	// ErrExists and ErrNotFound are the store's, so errors.Is works across both.
	ErrExists   = store.ErrExists
	ErrNotFound = store.ErrNotFound
)

// bcryptCost trades login latency (about 50 ms here at 10) against offline cracking.
const bcryptCost = 11

var validName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// dummyHash is compared against when the account does not exist, so that a wrong
// user name costs the same time as a wrong password. It is
// a constant (a bcrypt hash, at bcryptCost, of a throw-away string) so start-up does not pay for it.
var dummyHash = []byte("$2a$11$bSxsaxK9BNVDCeD8B58asuJ67xxGNBOwb.FRC09i2X8XnAo7V9OYW")

// Service applies the account rules to the store.
type Service struct {
	st *store.Store
	// changed is told the name of every account whose password was set.
	changed []func(name string)
	// removed is told the name of every account removed.
	removed []func(name string)
}

// OnPasswordChange adds fn, called after an account's password was set
// (changed, reset or set at the forced change): the first boot removes the
// initial-password file, the console ends the account's web sessions.
// Add them before the service is used.
func (s *Service) OnPasswordChange(fn func(name string)) { s.changed = append(s.changed, fn) }

// OnRemove adds fn, called after an account was removed. Add it before the service is used.
func (s *Service) OnRemove(fn func(name string)) { s.removed = append(s.removed, fn) }

// New returns the account service over st.
func New(st *store.Store) *Service { return &Service{st: st} }

// Identity is what a session needs to know about its account.
type Identity struct {
	Name               string
	Role               Role
	MustChangePassword bool
}

// Lookup returns the account's identity.
func (s *Service) Lookup(name string) (Identity, error) {
	a, err := s.st.Account(name)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Name: a.Name, Role: Role(a.Role), MustChangePassword: a.MustChangePassword}, nil
}

// Account is what may be shown of an account: never its password hash.
type Account struct {
	Identity
	Keys              []Key
	CreatedAt         time.Time
	PasswordChangedAt time.Time
}

// Key is one authorized public key.
type Key struct {
	Line        string // authorized_keys format
	Fingerprint string // SHA256:...
	AddedAt     time.Time
}

// List returns every account, ordered by name.
func (s *Service) List() ([]Account, error) {
	all, err := s.st.Accounts()
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(all))
	for _, a := range all {
		v := Account{
			Identity:  Identity{Name: a.Name, Role: Role(a.Role), MustChangePassword: a.MustChangePassword},
			CreatedAt: a.CreatedAt, PasswordChangedAt: a.PasswordChangedAt, Keys: make([]Key, 0, len(a.Keys)),
		}
		for _, k := range a.Keys {
			v.Keys = append(v.Keys, Key{Line: k.Line, Fingerprint: k.Fingerprint, AddedAt: k.AddedAt})
		}
		out = append(out, v)
	}
	return out, nil
}

// VerifyPassword reports whether password is the account's. It always spends one bcrypt comparison.
func (s *Service) VerifyPassword(name, password string) bool {
	a, err := s.st.Account(name)
	if err != nil || a.PasswordHash == "" || password == "" {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) == nil
}

// VerifyKey reports whether key is one of the account's authorized keys.
func (s *Service) VerifyKey(name string, key gossh.PublicKey) bool {
	a, err := s.st.Account(name)
	if err != nil {
		return false
	}
	want := key.Marshal()
	for _, k := range a.Keys {
		pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k.Line))
		if err == nil && subtle.ConstantTimeCompare(pub.Marshal(), want) == 1 {
			return true
		}
	}
	return false
}

// CheckPolicy says why newPassword is unacceptable, or nil.
func CheckPolicy(oldPassword, newPassword string) error {
	if len([]rune(newPassword)) < MinPasswordLength {
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordLength)
	}
	if len(newPassword) > MaxPasswordBytes {
		return fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	}
	if strings.TrimSpace(newPassword) != newPassword {
		return fmt.Errorf("%w: no leading or trailing spaces", ErrWeakPassword)
	}
	if oldPassword != "" && newPassword == oldPassword {
		return ErrSamePassword
	}
	return nil
}

func hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckName says why name cannot be an account name, or nil.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("account %q: %w (lower-case letters, digits, _ . -; at most 32)", name, ErrBadName)
	}
	return nil
}

// Add creates an account that must change its initial password at first login.
func (s *Service) Add(name string, role Role, initialPassword string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if err := CheckPolicy("", initialPassword); err != nil {
		return err
	}
	h, err := hash(initialPassword)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return s.st.CreateAccount(store.Account{
		Name: name, Role: string(role), PasswordHash: h, MustChangePassword: true,
		CreatedAt: now, PasswordChangedAt: now,
	})
}

// EnsureInitialAdmin creates the admin account on first boot; it reports whether it did.
func (s *Service) EnsureInitialAdmin(name, password string) (bool, error) {
	if _, err := s.st.Account(name); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if password == "" {
		return false, fmt.Errorf("initial password for %q: %w", name, ErrWeakPassword)
	}
	h, err := hash(password)
	if err != nil {
		return false, err
	}
	now := time.Now().UTC()
	return true, s.st.CreateAccount(store.Account{
		Name: name, Role: string(Admin), PasswordHash: h, MustChangePassword: true,
		CreatedAt: now, PasswordChangedAt: now,
	})
}

// Remove deletes an account and its history, never the last admin.
func (s *Service) Remove(name string) error {
	err := s.st.UpdateAccounts(func(tx store.AccountsTx) error {
		a, err := tx.Account(name)
		if err != nil {
			return err
		}
		if Role(a.Role) == Admin {
			if err := otherAdmin(tx, name); err != nil {
				return err
			}
		}
		return tx.Delete(name)
	})
	if err == nil {
		for _, fn := range s.removed {
			fn(name)
		}
	}
	return err
}

// SetRole changes an account's role, never demoting the last admin.
func (s *Service) SetRole(name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.st.UpdateAccounts(func(tx store.AccountsTx) error {
		a, err := tx.Account(name)
		if err != nil {
			return err
		}
		if Role(a.Role) == Admin && role != Admin {
			if err := otherAdmin(tx, name); err != nil {
				return err
			}
		}
		a.Role = string(role)
		return tx.Put(a)
	})
}

// otherAdmin fails unless an admin other than name exists. It runs inside the
// transaction that removes or demotes name, so two sessions removing the last
// two admins at once cannot both succeed.
func otherAdmin(tx store.AccountsTx, name string) error {
	all, err := tx.Accounts()
	if err != nil {
		return err
	}
	for _, a := range all {
		if a.Name != name && Role(a.Role) == Admin {
			return nil
		}
	}
	return fmt.Errorf("account %q: %w", name, ErrLastAdmin)
}

// ChangePassword is `passwd`: the caller proves the current password.
func (s *Service) ChangePassword(name, current, newPassword string) error {
	if !s.VerifyPassword(name, current) {
		return ErrWrongPassword
	}
	if err := CheckPolicy(current, newPassword); err != nil {
		return err
	}
	return s.setPassword(name, newPassword, false)
}

// CompleteForcedChange sets the password of an account in the must-change state.
// The session already authenticated, so the old password is only compared, not asked.
func (s *Service) CompleteForcedChange(name, newPassword string) error {
	if s.VerifyPassword(name, newPassword) {
		return ErrSamePassword
	}
	if err := CheckPolicy("", newPassword); err != nil {
		return err
	}
	return s.setPassword(name, newPassword, false)
}

// ResetPassword is an admin's reset: the account must change it at next login.
func (s *Service) ResetPassword(name, newPassword string) error {
	if err := CheckPolicy("", newPassword); err != nil {
		return err
	}
	return s.setPassword(name, newPassword, true)
}

func (s *Service) setPassword(name, password string, mustChange bool) error {
	h, err := hash(password)
	if err != nil {
		return err
	}
	err = s.st.UpdateAccount(name, func(a *store.Account) error {
		a.PasswordHash = h
		a.MustChangePassword = mustChange
		a.PasswordChangedAt = time.Now().UTC()
		return nil
	})
	if err == nil {
		for _, fn := range s.changed {
			fn(name)
		}
	}
	return err
}

// AddKey authorizes a public key (one authorized_keys line) for the account.
func (s *Service) AddKey(name, line string) (string, error) {
	pub, comment, options, rest, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return "", fmt.Errorf("account %q: %w: expected \"<type> <base64> [comment]\"", name, ErrBadKey)
	}
	if len(options) > 0 {
		// Ferry does not enforce from=, no-pty and the like; storing the key without
		// them would silently widen what the operator meant to allow.
		return "", fmt.Errorf("account %q: %w: options (%s) are not supported; give the key without them", name, ErrBadKey, strings.Join(options, ","))
	}
	fp := gossh.FingerprintSHA256(pub)
	normalized := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		normalized += " " + comment
	}
	err = s.st.UpdateAccount(name, func(a *store.Account) error {
		for _, k := range a.Keys {
			if k.Fingerprint == fp {
				return fmt.Errorf("account %q: key %s: %w", name, fp, ErrKeyExists)
			}
		}
		a.Keys = append(a.Keys, store.AuthorizedKey{Line: normalized, Fingerprint: fp, AddedAt: time.Now().UTC()})
		return nil
	})
	return fp, err
}

// RemoveKey removes the key with the given SHA256 fingerprint.
func (s *Service) RemoveKey(name, fingerprint string) error {
	return s.st.UpdateAccount(name, func(a *store.Account) error {
		for i, k := range a.Keys {
			if k.Fingerprint == fingerprint {
				a.Keys = append(a.Keys[:i], a.Keys[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("account %q: key %s: %w", name, fingerprint, ErrKeyNotFound)
	})
}

// History returns the account's last n command lines, oldest first.
func (s *Service) History(name string, n int) ([]string, error) { return s.st.History(name, n) }

// AppendHistory records a command line the account ran.
func (s *Service) AppendHistory(name, line string) error { return s.st.AppendHistory(name, line) }

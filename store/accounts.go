package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Account is a shell login. Role is "admin" or "viewer"; the accounts package owns the rules.
type Account struct {
	Name               string          `json:"name"`
	Role               string          `json:"role"`
	PasswordHash       string          `json:"password_hash"`
	MustChangePassword bool            `json:"must_change_password"`
	Keys               []AuthorizedKey `json:"keys,omitempty"`
	CreatedAt          time.Time       `json:"created_at"`
	PasswordChangedAt  time.Time       `json:"password_changed_at"`
}

// AuthorizedKey is one public key allowed to log in as the account.
type AuthorizedKey struct {
	Line        string    `json:"line"` // authorized_keys format
	Fingerprint string    `json:"fingerprint"`
	AddedAt     time.Time `json:"added_at"`
}

const roleAdmin = "admin"

// Account returns the named account.
func (s *Store) Account(name string) (Account, error) {
	var a Account
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketAccounts), name, &a)
	})
	if err != nil {
		return Account{}, fmt.Errorf("account %q: %w", name, err)
	}
	return a, nil
}

// Accounts returns every account, ordered by name.
func (s *Store) Accounts() ([]Account, error) {
	var out []Account
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("account %q: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// CreateAccount stores a new account; ErrExists if the name is taken.
func (s *Store) CreateAccount(a Account) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		if b.Get([]byte(a.Name)) != nil {
			return fmt.Errorf("account %q: %w", a.Name, ErrExists)
		}
		return putJSON(b, a.Name, a)
	})
}

// UpdateAccount reads the named account, lets fn change it, and writes it back
// in one transaction, so concurrent sessions cannot lose each other's changes.
func (s *Store) UpdateAccount(name string, fn func(*Account) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		var a Account
		if err := getJSON(b, name, &a); err != nil {
			return fmt.Errorf("account %q: %w", name, err)
		}
		wasAdmin := a.Role == roleAdmin
		if err := fn(&a); err != nil {
			return err
		}
		a.Name = name // the key is the identity; fn may not rename
		if wasAdmin && a.Role != roleAdmin {
			if err := checkOtherAdmin(b, name); err != nil {
				return err
			}
		}
		return putJSON(b, name, a)
	})
}

// DeleteAccount removes the account and its history; never the last admin.
func (s *Store) DeleteAccount(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		var a Account
		if err := getJSON(b, name, &a); err != nil {
			return fmt.Errorf("account %q: %w", name, err)
		}
		if a.Role == roleAdmin {
			if err := checkOtherAdmin(b, name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketHistory).DeleteBucket([]byte(name)); err != nil && err != bolt.ErrBucketNotFound {
			return err
		}
		return b.Delete([]byte(name))
	})
}

// checkOtherAdmin fails unless an admin other than name exists.
func checkOtherAdmin(b *bolt.Bucket, name string) error {
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if string(k) == name {
			continue
		}
		var other Account
		if err := getJSON(b, string(k), &other); err != nil {
			return fmt.Errorf("account %q: %w", k, err)
		}
		if other.Role == roleAdmin {
			return nil
		}
	}
	return fmt.Errorf("account %q: %w", name, ErrLastAdmin)
}

package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Account is a shell login. Role is "admin" or "viewer"; the accounts package owns the
// rules (the roles, the password policy, one admin at least), the store only keeps records.
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
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = accountsIn(tx)
		return err
	})
	return out, err
}

func accountsIn(tx *bolt.Tx) ([]Account, error) {
	var out []Account
	err := tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
		var a Account
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("account %q: %w: %v", k, ErrCorrupt, err)
		}
		out = append(out, a)
		return nil
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
	return s.UpdateAccounts(func(tx AccountsTx) error {
		a, err := tx.Account(name)
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.Name = name // the key is the identity; fn may not rename
		return tx.Put(a)
	})
}

// DeleteAccount removes the account and its history.
func (s *Store) DeleteAccount(name string) error {
	return s.UpdateAccounts(func(tx AccountsTx) error { return tx.Delete(name) })
}

// AccountsTx is one read-write transaction over every account: rules that span
// records (the accounts package keeps one admin at least) check and write in it.
type AccountsTx struct{ tx *bolt.Tx }

// UpdateAccounts runs fn in one transaction; an error from fn writes nothing.
func (s *Store) UpdateAccounts(fn func(AccountsTx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(AccountsTx{tx: tx}) })
}

// Account returns the named account.
func (t AccountsTx) Account(name string) (Account, error) {
	var a Account
	if err := getJSON(t.tx.Bucket(bucketAccounts), name, &a); err != nil {
		return Account{}, fmt.Errorf("account %q: %w", name, err)
	}
	return a, nil
}

// Accounts returns every account, ordered by name.
func (t AccountsTx) Accounts() ([]Account, error) { return accountsIn(t.tx) }

// Put writes a, creating or replacing it.
func (t AccountsTx) Put(a Account) error { return putJSON(t.tx.Bucket(bucketAccounts), a.Name, a) }

// Delete removes the account and its history.
func (t AccountsTx) Delete(name string) error {
	b := t.tx.Bucket(bucketAccounts)
	if b.Get([]byte(name)) == nil {
		return fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	if err := t.tx.Bucket(bucketHistory).DeleteBucket([]byte(name)); err != nil && err != bolt.ErrBucketNotFound {
		return err
	}
	return b.Delete([]byte(name))
}

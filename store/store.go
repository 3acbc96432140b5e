// Package store is Ferry's configuration database: typed records in bbolt.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is the confdb. All methods are safe for concurrent use once it is open.
// As an appliance component, Start opens it and Shutdown closes it.
type Store struct {
	path        string
	lockTimeout time.Duration
	db          *bolt.DB
	created     bool // the file did not exist before Start
	closeOnce   sync.Once
	closeErr    error
}

// New checks the confdb's settings; it touches no file.
func New(path string, lockTimeout time.Duration) (*Store, error) {
	if path == "" {
		return nil, errors.New("confdb: no path")
	}
	return &Store{path: path, lockTimeout: lockTimeout}, nil
}

// Open opens or creates the confdb at path (mode 0600) and migrates it.
// If another process holds the file it gives up after lockTimeout with ErrLocked.
func Open(path string, lockTimeout time.Duration) (*Store, error) {
	s, err := New(path, lockTimeout)
	if err != nil {
		return nil, err
	}
	if err := s.Start(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Start opens or creates the file (mode 0600), takes its lock and migrates it.
// An existing file is checked first, read-only (see inspect): an empty,
// truncated or inconsistent one is refused with a *DamagedError and left as it
// is, never re-created, so an existing data dir is never taken for a new one.
func (s *Store) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := s.path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("confdb directory: %w", err)
	}
	info, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	if statErr != nil && !created {
		return fmt.Errorf("confdb %s: %w", path, statErr)
	}
	if !created {
		if err := inspect(path, info.Size(), s.lockTimeout); err != nil {
			return err
		}
	}
	var db *bolt.DB
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: s.lockTimeout})
		return err
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return lockedError(path)
	}
	if err != nil {
		return fmt.Errorf("open confdb %s: %w", path, err)
	}
	// abandon closes db; a file this Start created goes too, so that a first boot
	// that could not write its schema is a first boot again next time.
	abandon := func() {
		db.Close()
		if created {
			os.Remove(path)
		}
	}
	// bbolt keeps the mode of an existing file; an appliance's config is never world-readable.
	if err := os.Chmod(path, 0o600); err != nil {
		abandon()
		return fmt.Errorf("confdb %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		abandon()
		return err
	}
	s.db, s.created = db, created
	return nil
}

func lockedError(path string) error {
	return fmt.Errorf("open %s: %w (is another ferryd running on this data dir?)", path, ErrLocked)
}

// Created reports whether Start created the file: this is the data dir's first boot.
func (s *Store) Created() bool { return s.created }

// Shutdown closes the confdb and releases its lock; it is Close as a component.
func (s *Store) Shutdown(context.Context) error { return s.Close() }

// Close releases the file lock. It is idempotent and safe on a store that never opened.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.db != nil {
			s.closeErr = s.db.Close()
		}
	})
	return s.closeErr
}

// Path is the confdb file.
func (s *Store) Path() string { return s.path }

// Size is the confdb file size in bytes.
func (s *Store) Size() (int64, error) {
	var size int64
	err := s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	return size, err
}

// Bootstrapped reports when the first-boot batch completed (zero if never).
func (s *Store) Bootstrapped() (time.Time, error) { return s.Flag(string(keyBootstrappedAt)) }

// MarkBootstrapped records that the first-boot batch has run.
func (s *Store) MarkBootstrapped(at time.Time) error { return s.SetFlag(string(keyBootstrappedAt), at) }

// getJSON decodes key of bucket into v; ErrNotFound if the key is absent.
func getJSON(b *bolt.Bucket, key string, v any) error {
	raw := b.Get([]byte(key))
	if raw == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

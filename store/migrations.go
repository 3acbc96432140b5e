package store

import (
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migration moves the confdb from version-1 to version. Each runs inside the
// same transaction that records the new version, so a crash leaves the old one.
type migration struct {
	version int
	apply   func(tx *bolt.Tx) error
}

// migrations are ordered; append only, never edit a released one.
var migrations = []migration{
	{version: 1, apply: createV1},
	{version: 2, apply: createV2},
	{version: 3, apply: createV3},
	{version: 4, apply: createV4},
	{version: 5, apply: createV5},
}

// SchemaVersion is the confdb version this build writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

func createV1(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketHostKeys, bucketHistory} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyCreatedAt) == nil {
		return meta.Put(keyCreatedAt, []byte(time.Now().UTC().Format(time.RFC3339)))
	}
	return nil
}

// migrate brings the database to SchemaVersion, refusing one written by a newer ferryd.
func migrate(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		current, err := readVersion(tx)
		if err != nil {
			return err
		}
		if current > SchemaVersion() {
			return fmt.Errorf("confdb schema version %d is newer than this ferryd supports (%d): %w", current, SchemaVersion(), ErrSchemaTooNew)
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migrate confdb to version %d: %w", m.version, err)
			}
			current = m.version
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(strconv.Itoa(current)))
	})
}

func readVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("confdb schema version %q: %w", raw, ErrCorrupt)
	}
	return v, nil
}

// createV2 adds the keystore registry and the HTTP bindings.
func createV2(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketKeystores, bucketBindings} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

// createV3 adds the receivers.
func createV3(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketInputs); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketInputs, err)
	}
	return nil
}

// createV4 adds the destinations and routes.
func createV4(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketOutputs, bucketRoutes} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

// createV5 adds the filters.
func createV5(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketFilters); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketFilters, err)
	}
	return nil
}

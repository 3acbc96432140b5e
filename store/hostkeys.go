package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// HostKeys returns the stored SSH host private keys by algorithm name.
func (s *Store) HostKeys() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHostKeys).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

// PutHostKey stores a host private key (PEM) under its algorithm name.
func (s *Store) PutHostKey(algorithm string, pem []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHostKeys).Put([]byte(algorithm), pem)
	})
}

package store

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// HistoryLimit is how many command lines are kept per account.
const HistoryLimit = 500

// AppendHistory adds a command line to the account's history, dropping the oldest beyond HistoryLimit.
func (s *Store) AppendHistory(account, line string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketHistory).CreateBucketIfNotExists([]byte(account))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], seq)
		if err := b.Put(key[:], []byte(line)); err != nil {
			return err
		}
		c := b.Cursor()
		for n := b.Stats().KeyN + 1 - HistoryLimit; n > 0; n-- {
			k, _ := c.First()
			if k == nil {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// History returns up to n of the account's most recent command lines, oldest first.
func (s *Store) History(account string, n int) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory).Bucket([]byte(account))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			out = append(out, string(v))
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the confdb to path (mode 0600). The copy is
// taken inside one read transaction, so it never mixes two states, and is written
// to a temporary file first so a failed backup leaves nothing half-written at path.
func (s *Store) Backup(path string) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".confdb-backup-*")
	if err != nil {
		return 0, backupError(path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	var n int64
	err = s.db.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, backupError(path, err)
	}
	return n, nil
}

// backupError names the operator's path, never the temporary file beside it.
func backupError(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("backup %q: %w", path, err)
}

// Export writes the configuration as indented JSON, secrets and per-user state removed:
// {"<bucket>": {"<key>": <record>}}. Records that are not JSON are exported as strings.
func (s *Store) Export(w io.Writer) error {
	out := map[string]map[string]any{}
	err := s.db.View(func(tx *bolt.Tx) error {
		specs := map[string]exportSpec{}
		for _, spec := range exported {
			specs[string(spec.bucket)] = spec
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			spec, ok := specs[string(name)]
			if !ok {
				return fmt.Errorf("export: bucket %q has no export rule in schema.go", name)
			}
			if spec.skip {
				return nil
			}
			records := map[string]any{}
			err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // nested buckets are never exported implicitly
				}
				records[string(k)] = exportValue(v, spec.redact)
				return nil
			})
			out[string(name)] = records
			return err
		})
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func exportValue(raw []byte, redact []string) any {
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return string(raw)
	}
	for _, field := range redact {
		delete(obj, field)
	}
	return obj
}

// Operations is what an operator may do with the confdb as a whole: back it up,
// export it, see its size and path. Commands get this, never the Store, so
// they cannot write records past the rules of their owners.
type Operations struct{ s *Store }

// Operations returns the confdb's operator view.
func (s *Store) Operations() Operations { return Operations{s: s} }

// Backup is Store.Backup.
func (o Operations) Backup(path string) (int64, error) { return o.s.Backup(path) }

// Export is Store.Export.
func (o Operations) Export(w io.Writer) error { return o.s.Export(w) }

// Size is Store.Size.
func (o Operations) Size() (int64, error) { return o.s.Size() }

// Path is Store.Path.
func (o Operations) Path() string { return o.s.Path() }

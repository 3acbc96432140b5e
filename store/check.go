package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The defensive open: an existing confdb is checked before anything writes to it.

// DamagedError is a confdb file that cannot be used as it is: empty, truncated,
// or inconsistent. Its message is one line that tells the operator what to do.
type DamagedError struct {
	Path   string
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("confdb %s is damaged (%s): restore a backup made with confdb.backup "+
		"(stop ferryd, copy the backup to that path) or move the file away to start afresh", e.Path, e.Reason)
}

// damaged builds a DamagedError whose reason fits on one line.
func damaged(path, reason string) error {
	reason = strings.Join(strings.Fields(reason), " ")
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "..."
	}
	return &DamagedError{Path: path, Reason: reason}
}

const (
	maxReason = 240
	// maxBucketDepth bounds the walk; the schema nests two deep (history/<account>).
	maxBucketDepth = 16
)

// inspect checks an existing confdb before anything may write to it: it opens
// the file read-only (a shared lock, so a running ferryd makes it ErrLocked)
// and refuses it with a DamagedError when it is empty, shorter than its pages,
// has a bad freelist, has pages that cannot be read, holds no schema version,
// or fails bbolt's consistency check. It never writes to the file.
func inspect(path string, size int64, timeout time.Duration) error {
	if size == 0 {
		// bbolt would initialise it as a new database: a first boot with fresh host
		// keys and root's initial password, over an appliance that was configured.
		return damaged(path, "the file is empty")
	}
	var db *bolt.DB
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
		return err
	})
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return lockedError(path)
	case errors.As(err, &pathErr):
		return fmt.Errorf("open confdb %s: %w", path, err)
	case err != nil && strings.Contains(err.Error(), "file size too small"):
		return damaged(path, fmt.Sprintf("truncated: the file has only %d bytes", size))
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return damaged(path, fmt.Sprintf("neither meta page is valid: %v", err))
	case err != nil:
		return damaged(path, err.Error())
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		// The file grows before its pages are written, so it is never shorter than
		// the pages the meta page counts; a shorter one lost its end.
		if need := tx.Size(); need > size {
			return damaged(path, fmt.Sprintf("truncated: the file has %d bytes, its pages need %d", size, need))
		}
		// bbolt panics on a freelist page that is not one, and trusts its count:
		// check it from the file before bbolt reads it.
		tornMeta, err := checkFreelist(path, db.Info().PageSize)
		if err != nil {
			return damaged(path, err.Error())
		}
		// bbolt follows page ids blindly: a scribbled one that points back up
		// its own tree sends a cursor down for ever. Check the tree first.
		if err := checkTree(path, db.Info().PageSize); err != nil {
			return damaged(path, err.Error())
		}
		if err := guard(func() error { return walk(tx) }); err != nil {
			return damaged(path, err.Error())
		}
		if meta := tx.Bucket(bucketMeta); meta == nil || meta.Get(keySchemaVersion) == nil {
			return damaged(path, "it holds no schema version, so it is not a confdb or its first boot never finished")
		}
		// A scribbled bucket name reads as a missing bucket, which every reader
		// takes for granted: every bucket the first schema made must be there.
		// (A version this build does not know is migrate's to report.)
		v, verr := strconv.Atoi(string(tx.Bucket(bucketMeta).Get(keySchemaVersion)))
		for _, b := range baseBuckets {
			if verr == nil && v >= b.since && v <= SchemaVersion() && tx.Bucket(b.name) == nil {
				return damaged(path, fmt.Sprintf("bucket %q is missing", b.name))
			}
		}
		if tornMeta {
			// What a torn meta write leaves: bbolt uses the other, older meta page
			// (a consistent snapshot) and rewrites this one at the next commit.
			// tx.Check cannot run: it panics on the bad page before checking anything.
			return nil
		}
		var first error
		more := 0
		for err := range tx.Check() { // drained to the end: Check's goroutine closes the channel
			if first == nil {
				first = err
			} else {
				more++
			}
		}
		switch {
		case first != nil && more > 0:
			return damaged(path, fmt.Sprintf("%v, and %d more problems", first, more))
		case first != nil:
			return damaged(path, first.Error())
		}
		return nil
	})
}

// guard runs fn with faults on mapped memory turned into panics (a page past
// the end of a truncated file is SIGBUS, which would otherwise kill the process),
// and returns a panic as an error. When bbolt panics inside Open, it leaves its
// descriptor and mapping behind; the caller refuses the file and ferryd exits.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading it failed: %v", r)
		}
	}()
	return fn()
}

// walk reads every key and value of every bucket, so that a page that cannot be
// read fails here, under guard, and not in a later transaction.
func walk(tx *bolt.Tx) error {
	var sum uint32 // touches every byte; the value itself is not needed
	var visit func(b *bolt.Bucket, depth int) error
	visit = func(b *bolt.Bucket, depth int) error {
		if depth > maxBucketDepth {
			return fmt.Errorf("buckets nest more than %d deep", maxBucketDepth)
		}
		return b.ForEach(func(k, v []byte) error {
			sum = crc32.Update(sum, crc32.IEEETable, k)
			if v != nil {
				sum = crc32.Update(sum, crc32.IEEETable, v)
				return nil
			}
			child := b.Bucket(k)
			if child == nil {
				return fmt.Errorf("bucket %q cannot be read", k)
			}
			return visit(child, depth+1)
		})
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if b == nil {
			return fmt.Errorf("top-level key %q is not a bucket", name)
		}
		return visit(b, 1)
	})
	_ = sum
	return err
}

// bbolt's on-disk format (version 2), as far as checkFreelist reads it:
// a page starts with id u64, flags u16, count u16, overflow u32; a meta page
// then holds magic u32, version u32, page size u32, flags u32, root bucket
// (2×u64), freelist u64, high-water page id u64, txid u64 and an FNV-64a
// checksum of the bytes before it. All little-endian on the platforms we run on.
const (
	pageHeaderSize   = 16
	metaSize         = 64
	metaChecksumAt   = 56
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

type diskMeta struct {
	valid                     bool
	root, freelist, hwm, txid uint64
}

func readMeta(page []byte) diskMeta {
	m := page[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	le := binary.LittleEndian
	return diskMeta{
		valid: le.Uint32(m[0:]) == boltMagic && le.Uint32(m[4:]) == boltVersion &&
			le.Uint64(m[metaChecksumAt:]) == h.Sum64(),
		root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:]),
	}
}

// checkFreelist reads, from the file (not bbolt's mapping), the freelist of the
// meta page bbolt uses, picked as bbolt picks it: the higher txid if valid,
// else the other. It checks the page is a freelist, lies below the high-water
// mark and that every free page id in it does too. tornMeta reports that one
// of the two meta pages is invalid.
func checkFreelist(path string, pageSize int) (tornMeta bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	metas := make([]byte, 2*pageSize)
	if _, err := f.ReadAt(metas, 0); err != nil {
		return false, fmt.Errorf("meta pages: %v", err)
	}
	a, b := readMeta(metas[:pageSize]), readMeta(metas[pageSize:])
	tornMeta = a.valid != b.valid
	if b.txid > a.txid {
		a, b = b, a
	}
	if !a.valid {
		a = b
	}
	if !a.valid || a.freelist == noFreelist {
		return tornMeta, nil // bbolt refused the first case already; the second has no freelist page
	}
	if a.freelist < 2 || a.freelist >= a.hwm {
		return tornMeta, fmt.Errorf("freelist page %d is outside the file's %d pages", a.freelist, a.hwm)
	}
	header := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(header, int64(a.freelist)*int64(pageSize)); err != nil {
		return tornMeta, fmt.Errorf("freelist page %d: %v", a.freelist, err)
	}
	le := binary.LittleEndian
	flags, count, overflow := le.Uint16(header[8:]), uint64(le.Uint16(header[10:])), uint64(le.Uint32(header[12:]))
	if flags != freelistPageFlag {
		return tornMeta, fmt.Errorf("freelist page %d is not a freelist page (flags %#x)", a.freelist, flags)
	}
	if a.freelist+overflow >= a.hwm {
		return tornMeta, fmt.Errorf("freelist page %d runs past the file's %d pages", a.freelist, a.hwm)
	}
	first := uint64(0)
	if count == 0xFFFF { // the real count is the first element
		count, first = le.Uint64(header[pageHeaderSize:]), 1
	}
	room := ((overflow+1)*uint64(pageSize) - pageHeaderSize) / 8
	if count > room || first+count > room {
		return tornMeta, fmt.Errorf("freelist page %d claims %d free pages, more than it holds", a.freelist, count)
	}
	ids := make([]byte, (first+count)*8)
	if _, err := f.ReadAt(ids, int64(a.freelist)*int64(pageSize)+pageHeaderSize); err != nil {
		return tornMeta, fmt.Errorf("freelist page %d: %v", a.freelist, err)
	}
	for i := first; i < first+count; i++ {
		if id := le.Uint64(ids[i*8:]); id < 2 || id >= a.hwm {
			return tornMeta, fmt.Errorf("freelist page %d lists page %d, outside the file's %d pages", a.freelist, id, a.hwm)
		}
	}
	return tornMeta, nil
}

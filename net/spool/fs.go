package spool

import "io"

// FS is the little of a filesystem the spool uses, so that the crash tests
// run the same code on a simulated disk that can lose power. Paths are
// full paths; errors for a missing file satisfy errors.Is(err, fs.ErrNotExist).
type FS interface {
	MkdirAll(dir string) error
	ReadDir(dir string) ([]string, error) // the names in dir, sorted
	Create(name string) (File, error)     // empty (truncated if it exists), read-write
	Open(name string) (File, error)       // read-only
	OpenWrite(name string) (File, error)  // existing, read-write
	Rename(oldname, newname string) error // within one directory
	Remove(name string) error
	SyncDir(dir string) error // make dir's entries durable
	Stat(name string) (int64, error)
}

// File is an open file. Writes go at explicit offsets (the spool keeps its
// own), so a File needs no seek position.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error // make the content durable (fdatasync)
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

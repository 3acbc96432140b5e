// Package crashfs is an in-memory filesystem that can lose power. It records
// every operation since the last fsync of each file and of each directory,
// and Recover builds the disk a crash would leave: what was synced survives;
// each unsynced write to a file is kept, dropped or torn (a prefix, maybe
// with garbage at its end); unsynced creates, renames and removes survive as
// a prefix of the order they were made in (a journaling filesystem commits
// metadata in order). Every choice comes from the caller's random source, so
// a seed replays a crash exactly.
//
// It implements the file operations net/spool needs (its FS interface, by
// shape: the spool's tests adapt it), counts operations so a test can crash
// at any one of them, counts reads per file, and can run out of space.
package crashfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrCrashed is what every operation returns once the machine has crashed.
var ErrCrashed = errors.New("crashfs: crashed")

// FS is the simulated disk. Its methods are safe for concurrent use.
type FS struct {
	mu      sync.Mutex
	dirs    map[string]bool   // directories (always durable)
	live    map[string]*inode // path → inode as the running system sees it
	durable map[string]*inode // path → inode as it survives a crash
	pending []dirOp           // unsynced directory operations, in order
	nextIno int

	ops      int    // mutating operations so far
	crashAt  int    // crash when ops reaches this (0: never)
	syncsTo  int    // >0: crash at the operation after this many more syncs
	syncKind string // of the syncs whose description contains this
	crashed  bool   // every operation fails
	crashOp  string // the operation that did not happen
	space    int64  // bytes the files may hold (<0: unlimited)
	reads    map[string]*ReadCount
	opLog    []string // names of the mutating operations, for reports
	keepLogs bool
}

// ReadCount is how a file was read.
type ReadCount struct{ Calls, Bytes int64 }

type inode struct {
	id      int
	data    []byte   // as the running system sees it
	durable []byte   // as it survives a crash
	pending []dataOp // writes and truncates since the last fsync, in order
}

type dataOp struct {
	truncate bool
	off      int64 // write offset, or the new size
	b        []byte
}

type dirOp struct {
	kind     string // "create", "rename", "remove"
	dir      string
	from, to string // paths; create and remove use to
	ino      *inode
}

// New returns an empty disk with unlimited space.
func New() *FS {
	return &FS{dirs: map[string]bool{"/": true}, live: map[string]*inode{}, durable: map[string]*inode{},
		space: -1, reads: map[string]*ReadCount{}}
}

// CrashAfter makes the machine crash when n more mutating operations have
// run: the (n+1)th and everything after it fail with ErrCrashed. n <= 0
// crashes at the next one.
func (f *FS) CrashAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAt = f.ops + max(n, 0) + 1
}

// CrashAfterSyncs makes the machine crash at the first mutating operation
// after n more syncs have completed whose description ("fsync <file>",
// "syncdir <dir>") contains kind: right after a durability barrier, where
// ordering mistakes show.
func (f *FS) CrashAfterSyncs(n int, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAt, f.syncsTo, f.syncKind = 0, max(n, 1), kind
}

// Crash crashes the machine now.
func (f *FS) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.crashed {
		f.crashed, f.crashOp = true, "(explicit)"
	}
}

// Crashed reports whether the machine has crashed and at which operation.
func (f *FS) Crashed() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed, f.crashOp
}

// Ops is the number of mutating operations run so far.
func (f *FS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// LogOps makes the disk remember each mutating operation's description (for
// a scripted test that reports which step a crash hit).
func (f *FS) LogOps() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keepLogs = true
}

// OpLog is the description of each mutating operation, in order (LogOps).
func (f *FS) OpLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.opLog)
}

// SetSpace limits the bytes all files together may hold; a write past it
// writes what fits and fails with ENOSPC. n < 0: unlimited.
func (f *FS) SetSpace(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.space = n
}

// Used is the bytes the files hold now.
func (f *FS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usedLocked()
}

func (f *FS) usedLocked() int64 {
	var n int64
	for _, ino := range f.live {
		n += int64(len(ino.data))
	}
	return n
}

// Reads is how the file at path was read since the last ResetReads.
func (f *FS) Reads(path string) ReadCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rc := f.reads[path]; rc != nil {
		return *rc
	}
	return ReadCount{}
}

// ResetReads forgets the read counts.
func (f *FS) ResetReads() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = map[string]*ReadCount{}
}

// step counts a mutating operation and crashes when it is the chosen one.
func (f *FS) step(desc string) error {
	if f.crashed {
		return ErrCrashed
	}
	f.ops++
	if f.crashAt > 0 && f.ops >= f.crashAt {
		f.crashed, f.crashOp = true, desc
		return ErrCrashed
	}
	if f.keepLogs {
		f.opLog = append(f.opLog, desc)
	}
	if f.syncsTo > 0 && (strings.HasPrefix(desc, "fsync ") || strings.HasPrefix(desc, "syncdir ")) && strings.Contains(desc, f.syncKind) {
		if f.syncsTo--; f.syncsTo == 0 {
			f.crashAt = f.ops + 1 // the sync itself completes
		}
	}
	return nil
}

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

// MkdirAll makes dir and its parents; directories are durable at once.
func (f *FS) MkdirAll(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.step("mkdir " + dir); err != nil {
		return pathErr("mkdir", dir, err)
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		f.dirs[d] = true
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// ReadDir is the sorted names of the files in dir.
func (f *FS) ReadDir(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return nil, pathErr("readdir", dir, ErrCrashed)
	}
	dir = filepath.Clean(dir)
	if !f.dirs[dir] {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	var names []string
	for p := range f.live {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// Create makes name an empty file (truncating one that exists), open for
// reading and writing.
func (f *FS) Create(name string) (*File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if err := f.step("create " + filepath.Base(name)); err != nil {
		return nil, pathErr("create", name, err)
	}
	if !f.dirs[filepath.Dir(name)] {
		return nil, pathErr("create", name, fs.ErrNotExist)
	}
	if ino := f.live[name]; ino != nil {
		ino.data = ino.data[:0:0]
		ino.pending = append(ino.pending, dataOp{truncate: true})
		return &File{fs: f, ino: ino, path: name, write: true}, nil
	}
	f.nextIno++
	ino := &inode{id: f.nextIno}
	f.live[name] = ino
	f.pending = append(f.pending, dirOp{kind: "create", dir: filepath.Dir(name), to: name, ino: ino})
	return &File{fs: f, ino: ino, path: name, write: true}, nil
}

// Open opens name for reading.
func (f *FS) Open(name string) (*File, error) { return f.open(name, false) }

// OpenWrite opens an existing file for reading and writing.
func (f *FS) OpenWrite(name string) (*File, error) { return f.open(name, true) }

func (f *FS) open(name string, write bool) (*File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if f.crashed {
		return nil, pathErr("open", name, ErrCrashed)
	}
	ino := f.live[name]
	if ino == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	return &File{fs: f, ino: ino, path: name, write: write}, nil
}

// Rename moves oldname to newname, replacing it.
func (f *FS) Rename(oldname, newname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	if err := f.step("rename " + filepath.Base(oldname) + " " + filepath.Base(newname)); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	ino := f.live[oldname]
	if ino == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if filepath.Dir(oldname) != filepath.Dir(newname) {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errors.New("crashfs: rename across directories")}
	}
	delete(f.live, oldname)
	f.live[newname] = ino
	f.pending = append(f.pending, dirOp{kind: "rename", dir: filepath.Dir(newname), from: oldname, to: newname, ino: ino})
	return nil
}

// Remove unlinks name; open handles keep the data, as on Unix.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if err := f.step("remove " + filepath.Base(name)); err != nil {
		return pathErr("remove", name, err)
	}
	ino := f.live[name]
	if ino == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	delete(f.live, name)
	f.pending = append(f.pending, dirOp{kind: "remove", dir: filepath.Dir(name), to: name, ino: ino})
	return nil
}

// SyncDir makes dir's entries durable: every pending operation on it.
func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if err := f.step("syncdir " + filepath.Base(dir)); err != nil {
		return pathErr("sync", dir, err)
	}
	kept := f.pending[:0]
	for _, op := range f.pending {
		if op.dir == dir {
			applyDirOp(f.durable, op)
		} else {
			kept = append(kept, op)
		}
	}
	f.pending = kept
	return nil
}

func applyDirOp(m map[string]*inode, op dirOp) {
	switch op.kind {
	case "create":
		m[op.to] = op.ino
	case "rename":
		if m[op.from] == op.ino {
			delete(m, op.from)
		}
		m[op.to] = op.ino
	case "remove":
		if m[op.to] == op.ino {
			delete(m, op.to)
		}
	}
}

// Stat is the size of name.
func (f *FS) Stat(name string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if f.crashed {
		return 0, pathErr("stat", name, ErrCrashed)
	}
	ino := f.live[name]
	if ino == nil {
		return 0, pathErr("stat", name, fs.ErrNotExist)
	}
	return int64(len(ino.data)), nil
}

// ReadFile is name's content (for tests: no counting, no crash checks).
func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ino := f.live[filepath.Clean(name)]
	if ino == nil {
		return nil, pathErr("read", name, fs.ErrNotExist)
	}
	return slices.Clone(ino.data), nil
}

// WriteFile replaces name's content, durably, as damage from outside would
// (for tests that corrupt a spool).
func (f *FS) WriteFile(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	ino := f.live[name]
	if ino == nil {
		f.nextIno++
		ino = &inode{id: f.nextIno}
		f.live[name] = ino
	}
	f.durable[name] = ino
	ino.data, ino.durable, ino.pending = slices.Clone(data), slices.Clone(data), nil
}

// Delete removes name durably (for tests).
func (f *FS) Delete(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	delete(f.live, name)
	delete(f.durable, name)
}

// Names is every file path, sorted (for tests).
func (f *FS) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for p := range f.live {
		names = append(names, p)
	}
	slices.Sort(names)
	return names
}

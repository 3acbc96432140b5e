package spool

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sync"
)

// MemFS is an FS in memory, beside OSFS: a spool on it keeps the spool's
// semantics (order, acknowledgement, the full policy and the counts) with
// its bound in memory instead of on disk, and loses what it holds when the
// process ends (a destination added with --buffer 0). Unlike crashfs it
// keeps no history: it is for use, not for crash tests.
type MemFS struct {
	mu    sync.Mutex
	files map[string]*memFile
	dirs  map[string]bool
}

// NewMemFS returns an empty memory file system.
func NewMemFS() *MemFS { return &MemFS{files: map[string]*memFile{}, dirs: map[string]bool{}} }

type memFile struct {
	mu   sync.Mutex
	data []byte
}

type memHandle struct {
	f        *memFile
	readOnly bool
}

func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := path.Clean(dir); d != "/" && d != "."; d = path.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = path.Clean(dir)
	if !m.dirs[dir] {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var out []string
	for name := range m.files {
		if path.Dir(name) == dir {
			out = append(out, path.Base(name))
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &memFile{}
	m.files[path.Clean(name)] = f
	return &memHandle{f: f}, nil
}

func (m *MemFS) open(name string, readOnly bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[path.Clean(name)]
	if f == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memHandle{f: f, readOnly: readOnly}, nil
}

func (m *MemFS) Open(name string) (File, error)      { return m.open(name, true) }
func (m *MemFS) OpenWrite(name string) (File, error) { return m.open(name, false) }

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[path.Clean(oldname)]
	if f == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.files, path.Clean(oldname))
	m.files[path.Clean(newname)] = f
	return nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[path.Clean(name)] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, path.Clean(name))
	return nil
}

func (m *MemFS) SyncDir(string) error { return nil }

func (m *MemFS) Stat(name string) (int64, error) {
	m.mu.Lock()
	f := m.files[path.Clean(name)]
	m.mu.Unlock()
	if f == nil {
		return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return f.size(), nil
}

func (f *memFile) size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.data))
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	if h.readOnly {
		return 0, fmt.Errorf("memfs: write to a read-only handle")
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(h.f.data)) {
		h.f.data = append(h.f.data, make([]byte, end-int64(len(h.f.data)))...)
	}
	copy(h.f.data[off:], p)
	return len(p), nil
}

func (h *memHandle) Sync() error { return nil }

func (h *memHandle) Truncate(size int64) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size:size]
	} else {
		h.f.data = append(h.f.data, make([]byte, size-int64(len(h.f.data)))...)
	}
	return nil
}

func (h *memHandle) Size() (int64, error) { return h.f.size(), nil }
func (h *memHandle) Close() error         { return nil }

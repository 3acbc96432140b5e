package crashfs

import (
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// File is an open file.
type File struct {
	fs     *FS
	ino    *inode
	path   string
	write  bool
	closed bool
}

func (h *File) check(op string) error {
	if h.closed {
		return pathErr(op, h.path, fs.ErrClosed)
	}
	if h.fs.crashed {
		return pathErr(op, h.path, ErrCrashed)
	}
	return nil
}

// ReadAt reads as os.File.ReadAt does.
func (h *File) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", h.path, fs.ErrInvalid)
	}
	rc := h.fs.reads[h.path]
	if rc == nil {
		rc = &ReadCount{}
		h.fs.reads[h.path] = rc
	}
	rc.Calls++
	if off >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[off:])
	rc.Bytes += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes as os.File.WriteAt does, short with ENOSPC when the disk
// is full.
func (h *File) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("write"); err != nil {
		return 0, err
	}
	if !h.write {
		return 0, pathErr("write", h.path, fs.ErrPermission)
	}
	if err := h.fs.step(fmt.Sprintf("write %s@%d+%d", filepath.Base(h.path), off, len(p))); err != nil {
		return 0, pathErr("write", h.path, err)
	}
	var nospace error
	if h.fs.space >= 0 {
		grow := max(off+int64(len(p))-int64(len(h.ino.data)), 0)
		if free := h.fs.space - h.fs.usedLocked(); grow > free {
			keep := max(int64(len(h.ino.data))+max(free, 0)-off, 0)
			p, nospace = p[:min(int64(len(p)), keep)], syscall.ENOSPC
		}
	}
	if len(p) > 0 {
		h.ino.data = writeAt(h.ino.data, p, off)
		h.ino.pending = append(h.ino.pending, dataOp{off: off, b: slices.Clone(p)})
	}
	if nospace != nil {
		return len(p), pathErr("write", h.path, nospace)
	}
	return len(p), nil
}

// Truncate sets the size.
func (h *File) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("truncate"); err != nil {
		return err
	}
	if !h.write || size < 0 {
		return pathErr("truncate", h.path, fs.ErrInvalid)
	}
	if err := h.fs.step(fmt.Sprintf("truncate %s@%d", filepath.Base(h.path), size)); err != nil {
		return pathErr("truncate", h.path, err)
	}
	if size < int64(len(h.ino.data)) {
		h.ino.data = h.ino.data[:size]
	} else {
		h.ino.data = writeAt(h.ino.data, nil, size)
	}
	h.ino.pending = append(h.ino.pending, dataOp{truncate: true, off: size})
	return nil
}

// Sync makes the file's content durable (not its directory entry).
func (h *File) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("sync"); err != nil {
		return err
	}
	if err := h.fs.step("fsync " + filepath.Base(h.path)); err != nil {
		return pathErr("sync", h.path, err)
	}
	h.ino.durable, h.ino.pending = slices.Clone(h.ino.data), nil
	return nil
}

// Size is the file's size.
func (h *File) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("stat"); err != nil {
		return 0, err
	}
	return int64(len(h.ino.data)), nil
}

// Close closes the handle; it is not an operation the disk sees.
func (h *File) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("close", h.path, fs.ErrClosed)
	}
	h.closed = true
	return nil
}

// String names the file, for messages.
func (h *File) String() string { return strings.TrimPrefix(h.path, "/") }

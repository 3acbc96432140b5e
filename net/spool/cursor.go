package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// The cursor file holds the acknowledged position in two fixed slots, at
// offsets 0 and 512 (separate sectors), written alternately: a torn write
// can damage only the slot being written, and the other still holds the
// previous position. The valid slot with the highest generation wins.
const (
	cursorName  = "cursor"
	cursorMagic = "FCUR"
	slotLen     = 32 // magic, version, zero, generation, acked, crc, zero
	slotStride  = 512
	cursorSize  = slotStride + slotLen
)

type cursorState int

const (
	cursorMissing cursorState = iota // no file, or never written
	cursorValid
	cursorLost // written, but no slot is valid
)

type cursor struct {
	f    File
	path string
	gen  uint64 // of the last slot written
}

func appendSlot(dst []byte, gen, acked uint64) []byte {
	start := len(dst)
	dst = append(dst, cursorMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, formatVersion)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, gen)
	dst = binary.LittleEndian.AppendUint64(dst, acked)
	dst = binary.LittleEndian.AppendUint32(dst, crc(dst[start:]))
	return binary.LittleEndian.AppendUint32(dst, 0)
}

// parseSlot returns a slot's generation and position; ok is false if it is not valid.
func parseSlot(b []byte) (gen, acked uint64, ok bool) {
	if len(b) < slotLen || string(b[:4]) != cursorMagic || binary.LittleEndian.Uint16(b[4:]) != formatVersion ||
		binary.LittleEndian.Uint32(b[24:]) != crc(b[:24]) {
		return 0, 0, false
	}
	gen, acked = binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
	return gen, acked, gen > 0 && acked < maxSeq
}

// readSlots picks the winning slot of a cursor file's content.
func readSlots(b []byte) (gen, acked uint64, st cursorState) {
	for _, off := range []int{0, slotStride} {
		if off >= len(b) {
			break
		}
		if g, a, ok := parseSlot(b[off:]); ok && g > gen {
			gen, acked, st = g, a, cursorValid
		}
	}
	if st != cursorValid {
		st = cursorMissing
		for _, c := range b {
			if c != 0 {
				st = cursorLost // something was written there
				break
			}
		}
	}
	return gen, acked, st
}

// openCursor opens (or creates) the cursor file in dir and reads it. A file
// that cannot be opened is set aside (aside names it) and replaced; only
// failing to create one is an error. fresh says the file was created.
func openCursor(fsys FS, dir string, exists bool) (c *cursor, acked uint64, st cursorState, aside string, fresh bool, err error) {
	path := filepath.Join(dir, cursorName)
	if exists {
		f, err := fsys.OpenWrite(path)
		if err == nil {
			b := make([]byte, cursorSize)
			n, _ := f.ReadAt(b, 0) // a read error leaves the slots invalid
			gen, acked, st := readSlots(b[:n])
			// Make what we read durable before acting on it (it may be an
			// unsynced write from before a process crash).
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, 0, 0, "", false, fmt.Errorf("cursor: %w", err)
			}
			return &cursor{f: f, path: path, gen: gen}, acked, st, "", false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			if aside, err = setAside(fsys, dir, cursorName); err != nil {
				return nil, 0, 0, "", false, fmt.Errorf("cursor: %w", err)
			}
		}
	}
	f, err := fsys.Create(path)
	if err != nil {
		return nil, 0, 0, "", false, fmt.Errorf("cursor: %w", err)
	}
	st = cursorMissing
	if aside != "" {
		st = cursorLost
	}
	return &cursor{f: f, path: path}, 0, st, aside, true, nil
}

// write puts acked in the slot after the last one written and, if fsync,
// syncs it.
func (c *cursor) write(acked uint64, fsync bool) error {
	gen := c.gen + 1
	if _, err := c.f.WriteAt(appendSlot(make([]byte, 0, slotLen), gen, acked), int64(gen%2)*slotStride); err != nil {
		return err
	}
	if fsync {
		if err := c.f.Sync(); err != nil {
			return err
		}
	}
	c.gen = gen
	return nil
}

// setAside renames dir/name to a free name.bad (name.<n>.bad if taken) and
// syncs dir; it returns the new name.
func setAside(fsys FS, dir, name string) (string, error) {
	aside, err := freeName(fsys, dir, name)
	if err != nil {
		return "", err
	}
	if err := fsys.Rename(filepath.Join(dir, name), filepath.Join(dir, aside)); err != nil {
		return "", err
	}
	return aside, fsys.SyncDir(dir)
}

// freeName is name.bad, or name.<n>.bad for the first n not taken.
func freeName(fsys FS, dir, name string) (string, error) {
	for n := 0; n < 1000; n++ {
		aside := name + ".bad"
		if n > 0 {
			aside = fmt.Sprintf("%s.%d.bad", name, n)
		}
		_, err := fsys.Stat(filepath.Join(dir, aside))
		if errors.Is(err, fs.ErrNotExist) {
			return aside, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name to set %s aside", name)
}

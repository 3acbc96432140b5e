// Package logfile is the daemon's log on disk: a rotating writer and a tail for logger.tail.
package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Name is the log file inside <data-dir>/log.
const Name = "ferry.log"

// Retention is how long rotated logs are kept.
const Retention = 30 * 24 * time.Hour

// Open returns a writer for <dir>/ferry.log that rotates at 100 MiB and each day,
// keeping rotated files (compressed, 0600) for 30 days, at most 30 of them. Close it on shutdown.
func Open(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	w := &Writer{lj: &lumberjack.Logger{
		Filename: filepath.Join(dir, Name),
		MaxSize:  100, // MiB
		MaxAge:   int(Retention / (24 * time.Hour)),
		// A flood of log lines must not fill the disk within the 30 days: at most
		// 30 rotated files (compressed) besides the current one.
		MaxBackups: 30,
		Compress:   true,
	}}
	if f, err := os.OpenFile(w.Path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	} else {
		f.Close()
	}
	w.day = time.Now().YearDay()
	return w, nil
}

// Writer is the rotating log writer.
type Writer struct {
	lj  *lumberjack.Logger
	day int
}

// Path is the current log file.
func (w *Writer) Path() string { return w.lj.Filename }

// Write appends p, rotating first when the day has changed. Output serialises
// writes, and counts the ones that fail (a full disk) instead of returning them.
func (w *Writer) Write(p []byte) (int, error) {
	if d := time.Now().YearDay(); d != w.day {
		w.day = d
		if err := w.lj.Rotate(); err != nil {
			return 0, err
		}
	}
	return w.lj.Write(p)
}

// Close closes the file.
func (w *Writer) Close() error { return w.lj.Close() }

// pollEvery is how often Tail looks for new lines; a log is read by people, not machines.
const pollEvery = 200 * time.Millisecond

// Tail writes the last n lines of path to out, then, if follow, keeps writing new
// lines (across rotation) until ctx ends.
func Tail(ctx context.Context, path string, n int, follow bool, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer func() { f.Close() }()
	offset, err := lastLines(f, n, out)
	if err != nil || !follow {
		return err
	}
	var partial []byte
	buf := make([]byte, 32*1024)
	// drain writes every complete line from offset to the end of f.
	drain := func() error {
		for {
			m, err := f.ReadAt(buf, offset)
			if m > 0 {
				offset += int64(m)
				partial = append(partial, buf[:m]...)
				if i := bytes.LastIndexByte(partial, '\n'); i >= 0 {
					if _, werr := out.Write(partial[:i+1]); werr != nil {
						return werr
					}
					partial = append(partial[:0], partial[i+1:]...)
				}
			}
			if errors.Is(err, io.EOF) || m == 0 {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	ticker := time.NewTicker(pollEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if rotated(f, path, offset) {
			nf, err := os.Open(path)
			if err != nil {
				continue // between rename and create; try again next tick
			}
			// Finish the old file first: lines written just before the rename belong to it.
			if err := drain(); err != nil {
				nf.Close()
				return err
			}
			if len(partial) > 0 {
				if _, err := out.Write(append(partial, '\n')); err != nil {
					nf.Close()
					return err
				}
			}
			f.Close()
			f, offset, partial = nf, 0, nil
		}
		if err := drain(); err != nil {
			return err
		}
	}
}

// rotated reports whether path is no longer the open file, or was truncated.
func rotated(f *os.File, path string, offset int64) bool {
	cur, err := f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(path)
	if err != nil {
		return false
	}
	return !os.SameFile(cur, now) || now.Size() < offset
}

// lastLines writes the last n lines of f and returns the offset of its end.
func lastLines(f *os.File, n int, out io.Writer) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	start := end
	const block = 16 * 1024
	newlines := 0
	buf := make([]byte, block)
	// Walk back block by block until n+1 newlines are seen (the last byte is usually one).
	for start > 0 && newlines <= n {
		size := int64(block)
		if start < size {
			size = start
		}
		start -= size
		if _, err := f.ReadAt(buf[:size], start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] == '\n' && start+i != end-1 {
				newlines++
				if newlines == n {
					start += i + 1
					size = 0
					break
				}
			}
		}
		if size == 0 {
			break
		}
	}
	if n == 0 {
		start = end
	}
	_, err = io.Copy(out, io.NewSectionReader(f, start, end-start))
	return end, err
}

package file

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// bufSize is each open file's write buffer: a typical batch in one write.
const bufSize = 64 << 10

// endBlock is an empty, last, raw zstd block: appended where a frame was cut
// back after a write error, it makes the frame complete again. Frames are
// written without a content checksum so that this is all it takes.
var endBlock = []byte{0x01, 0x00, 0x00}

// stream is one input's current file: at most one is open per input.
type stream struct {
	dir  string // <Dir>/<input>
	ext  string // ".log" or ".log.zst"
	key  int    // the open file's date, yyyymmdd; 0: none open
	date string // the same as YYYY-MM-DD

	f   *os.File
	cw  countWriter
	enc *zstd.Encoder // nil: not compressed
	w   *bufio.Writer

	good   int64 // file size after the last batch that reached the kernel
	broken bool  // a write failed: cut back to good before writing again
	dirty  bool  // written since the last fsync

	pendEvents, pendBytes uint64 // buffered, not yet flushed
}

// countWriter counts the bytes that reach the file.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newStream makes the state of an input's files; nothing is opened yet.
func (o *Output) newStream(input string) *stream {
	s := &stream{dir: filepath.Join(o.cfg.Dir, safeName(input)), ext: ".log", w: bufio.NewWriterSize(nil, bufSize)}
	if o.cfg.Compress {
		s.ext = ".log.zst"
		// Concurrency 1: blocks are encoded synchronously, no goroutines to own.
		s.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	}
	return s
}

// safeName keeps an input name from leaving Dir or hiding a file.
func safeName(input string) string {
	if input == "" || input == "." || input == ".." {
		return "_" + input
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, input)
}

func (s *stream) path() string { return filepath.Join(s.dir, s.date+s.ext) }

func (s *stream) rotatedPath(n int) string {
	return filepath.Join(s.dir, s.date+"."+strconv.Itoa(n)+s.ext)
}

// size is what the current file will hold once flushed; compressed, what
// reached the file (it lags by what the encoder holds).
func (s *stream) size() int64 {
	if s.enc != nil {
		return s.cw.n
	}
	return s.cw.n + int64(s.w.Buffered())
}

func (s *stream) writeLine(line []byte) error {
	if _, err := s.w.Write(line); err != nil {
		return err
	}
	if err := s.w.WriteByte('\n'); err != nil {
		return err
	}
	s.pendEvents++
	s.pendBytes += uint64(len(line)) + 1
	return nil
}

// flush hands what is buffered to the kernel (compressed: ends a zstd block,
// so the file is a frame cut at a block boundary) and notes the size.
func (s *stream) flush() error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if s.enc != nil && s.pendEvents > 0 {
		if err := s.enc.Flush(); err != nil {
			return err
		}
	}
	s.good = s.cw.n
	return nil
}

// ready makes s's open file the one for date key with room for n more bytes:
// it repairs a broken file, rolls to a new day (dates only move forward: a
// late event joins the current file) and rotates by size.
func (o *Output) ready(s *stream, key int, n int64) error {
	if s.broken && key <= s.key {
		if err := o.repair(s); err != nil {
			return err
		}
	}
	switch {
	case s.f == nil && !s.broken:
		return o.open(s, key)
	case key > s.key:
		o.closeStream(s) // a failure is counted there; the new day goes on
		return o.open(s, key)
	case s.size() > 0 && s.size()+n > o.cfg.MaxSize:
		return o.rotate(s)
	}
	return nil
}

// rotate closes the current file, renames it <date>.<n><ext> with the next
// free n and opens a new one.
func (o *Output) rotate(s *stream) error {
	key, cur := s.key, s.path()
	o.closeStream(s)
	next, err := nextIndex(s.dir, s.date, s.ext)
	if err != nil {
		return err
	}
	if err := os.Rename(cur, s.rotatedPath(next)); err != nil {
		return fmt.Errorf("rotate %s: %w", cur, err)
	}
	return o.open(s, key)
}

// nextIndex is one more than the highest n of <date>.<n><ext> in dir.
func nextIndex(dir, date, ext string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("rotate in %s: %w", dir, err)
	}
	hi := 0
	for _, e := range ents {
		mid, ok := strings.CutPrefix(e.Name(), date+".")
		if !ok {
			continue
		}
		if mid, ok = strings.CutSuffix(mid, ext); !ok {
			continue
		}
		if n, err := strconv.Atoi(mid); err == nil && n > hi {
			hi = n
		}
	}
	return hi + 1, nil
}

// open opens (creating it 0640, its directory 0750) the file of date key.
// A plain file is appended to, after a newline if it ends in a cut line; a
// compressed one left by an earlier run is rotated away, since it may be an
// unfinished frame.
func (o *Output) open(s *stream, key int) error {
	s.key, s.date = 0, fmt.Sprintf("%04d-%02d-%02d", key/10000, key/100%100, key%100)
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("create directory %s: %w", s.dir, err)
	}
	path := s.path()
	if s.enc != nil {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			next, err := nextIndex(s.dir, s.date, s.ext)
			if err != nil {
				return err
			}
			if err := os.Rename(path, s.rotatedPath(next)); err != nil {
				return fmt.Errorf("rotate %s: %w", path, err)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	size, err := endLine(f, s.enc == nil)
	if err != nil {
		f.Close()
		return fmt.Errorf("open %s: %w", path, err)
	}
	o.attach(s, f, size)
	s.key = key
	return nil
}

// endLine returns f's size after making a plain file end in a newline.
func endLine(f *os.File, plain bool) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if !plain || size == 0 {
		return size, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, err
	}
	if last[0] != '\n' {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		size++
	}
	return size, nil
}

// attach makes f, of size bytes, the stream's open file.
func (o *Output) attach(s *stream, f *os.File, size int64) {
	s.f, s.cw, s.good, s.broken = f, countWriter{w: f, n: size}, size, false
	if s.enc != nil {
		s.enc.Reset(&s.cw)
		s.w.Reset(s.enc)
	} else {
		s.w.Reset(&s.cw)
	}
	o.files.Add(1)
}

// detach closes the stream's file, if any, and forgets it.
func (o *Output) detach(s *stream) error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.broken, s.key = nil, false, 0
	s.w.Reset(nil)
	if s.enc != nil {
		s.enc.Reset(nil)
	}
	o.files.Add(-1)
	return err
}

// repair reopens a file whose write failed, cuts it back to its last whole
// batch and, compressed, ends that frame so a new one can follow.
func (o *Output) repair(s *stream) error {
	key, path, good := s.key, s.path(), s.good
	o.detach(s)                 // the handle may be the failed one: its error says nothing new
	s.key, s.broken = key, true // until repaired
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", path, err)
	}
	if err := seal(f, good, s.enc != nil); err != nil {
		f.Close()
		return fmt.Errorf("repair %s: %w", path, err)
	}
	if s.enc != nil && good > 0 {
		good += int64(len(endBlock))
	}
	o.attach(s, f, good)
	s.key = key
	return nil
}

// seal cuts f back to good bytes and, compressed, completes its frame.
func seal(f *os.File, good int64, compressed bool) error {
	if err := f.Truncate(good); err != nil {
		return err
	}
	if compressed && good > 0 {
		_, err := f.Write(endBlock) // O_APPEND: at good
		return err
	}
	return nil
}

// closeStream flushes, finishes the zstd frame, syncs and closes the current
// file. On failure the pending events are counted as errors and the file is
// cut back to its last whole batch.
func (o *Output) closeStream(s *stream) error {
	if s.broken {
		if err := o.repair(s); err != nil {
			s.broken, s.key = false, 0 // give the file up: what it lost is counted
			return err
		}
	}
	if s.f == nil {
		return nil
	}
	path := s.path()
	err := s.w.Flush()
	if err == nil && s.enc != nil {
		err = s.enc.Close()
	}
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("close %s: %w", path, err)
		o.failPending(s, 0, err)
		err = errors.Join(err, seal(s.f, s.good, s.enc != nil))
	} else {
		o.commit(s)
	}
	if cerr := o.detach(s); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", path, cerr)
		o.fail(0, err)
	}
	return err
}

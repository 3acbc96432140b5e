package shell

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/gliderlabs/ssh"
)

const (
	keyCtrlC = 0x03
	keyCtrlE = 0x05 // end of line
	keyCtrlU = 0x15 // erase to start of line

	// maxTypeAhead bounds keys kept while nothing reads them (a running command);
	// past it the oldest are dropped, so a stuck command cannot grow memory.
	maxTypeAhead = 16 * 1024
)

// keyboard owns a PTY session's input. One goroutine reads the channel and never
// blocks on a reader, so Ctrl-C is seen at once even while a command runs.
//
// Ctrl-C is taken out of the stream here, because x/term's ReadLine treats it as EOF
// and keeps returning EOF after it. While a command runs it cancels the command; at a
// prompt it becomes End + Erase-line, which clears what was typed. Either way the keys
// typed ahead of it are dropped: they were meant for what Ctrl-C abandons.
//
// Reads hand out at most one line, so the editor that reads a command never holds the
// answers typed after it: each question's editor gets its own line.
type keyboard struct {
	src  io.Reader
	wake chan struct{} // a key arrived or input ended

	mu        sync.Mutex
	pending   []byte
	lastCR    bool // the last key added was CR: an LF right after it is the same Enter
	eof       bool
	interrupt context.CancelFunc // set while a command runs
	width     int
	height    int
	onResize  func(width, height int)
}

func newKeyboard(src io.Reader, win ssh.Window) *keyboard {
	return &keyboard{src: src, wake: make(chan struct{}, 1), width: win.Width, height: win.Height}
}

// pump reads the channel until it ends (the session's channel closes when its handler returns).
func (k *keyboard) pump() {
	buf := make([]byte, 1024)
	for {
		n, err := k.src.Read(buf)
		k.mu.Lock()
		if n > 0 {
			k.add(buf[:n])
		}
		if err != nil {
			k.eof = true
		}
		k.mu.Unlock()
		select {
		case k.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// add appends keys to pending, acting on Ctrl-C. k.mu is held.
func (k *keyboard) add(in []byte) {
	for _, b := range in {
		afterCR := k.lastCR
		k.lastCR = b == '\r'
		if b == '\n' && afterCR {
			continue // CR LF split across reads would otherwise be two Enters
		}
		if b != keyCtrlC {
			k.pending = append(k.pending, b)
			continue
		}
		k.pending = k.pending[:0]
		if k.interrupt != nil {
			k.interrupt()
			continue
		}
		k.pending = append(k.pending, keyCtrlE, keyCtrlU)
	}
	if over := len(k.pending) - maxTypeAhead; over > 0 {
		k.pending = append(k.pending[:0], k.pending[over:]...)
	}
}

// setInterrupt makes Ctrl-C call fn (nil: Ctrl-C clears the line).
func (k *keyboard) setInterrupt(fn context.CancelFunc) {
	k.mu.Lock()
	k.interrupt = fn
	k.mu.Unlock()
}

func (k *keyboard) watchResize(ctx context.Context, winch <-chan ssh.Window) {
	for {
		select {
		case <-ctx.Done():
			return
		case w, ok := <-winch:
			if !ok {
				return
			}
			k.mu.Lock()
			k.width, k.height = w.Width, w.Height
			fn := k.onResize
			k.mu.Unlock()
			if fn != nil {
				fn(w.Width, w.Height)
			}
		}
	}
}

// resized registers fn for every later window change.
func (k *keyboard) resized(fn func(width, height int)) {
	k.mu.Lock()
	k.onResize = fn
	k.mu.Unlock()
}

func (k *keyboard) size() (int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.width, k.height
}

// terminalIO is what an x/term Terminal reads keys from and draws on; reads end with ctx.
type terminalIO struct {
	k   *keyboard
	ctx context.Context
	w   io.Writer
}

func (k *keyboard) io(ctx context.Context, w io.Writer) *terminalIO {
	return &terminalIO{k: k, ctx: ctx, w: w}
}

func (t *terminalIO) Write(p []byte) (int, error) { return t.w.Write(p) }

// errInputOverflow ends a session whose input x/term cannot make keys of: an escape
// sequence longer than its 256-byte buffer (it would otherwise ask to read into nothing forever).
var errInputOverflow = errors.New("malformed terminal input (escape sequence too long)")

// Read returns pending keys up to and including the first line end (CR, CRLF or LF).
func (t *terminalIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errInputOverflow
	}
	k := t.k
	for {
		if err := t.ctx.Err(); err != nil {
			return 0, err
		}
		k.mu.Lock()
		if len(k.pending) > 0 {
			n := lineEnd(k.pending)
			n = copy(p, k.pending[:n])
			k.pending = append(k.pending[:0], k.pending[n:]...)
			k.mu.Unlock()
			return n, nil
		}
		eof := k.eof
		k.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		select {
		case <-k.wake:
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		}
	}
}

// lineEnd is the length of b's first line including its end, or len(b).
func lineEnd(b []byte) int {
	for i, c := range b {
		switch c {
		case '\n':
			return i + 1
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return i + 2
			}
			return i + 1
		}
	}
	return len(b)
}

package shell

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/gliderlabs/ssh"
	"golang.org/x/term"
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
	resizes   uint64 // window changes seen; each editor applies the latest when it reads
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
		k.poke()
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

// watchResize drains the session's window changes until the channel is gone, then
// calls gone. It never writes: it only keeps the latest size and wakes the reader,
// whose editor redraws (see terminalIO.Read). A redraw writes to the channel and
// blocks while the client's window is full; here it would block gliderlabs' request
// loop and with it x/crypto's read loop for the whole connection, so the client's
// window adjustments and even its disconnect would never be read (a resize storm
// froze sessions for ever). A storm costs a counter increment per change.
//
// gliderlabs closes winch when the channel's requests end: the client closed the
// channel or the connection is gone. Draining must go on until then, not until the
// session's context ends, or a resize after that blocks the request loop again.
func (k *keyboard) watchResize(winch <-chan ssh.Window, gone func()) {
	for w := range winch {
		k.mu.Lock()
		k.width, k.height = w.Width, w.Height
		k.resizes++
		k.mu.Unlock()
		k.poke()
	}
	gone()
}

// poke wakes the reader without waiting: one pending wake-up is as good as many.
func (k *keyboard) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// terminalIO is what an x/term Terminal reads keys from and draws on; reads end with ctx.
type terminalIO struct {
	k       *keyboard
	ctx     context.Context
	w       io.Writer
	t       *term.Terminal // the editor reading; it follows window changes
	applied uint64         // k.resizes when t's size was last set
}

// terminal is a line editor on the keyboard, drawing on w, sized to the window and
// following its changes. Only the latest size is applied, and only by the editor's
// own reader (between keys, while x/term holds no lock): a redraw that blocks on a
// client that does not read blocks this session's output, nothing else.
func (k *keyboard) terminal(ctx context.Context, w io.Writer) *term.Terminal {
	tio := &terminalIO{k: k, ctx: ctx, w: w}
	tio.t = term.NewTerminal(tio, "")
	k.mu.Lock()
	width, height := k.width, k.height
	tio.applied = k.resizes
	k.mu.Unlock()
	tio.t.SetSize(width, height)
	return tio.t
}

func (t *terminalIO) Write(p []byte) (int, error) { return t.w.Write(p) }

// errInputOverflow ends a session whose input x/term cannot make keys of: an escape
// sequence longer than its 256-byte buffer (it would otherwise ask to read into nothing forever).
var errInputOverflow = errors.New("malformed terminal input (escape sequence too long)")

// Read returns pending keys up to and including the first line end (CR, CRLF or LF);
// a window change that came meanwhile is applied to the editor first.
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
		if k.resizes != t.applied {
			t.applied = k.resizes
			width, height := k.width, k.height
			k.mu.Unlock()
			t.t.SetSize(width, height) // x/term releases its lock around Read
			continue
		}
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

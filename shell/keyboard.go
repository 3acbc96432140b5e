package shell

import (
	"context"
	"io"
	"sync"

	"github.com/gliderlabs/ssh"
)

const (
	keyCtrlC = 0x03
	keyCtrlE = 0x05 // end of line
	keyCtrlU = 0x15 // erase to start of line
)

// keyboard owns the PTY's input stream. One goroutine reads the channel; Ctrl-C is
// taken out of the stream here, because x/term's ReadLine treats it as EOF and keeps
// returning EOF after it. While a command runs, Ctrl-C cancels it; at a prompt it
// becomes End + Erase-line, which clears what was typed.
type keyboard struct {
	src  io.Reader
	data chan []byte

	mu        sync.Mutex
	interrupt context.CancelFunc // set while a command runs
	pending   []byte
	width     int
	height    int
	onResize  func(width, height int)
}

func newKeyboard(src io.Reader, win ssh.Window) *keyboard {
	return &keyboard{src: src, data: make(chan []byte, 16), width: win.Width, height: win.Height}
}

// pump reads the channel until it closes or ctx ends.
func (k *keyboard) pump(ctx context.Context) {
	defer close(k.data)
	buf := make([]byte, 1024)
	for {
		n, err := k.src.Read(buf)
		if n > 0 {
			chunk := k.filter(buf[:n])
			if len(chunk) > 0 {
				select {
				case k.data <- chunk:
				case <-ctx.Done():
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (k *keyboard) filter(in []byte) []byte {
	out := make([]byte, 0, len(in)+2)
	for _, b := range in {
		if b != keyCtrlC {
			out = append(out, b)
			continue
		}
		k.mu.Lock()
		stop := k.interrupt
		k.mu.Unlock()
		if stop != nil {
			stop()
			out = out[:0] // what was typed before Ctrl-C belonged to the cancelled command
			continue
		}
		out = append(out, keyCtrlE, keyCtrlU)
	}
	return out
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

func (t *terminalIO) Read(p []byte) (int, error) {
	k := t.k
	k.mu.Lock()
	if len(k.pending) > 0 {
		n := copy(p, k.pending)
		k.pending = k.pending[n:]
		k.mu.Unlock()
		return n, nil
	}
	k.mu.Unlock()
	select {
	case chunk, ok := <-k.data:
		if !ok {
			return 0, io.EOF
		}
		n := copy(p, chunk)
		k.mu.Lock()
		k.pending = append(k.pending, chunk[n:]...)
		k.mu.Unlock()
		return n, nil
	case <-t.ctx.Done():
		return 0, t.ctx.Err()
	}
}

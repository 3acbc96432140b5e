package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ferry-appliance/ferry/accounts"
)

// exec runs `ssh host 'cmd; cmd'`: in order, stopping at the first failure.
// Questions a command asks are answered from stdin, one line each.
func (ss *session) exec(ctx context.Context) int {
	var in lineReader = newStreamInput(ss.sess, ss.out)
	if ss.kb != nil {
		// `ssh -t host cmd`: the keyboard owns stdin; questions are edited (and
		// passwords hidden) like at the prompt, and Ctrl-C cancels the command.
		in = ss
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		ss.kb.setInterrupt(cancel)
	}
	c, err := ss.ctx(ctx, in)
	if err != nil {
		fmt.Fprintln(ss.errOut, err)
		return 1
	}
	if n := len(ss.sess.RawCommand()); n > MaxLine {
		err = errLineTooLong
		auditTooLong(ss.srv.log, c, n)
	} else {
		err = ss.srv.cfg.Registry.runLine(c, ss.srv.log, ss.sess.RawCommand())
	}
	if msg := Message(err); msg != "" {
		fmt.Fprintln(ss.errOut, msg)
	}
	return ExitStatus(err)
}

// batch runs every stdin line as a command (`ssh -T host < setup.txt`).
func (ss *session) batch(ctx context.Context) int {
	in := newStreamInput(ss.sess, ss.out)
	err := runBatch(in, ss.srv.cfg.Registry, ss.srv.log, func() (*Ctx, error) { return ss.ctx(ctx, in) })
	if msg := Message(err); msg != "" {
		fmt.Fprintln(ss.errOut, msg)
	}
	return ExitStatus(err)
}

// runBatch runs lines from in until EOF, skipping blanks and # comments, and stops
// at the first failing line with an error that names it.
func runBatch(in *streamInput, reg *Registry, log *slog.Logger, next func() (*Ctx, error)) error {
	for {
		line, err := in.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, errLineTooLong) {
			if c, cerr := next(); cerr == nil {
				auditTooLong(log, c, -1)
			}
			return lineError{n: in.lineNo, err: err}
		}
		if err != nil {
			return err
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		n := in.lineNo
		c, err := next()
		if err == nil && c.Err() != nil {
			err = fmt.Errorf("stopped: %w", c.Err()) // shutdown or disconnect: run nothing more
		}
		if err == nil {
			err = reg.runLine(c, log, trimmed)
		}
		if errors.Is(err, ErrExit) {
			return nil
		}
		if err != nil {
			return lineError{n: n, err: err}
		}
	}
}

// lineError is "line N: <error>", keeping the error's exit status.
type lineError struct {
	n   int
	err error
}

func (e lineError) Error() string {
	msg := Message(e.err)
	if msg == "" {
		msg = "command failed"
	}
	return fmt.Sprintf("line %d: %s", e.n, msg)
}
func (e lineError) Unwrap() error { return e.err }

// RunBatch runs a batch outside SSH (the first-boot bootstrap) as user, through the
// same registry and rules as an SSH batch. Output goes to out; the error names the failing line.
func (r *Registry) RunBatch(ctx context.Context, log *slog.Logger, user accounts.Identity, src io.Reader, out io.Writer) error {
	in := newStreamInput(src, out)
	user.MustChangePassword = false // the appliance itself runs it; nobody has logged in yet
	return runBatch(in, r, log, func() (*Ctx, error) {
		return &Ctx{Context: ctx, Stdout: out, Stderr: out, User: user, Remote: "bootstrap", Mode: Bootstrap, input: in, reg: r}, nil
	})
}

// MaxLine bounds one input line in every mode: a batch line, an answer, an exec
// command. A longer line is refused, never buffered whole nor echoed back.
const MaxLine = 64 << 10

// auditTooLong records a refused over-long line: who, from where, and its
// length when known (-1: over MaxLine), never its text.
func auditTooLong(log *slog.Logger, c *Ctx, n int) {
	size := fmt.Sprintf("over %d bytes", MaxLine)
	if n >= 0 {
		size = fmt.Sprintf("%d bytes", n)
	}
	log.Info("audit", "account", c.User.Name, "remote", c.Remote, "mode", string(c.Mode),
		"command", "(line too long: "+size+"; text not logged)", "result", "line too long")
}

// errLineTooLong is what a line over MaxLine gets.
var errLineTooLong = &UsageError{msg: fmt.Sprintf("line too long (limit %d KiB)", MaxLine>>10)}

// streamInput reads lines from a non-interactive stream: commands in batch
// mode, and answers to questions in both exec and batch mode.
type streamInput struct {
	r      *bufio.Reader
	out    io.Writer
	lineNo int
}

func newStreamInput(r io.Reader, out io.Writer) *streamInput {
	return &streamInput{r: bufio.NewReaderSize(r, MaxLine+2), out: out}
}

// next returns the next line without its line ending. A line over MaxLine is
// skipped to its end, holding no more than the reader's buffer, and reported.
func (s *streamInput) next() (string, error) {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.r.ReadSlice('\n')
		}
		s.lineNo++
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return "", err
	}
	s.lineNo++
	text := strings.TrimRight(string(line), "\r\n")
	if len(text) > MaxLine {
		return "", errLineTooLong
	}
	return text, nil
}

// readLine prints the question on its own line (the answer is not echoed) and reads the next line.
func (s *streamInput) readLine(ctx context.Context, question string, secret bool) (string, error) {
	fmt.Fprintln(s.out, strings.TrimRight(question, " "))
	line, err := s.next()
	if errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%q: no answer (input ended)", strings.TrimSpace(question))
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return line, err
}

package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/c-bata/go-prompt"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
)

// Command is one entry of the registry: everything help, Tab, `?`, the role
// check and the audit log need to know about it.
type Command struct {
	Name  string // dotted: group.verb
	Usage string // arguments after the name, e.g. "NAME admin|viewer"
	Help  string // one line
	// Detail is optional longer help shown by `help NAME`.
	Detail string
	Role   accounts.Role
	// MinArgs and MaxArgs bound the positional arguments; MaxArgs < 0 means no limit.
	MinArgs, MaxArgs int
	// Flags are the --name options the command accepts; the dispatcher removes them from Args.
	Flags []Flag
	// SecretArgs are indexes of positional arguments never written to logs or history.
	SecretArgs []int
	// AsksSecrets marks a command that prompts for a password: a line that gives
	// it arguments it does not take may hold one, so the audit log records only
	// the name and the count, and history keeps nothing.
	AsksSecrets bool
	// Complete returns candidates for the last element of args (possibly "").
	Complete func(c *Ctx, args []string) []prompt.Suggest
	Run      func(c *Ctx) error
}

// Mode is how the session reached the shell.
type Mode string

const (
	Interactive Mode = "interactive"
	Exec        Mode = "exec"
	Batch       Mode = "batch"
	Bootstrap   Mode = "bootstrap"
)

// Ctx is what a handler gets: its arguments, where to write, who is asking, and how to ask back.
type Ctx struct {
	context.Context
	Args    []string
	Stdout  io.Writer
	Stderr  io.Writer
	User    accounts.Identity
	Remote  string
	Mode    Mode
	flags   map[string]string
	cmd     *Command // the running command; nil outside dispatch
	input   lineReader
	reload  func() (accounts.Identity, error) // re-reads User between commands; nil: fixed
	session *session                          // nil outside SSH (bootstrap)
	reg     *Registry
}

// lineReader answers a command's questions: the next line typed or piped in.
type lineReader interface {
	readLine(ctx context.Context, question string, secret bool) (string, error)
}

// Prompt asks a question and returns the answer line.
func (c *Ctx) Prompt(question string) (string, error) { return c.ask(question, false) }

// PromptSecret asks without echo; the answer is never logged.
func (c *Ctx) PromptSecret(question string) (string, error) { return c.ask(question, true) }

func (c *Ctx) ask(question string, secret bool) (string, error) {
	if c.input == nil {
		return "", fmt.Errorf("%q needs an answer, but this session has no input", question)
	}
	return c.input.readLine(c, question, secret)
}

// Registry is the table the session runs commands from (for help and completion).
func (c *Ctx) Registry() *Registry { return c.reg }

// History is the account's command history, oldest first: the interactive
// editor's list, or (exec and batch sessions keep none) what the confdb holds.
func (c *Ctx) History() ([]string, error) {
	if c.session == nil {
		return nil, nil
	}
	if c.session.history != nil {
		return c.session.history.lines(), nil
	}
	return c.session.srv.cfg.Accounts.History(c.User.Name, historyInMemory)
}

// Printf writes to the command's output.
func (c *Ctx) Printf(format string, a ...any) { fmt.Fprintf(c.Stdout, format, a...) }

// WriteJSON prints v as indented JSON.
func (c *Ctx) WriteJSON(v any) error {
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table prints rows under header as an ASCII table.
func (c *Ctx) Table(header []string, rows [][]string) error {
	t := tablewriter.NewTable(c.Stdout,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header(header)
	safe := make([][]string, len(rows))
	for i, row := range rows {
		safe[i] = make([]string, len(row))
		for j, cell := range row {
			safe[i][j] = termsafe.Escape(cell) // cells may hold what users typed (key comments)
		}
	}
	if err := t.Bulk(safe); err != nil {
		return err
	}
	return t.Render()
}

// Errors a handler or the dispatcher returns; the session maps them to exit statuses.
var (
	// ErrUsage wraps argument errors: exit status 2.
	ErrUsage = errors.New("usage")
	// ErrUnknownCommand: exit status 127.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrPermission: the account's role may not run the command.
	ErrPermission = errors.New("permission denied")
	// ErrExit ends the session (exit, quit).
	ErrExit = errors.New("exit")
	// ErrReported means the command already told the operator why it failed: exit 1, no message.
	ErrReported = errors.New("failed")
)

// reportedError is a failure whose reason the command already printed on stdout
// (as the guide's output does, "not opened: Connection refused"). Interactive
// sessions show nothing more; exec and batch put its one line on stderr, so a
// script sees why it failed there.
type reportedError struct{ msg string }

func (e *reportedError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrReported) hold.
func (e *reportedError) Is(target error) bool { return target == ErrReported }

// Reportedf is a failure already shown on stdout, with the line scripts see on stderr.
func Reportedf(format string, a ...any) error {
	return &reportedError{msg: fmt.Sprintf(format, a...)}
}

// UsageError is an argument error; its message is built once, where it is raised.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrUsage) hold, for the exit status.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a usage error with exactly this message. Inside a command,
// prefer Ctx.Usagef, which names the command and adds its usage line.
func Usagef(format string, a ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, a...)}
}

// ExitStatus maps a command result to the shell's exit status contract.
func ExitStatus(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrExit):
		return 0
	case errors.Is(err, ErrUnknownCommand):
		return 127
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

// Message is the one-line text an operator sees for err ("" for none). For a
// failure the command already reported on stdout it is the line for stderr;
// interactive sessions, where stdout and stderr are one screen, skip it.
func Message(err error) string {
	var le lineError
	if errors.As(err, &le) {
		return termsafe.Escape(le.Error())
	}
	var re *reportedError
	if errors.As(err, &re) {
		return termsafe.Escape(re.msg)
	}
	if err == nil || errors.Is(err, ErrReported) || errors.Is(err, ErrExit) {
		return ""
	}
	// Messages quote names and lines that users typed.
	return termsafe.Escape(err.Error())
}

func (cmd *Command) usageLine() string {
	s := cmd.Name
	if cmd.Usage != "" {
		s += " " + cmd.Usage
	}
	for _, f := range cmd.Flags {
		s += " [" + f.usage() + "]"
	}
	return s
}

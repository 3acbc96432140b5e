package shell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
)

// runLine runs every command of one input line in order and stops at the first
// failure. It returns that failure, or ErrExit when the line asked to leave.
func (r *Registry) runLine(base *Ctx, log *slog.Logger, line string) error {
	cmds, err := splitLine(line)
	if err != nil {
		return Usagef("%v", err)
	}
	for i, words := range cmds {
		if i > 0 && base.reload != nil {
			// The previous command may have changed the account (passwd, a role change).
			user, err := base.reload()
			if err != nil {
				return err
			}
			base.User = user
		}
		if err := r.run(base, log, words); err != nil {
			return err
		}
	}
	return nil
}

// run checks and runs one command, and writes its audit record.
func (r *Registry) run(base *Ctx, log *slog.Logger, words []string) (err error) {
	start := time.Now()
	cmd, ok := r.byName[words[0]]
	var p parsed
	var parseErr error
	if ok {
		p, parseErr = parseWords(cmd, words[1:])
	}
	defer func() {
		audit(log, base, cmd, words, p, parseErr, err, time.Since(start))
	}()
	// Before anything else, so an account in this state learns nothing, not even which commands exist.
	if base.User.MustChangePassword && base.Mode != Interactive && words[0] != "passwd" {
		return fmt.Errorf("%w (run passwd)", accounts.ErrPasswordNeeded)
	}
	if !ok {
		return r.Unknown(words[0])
	}
	if !base.User.Role.Allows(cmd.Role) {
		return fmt.Errorf("%s: %w (requires role %s)", cmd.Name, ErrPermission, cmd.Role)
	}
	if p.help {
		WriteCommandHelp(base.Stdout, cmd)
		return nil
	}
	if parseErr != nil {
		return parseErr
	}
	c := *base
	c.cmd, c.Args, c.flags = cmd, p.args, p.flags
	return safeRun(log, cmd, &c)
}

// safeRun keeps a panicking handler from taking the session, or the daemon, down.
func safeRun(log *slog.Logger, cmd *Command, c *Ctx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("command panicked", "command", cmd.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s (logged)", cmd.Name)
		}
	}()
	err = cmd.Run(c)
	if err != nil && errors.Is(err, context.Canceled) && c.Context.Err() != nil {
		return fmt.Errorf("%s: interrupted", cmd.Name)
	}
	return err
}

// unknownText stands in the audit log for a line that named no command: it may be a
// password typed at the wrong moment, so its text is never written down.
const unknownText = "(unknown command; text not logged)"

// redact returns the words as the audit log may show them: secret arguments and
// flag values masked. A command with secrets whose line did not parse is shown
// as its name and a count only, since a misplaced secret could sit anywhere.
func redact(cmd *Command, words []string, p parsed, parseErr, err error) string {
	if cmd == nil {
		return unknownText
	}
	if parseErr != nil && cmd.hasSecrets() {
		return fmt.Sprintf("%s (%d arguments, not shown: usage error)", cmd.Name, len(words)-1)
	}
	// A command that asks for a password and failed may have been given one in
	// place of a name or role: its arguments are not shown either.
	if err != nil && cmd.AsksSecrets && len(words) > 1 {
		return fmt.Sprintf("%s (%d arguments, not shown: failed)", cmd.Name, len(words)-1)
	}
	if len(p.secrets) == 0 {
		return strings.Join(words, " ")
	}
	out := append([]string(nil), words...)
	for i, part := range p.secrets {
		out[i+1] = out[i+1][:part.keep] + "********"
	}
	return strings.Join(out, " ")
}

func audit(log *slog.Logger, c *Ctx, cmd *Command, words []string, p parsed, parseErr, err error, took time.Duration) {
	result := "ok"
	switch {
	case err == nil, errors.Is(err, ErrExit):
	case errors.Is(err, ErrUnknownCommand):
		result = "unknown command" // the message repeats the text, see unknownText
	case parseErr != nil && cmd != nil && cmd.hasSecrets():
		result = "usage error" // the message may quote a misplaced secret
	default:
		result = err.Error()
	}
	log.Info("audit",
		"account", c.User.Name, "remote", c.Remote, "mode", string(c.Mode),
		"command", redact(cmd, words, p, parseErr, err), "result", result, "took_ms", took.Milliseconds())
}

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
	defer func() {
		audit(log, base, cmd, words, err, time.Since(start))
	}()
	// Before anything else, so an account in this state learns nothing, not even which commands exist.
	if base.User.MustChangePassword && base.Mode != Interactive && words[0] != "passwd" {
		return fmt.Errorf("%w (run passwd)", accounts.ErrPasswordNeeded)
	}
	if !ok {
		return r.Unknown(words[0])
	}
	if !base.User.Role.Allows(cmd.Role) {
		return fmt.Errorf("%w: %s requires role %s", ErrPermission, cmd.Name, cmd.Role)
	}
	c := *base
	c.flags = map[string]bool{}
	c.Args = nil
	for _, w := range words[1:] {
		if w == "?" && len(words) == 2 {
			WriteCommandHelp(c.Stdout, cmd)
			return nil
		}
		if name, isFlag := flagName(w); isFlag {
			if !hasFlag(cmd, name) {
				return Usagef("%s: unknown flag --%s; usage: %s", cmd.Name, name, cmd.usageLine())
			}
			c.flags[name] = true
			continue
		}
		c.Args = append(c.Args, w)
	}
	if len(c.Args) < cmd.MinArgs || (cmd.MaxArgs >= 0 && len(c.Args) > cmd.MaxArgs) {
		return Usagef("%s", cmd.usageLine())
	}
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

// flagName reports whether w is a --switch (a bare "--" is an ordinary argument).
func flagName(w string) (string, bool) {
	name, ok := strings.CutPrefix(w, "--")
	return name, ok && name != ""
}

func hasFlag(cmd *Command, name string) bool {
	for _, f := range cmd.Flags {
		if f.Name == name {
			return true
		}
	}
	return false
}

// unknownText stands in the audit log for a line that named no command: it may be a
// password typed at the wrong moment, so its text is never written down.
const unknownText = "(unknown command; text not logged)"

// redact returns the words with the command's secret arguments masked.
func redact(cmd *Command, words []string) string {
	if cmd == nil {
		return unknownText
	}
	if len(cmd.SecretArgs) == 0 {
		return strings.Join(words, " ")
	}
	out := append([]string(nil), words...)
	pos := 0
	for i := 1; i < len(out); i++ {
		// Only declared flags are skipped, exactly as dispatch does; anything else
		// counts as a position, so a secret can never slip past unmasked.
		if name, isFlag := flagName(out[i]); isFlag && hasFlag(cmd, name) {
			continue
		}
		for _, s := range cmd.SecretArgs {
			if s == pos {
				out[i] = "********"
			}
		}
		pos++
	}
	return strings.Join(out, " ")
}

func audit(log *slog.Logger, c *Ctx, cmd *Command, words []string, err error, took time.Duration) {
	result := "ok"
	switch {
	case err == nil, errors.Is(err, ErrExit):
	case errors.Is(err, ErrUnknownCommand):
		result = "unknown command" // the message repeats the text, see unknownText
	default:
		result = err.Error()
	}
	log.Info("audit",
		"account", c.User.Name, "remote", c.Remote, "mode", string(c.Mode),
		"command", redact(cmd, words), "result", result, "took_ms", took.Milliseconds())
}

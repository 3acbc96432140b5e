package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/c-bata/go-prompt"
	"golang.org/x/term"

	"github.com/ferry-appliance/ferry/internal/termsafe"
)

// maxPasswordTries is how many times the forced first-login change may fail before disconnecting.
const maxPasswordTries = 3

// interactive is the PTY mode: banner, forced password change, then the prompt loop.
// The line editor is x/term's Terminal (see notes in README: go-prompt's Prompt opens
// /dev/tty and cannot be cancelled); completion uses go-prompt's Suggest model.
func (ss *session) interactive(ctx context.Context) int {
	cfg := ss.srv.cfg
	t := ss.kb.terminal(ctx, ss.out) // follows window changes while it reads
	fmt.Fprintf(ss.out, "Ferry %s (build %s) on %s\n", cfg.Version, cfg.BuildDate, cfg.Hostname)

	if ss.user.MustChangePassword {
		if err := ss.forcedChange(ctx); err != nil {
			fmt.Fprintf(ss.out, "%s\n", err)
			return 1
		}
	}
	if err := ss.loadHistory(); err != nil {
		ss.srv.log.Warn("history not loaded", "account", ss.user.Name, "err", err)
	}
	t.History = ss.history
	t.SetPrompt(fmt.Sprintf("%s@%s ferry> ", ss.user.Name, cfg.Hostname))
	t.AutoCompleteCallback = ss.completer(ctx, t)
	for {
		ss.out.newline()
		line, err := t.ReadLine()
		if errors.Is(err, term.ErrPasteIndicator) {
			err = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(ss.out)
			}
			return 0
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := ss.runInteractive(ctx, line); errors.Is(err, ErrExit) {
			return 0
		} else if errors.Is(err, errAccountGone) {
			return 1
		}
		if ctx.Err() != nil {
			return 0
		}
	}
}

// runInteractive runs one line with Ctrl-C bound to cancelling it.
func (ss *session) runInteractive(ctx context.Context, line string) error {
	cmdCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ss.kb.setInterrupt(cancel)
	defer ss.kb.setInterrupt(nil)
	c, err := ss.ctx(cmdCtx, ss)
	if err != nil {
		fmt.Fprintln(ss.out, err)
		return err
	}
	err = ss.srv.cfg.Registry.runLine(c, ss.srv.log, line)
	if cmdCtx.Err() != nil && ctx.Err() == nil {
		ss.out.newline()
		fmt.Fprintln(ss.out, "^C")
		return nil
	}
	if msg := Message(err); msg != "" && !errors.Is(err, ErrReported) {
		ss.out.newline()
		fmt.Fprintf(ss.out, "%s\n", msg)
	}
	return err
}

// readLine answers a command's question from the keyboard, with a throw-away
// editor so an interrupted question leaves nothing behind in the main one.
func (ss *session) readLine(ctx context.Context, question string, secret bool) (string, error) {
	t := ss.kb.terminal(ctx, ss.out) // follows window changes while it reads
	var (
		line string
		err  error
	)
	if secret {
		line, err = t.ReadPassword(question)
	} else {
		t.SetPrompt(question)
		line, err = t.ReadLine()
	}
	if errors.Is(err, term.ErrPasteIndicator) {
		err = nil
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("no answer (input ended)")
	}
	return line, err
}

// forcedChange is the first-login flow: the prompt appears only after a new password is set.
func (ss *session) forcedChange(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ss.kb.setInterrupt(cancel)
	defer ss.kb.setInterrupt(nil)
	fmt.Fprintln(ss.out, "Please change the default password.")
	for try := 1; try <= maxPasswordTries; try++ {
		err := ss.changeOnce(ctx)
		if err == nil {
			ss.srv.log.Info("initial password changed", "account", ss.user.Name, "remote", ss.sess.RemoteAddr().String())
			fmt.Fprintln(ss.out, "Password changed.")
			ss.user.MustChangePassword = false
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("password change cancelled; disconnecting")
		}
		fmt.Fprintf(ss.out, "%s\n", err)
	}
	ss.srv.log.Warn("initial password change failed; disconnected", "account", ss.user.Name, "remote", ss.sess.RemoteAddr().String())
	return errors.New("too many failed attempts; disconnecting")
}

func (ss *session) changeOnce(ctx context.Context) error {
	pw, err := ss.readLine(ctx, "New password: ", true)
	if err != nil {
		return err
	}
	again, err := ss.readLine(ctx, "Retype password: ", true)
	if err != nil {
		return err
	}
	if pw != again {
		return errors.New("passwords do not match")
	}
	return ss.srv.cfg.Accounts.CompleteForcedChange(ss.user.Name, pw)
}

// completer binds Tab (complete) and `?` (list what may come next) to the registry.
func (ss *session) completer(ctx context.Context, t *term.Terminal) func(string, int, rune) (string, int, bool) {
	reg := ss.srv.cfg.Registry
	return func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' && key != '?' {
			return "", 0, false
		}
		before := line[:pos]
		if key == '?' {
			fields := strings.Fields(before)
			// `?` is help only where a word starts or the command name is being typed;
			// elsewhere it is an ordinary character of an argument.
			if pos != len(line) || !(before == "" || strings.HasSuffix(before, " ") || len(fields) == 1) {
				return "", 0, false
			}
		}
		c, err := ss.ctx(ctx, ss)
		if err != nil {
			return "", 0, false
		}
		word, cands, cmd := reg.Suggestions(c, before)
		if key == '?' {
			var b strings.Builder
			if cmd != nil {
				WriteCommandHelp(&b, cmd)
			}
			writeSuggestions(&b, cands)
			if b.Len() == 0 {
				b.WriteString("no completions\n")
			}
			t.Write([]byte(b.String()))
			return line, pos, true
		}
		if len(cands) == 0 {
			return "", 0, false
		}
		stem := before[:len(before)-len(word)]
		if len(cands) == 1 {
			repl := cands[0].Text + " "
			return stem + repl + line[pos:], len(stem) + len(repl), true
		}
		if lcp := commonPrefix(cands); len(lcp) > len(word) {
			return stem + lcp + line[pos:], len(stem) + len(lcp), true
		}
		var b strings.Builder
		writeSuggestions(&b, cands)
		t.Write([]byte(b.String()))
		return line, pos, true
	}
}

func writeSuggestions(w io.Writer, cands []prompt.Suggest) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, s := range cands {
		// Candidates may be what users stored (a key's comment): no raw controls.
		fmt.Fprintf(tw, "  %s\t%s\n", termsafe.Escape(s.Text), termsafe.Escape(s.Description))
	}
	tw.Flush()
}

func commonPrefix(cands []prompt.Suggest) string {
	p := cands[0].Text
	for _, s := range cands[1:] {
		for !strings.HasPrefix(s.Text, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// history is the editor's Up/Down list, persisted per account in the confdb.
type history struct {
	entries []string          // oldest first
	keep    func(string) bool // which lines may be kept at all, in memory or on disk
	save    func(string)
}

const historyInMemory = 200

func (ss *session) loadHistory() error {
	acc := ss.srv.cfg.Accounts
	name := ss.user.Name
	reg := ss.srv.cfg.Registry
	ss.history = &history{keep: reg.historyWorthy, save: func(line string) {
		if err := acc.AppendHistory(name, line); err != nil {
			ss.srv.log.Warn("history not saved", "account", name, "err", err)
		}
	}}
	lines, err := acc.History(name, historyInMemory)
	ss.history.entries = lines
	return err
}

func (h *history) Add(entry string) {
	if strings.TrimSpace(entry) == "" || (len(h.entries) > 0 && h.entries[len(h.entries)-1] == entry) || !h.keep(entry) {
		return
	}
	h.entries = append(h.entries, entry)
	if len(h.entries) > historyInMemory {
		h.entries = h.entries[1:]
	}
	h.save(entry)
}

func (h *history) Len() int { return len(h.entries) }

func (h *history) At(i int) string { return h.entries[len(h.entries)-1-i] }

func (h *history) lines() []string {
	if h == nil {
		return nil
	}
	return append([]string(nil), h.entries...)
}

var _ term.History = (*history)(nil)

// historyWorthy reports whether a line may be kept in history: every command on it
// is known and carries no secret. Anything else may be a password typed at the
// wrong moment.
func (r *Registry) historyWorthy(line string) bool {
	cmds, err := splitLine(line)
	if err != nil {
		return false
	}
	for _, words := range cmds {
		cmd, ok := r.byName[words[0]]
		if !ok {
			return false
		}
		// A password command's line is never kept: a password may stand in it as a
		// name or a role, and history is decided before the command runs.
		p, err := parseWords(cmd, words[1:])
		if cmd.AsksSecrets || len(p.secrets) > 0 || (err != nil && cmd.hasSecrets()) {
			return false
		}
	}
	return true
}

package shell

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/internal/units"
)

// Flag is a --name option of a command. Without a Value placeholder it is a
// switch; with one it takes a value, given as `--name value` or `--name=value`.
type Flag struct {
	Name string
	// Value is the placeholder shown in usage ("ADDR", "N", "BYTES"); "" makes a switch.
	Value string
	Help  string
	// Secret values are masked in the audit log and keep the line out of history.
	Secret bool
	// Complete returns candidates for the flag's value (possibly for prefix "").
	Complete func(c *Ctx, prefix string) []prompt.Suggest
}

// takesValue reports whether the flag needs a value.
func (f *Flag) takesValue() bool { return f.Value != "" }

func (f *Flag) usage() string {
	if f.takesValue() {
		return "--" + f.Name + " " + f.Value
	}
	return "--" + f.Name
}

// JSONFlag is the flag every listing command accepts.
var JSONFlag = Flag{Name: "json", Help: "print JSON instead of a table"}

func (cmd *Command) flag(name string) *Flag {
	for i := range cmd.Flags {
		if cmd.Flags[i].Name == name {
			return &cmd.Flags[i]
		}
	}
	return nil
}

// hasSecrets reports whether any argument or flag value of cmd is secret.
func (cmd *Command) hasSecrets() bool {
	return cmd.AsksSecrets || len(cmd.SecretArgs) > 0 || slices.ContainsFunc(cmd.Flags, func(f Flag) bool { return f.Secret })
}

// parsed is one command's words after the name, split into positional
// arguments and flags, with the index of every word that holds a secret.
type parsed struct {
	args    []string
	flags   map[string]string // a switch maps to ""
	secrets map[int]secretPart
	help    bool // the lone argument `?`
}

// secretPart says how much of a word is secret: all of it, or what follows "--name=".
type secretPart struct{ keep int }

// parseWords splits words (the command name excluded) into arguments and flags.
// Flags may stand anywhere; `--` ends them. It is the one parser for dispatch,
// redaction, history and completion, so they can never disagree about which
// word is a secret.
func parseWords(cmd *Command, words []string) (parsed, error) {
	p := parsed{flags: map[string]string{}, secrets: map[int]secretPart{}}
	if len(words) == 1 && words[0] == "?" {
		p.help = true
		return p, nil
	}
	var firstErr error
	fail := func(format string, a ...any) {
		if firstErr == nil {
			firstErr = cmd.usagef(format, a...)
		}
	}
	flagsDone := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !flagsDone && w == "--" {
			flagsDone = true
			continue
		}
		name, isFlag := strings.CutPrefix(w, "--")
		if flagsDone || !isFlag {
			if slices.Contains(cmd.SecretArgs, len(p.args)) {
				p.secrets[i] = secretPart{}
			}
			p.args = append(p.args, w)
			continue
		}
		name, value, hasValue := strings.Cut(name, "=")
		f := cmd.flag(name)
		if f == nil {
			// Its next word may be a value we cannot recognise: mask it when the
			// command has secrets (the audit then records no arguments at all).
			fail("unknown flag --%s", name)
			continue
		}
		if _, dup := p.flags[name]; dup {
			fail("--%s given twice", name)
		}
		switch {
		case !f.takesValue() && hasValue:
			fail("--%s takes no value", name)
		case !f.takesValue():
			p.flags[name] = ""
		case hasValue:
			if f.Secret {
				p.secrets[i] = secretPart{keep: len("--" + name + "=")}
			}
			p.flags[name] = value
		case i+1 < len(words):
			i++
			if f.Secret {
				p.secrets[i] = secretPart{}
			}
			p.flags[name] = words[i]
		default:
			fail("--%s needs a value (%s)", name, f.Value)
		}
	}
	if firstErr != nil {
		return p, firstErr
	}
	if len(p.args) < cmd.MinArgs || (cmd.MaxArgs >= 0 && len(p.args) > cmd.MaxArgs) {
		return p, &UsageError{msg: "usage: " + cmd.usageLine()}
	}
	return p, nil
}

// Flag reports whether --name was given (a switch, or a flag with a value).
func (c *Ctx) Flag(name string) bool {
	_, ok := c.flags[name]
	return ok
}

// FlagString returns the value of --name and whether it was given.
func (c *Ctx) FlagString(name string) (string, bool) {
	v, ok := c.flags[name]
	return v, ok
}

// FlagInt returns --name as a whole number in [lo, hi], or def when absent.
func (c *Ctx) FlagInt(name string, def, lo, hi int) (int, error) {
	v, ok := c.flags[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, c.flagError(name, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n, nil
}

// FlagDuration returns --name as a positive duration ("500ms", "30s", "1h"), or def when absent.
func (c *Ctx) FlagDuration(name string, def time.Duration) (time.Duration, error) {
	v, ok := c.flags[name]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, c.flagError(name, v, "a positive duration such as 500ms, 30s or 2h")
	}
	return d, nil
}

// FlagBytes returns --name as a byte size ("64MiB", "10GiB", "1.5GB", plain bytes), or def when absent.
func (c *Ctx) FlagBytes(name string, def int64) (int64, error) {
	v, ok := c.flags[name]
	if !ok {
		return def, nil
	}
	n, err := units.ParseBytes(v)
	if err != nil {
		return 0, c.flagError(name, v, "a size such as 65536, 64KiB, 64MiB or 10GiB")
	}
	return n, nil
}

// FlagCIDR returns --name as a network prefix; a bare address is a /32 or /128.
func (c *Ctx) FlagCIDR(name string) (netip.Prefix, bool, error) {
	v, ok := c.flags[name]
	if !ok {
		return netip.Prefix{}, false, nil
	}
	p, err := ParseCIDR(v)
	if err != nil {
		return netip.Prefix{}, false, c.flagError(name, v, "an address or a network such as 10.0.0.0/8")
	}
	return p, true, nil
}

// ParseCIDR reads "10.0.0.0/8", "2001:db8::/32" or a bare address, masked to its network.
func ParseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// flagError is the usage error for a bad flag value. The value is not repeated
// when the flag is secret.
func (c *Ctx) flagError(name, value, want string) error {
	if f := c.cmd.flag(name); f != nil && f.Secret {
		return c.cmd.usagef("--%s: the value is not %s", name, want)
	}
	return c.cmd.usagef("--%s: %q is not %s", name, value, want)
}

// Usagef is the usage error for a bad argument of the running command:
// "<command>: <problem>; usage: <usage line>" (exit status 2).
func (c *Ctx) Usagef(format string, a ...any) error {
	if c.cmd == nil {
		return Usagef(format, a...)
	}
	return c.cmd.usagef(format, a...)
}

func (cmd *Command) usagef(format string, a ...any) error {
	return &UsageError{msg: cmd.Name + ": " + fmt.Sprintf(format, a...) + "; usage: " + cmd.usageLine()}
}

// flagSuggestions completes the word at the cursor when it is a flag name or a
// flag's value; ok is false when the word is a positional argument.
func flagSuggestions(c *Ctx, cmd *Command, words []string, word string) (cands []prompt.Suggest, ok bool) {
	prev := ""
	if len(words) > 0 {
		prev = words[len(words)-1]
	}
	if name, isFlag := strings.CutPrefix(prev, "--"); isFlag && !slices.Contains(words, "--") {
		if f := cmd.flag(name); f != nil && f.takesValue() {
			if f.Complete != nil {
				return f.Complete(c, word), true
			}
			return nil, true
		}
	}
	if name, value, hasValue := strings.Cut(strings.TrimPrefix(word, "--"), "="); hasValue && strings.HasPrefix(word, "--") {
		f := cmd.flag(name)
		if f == nil || !f.takesValue() || f.Complete == nil {
			return nil, true
		}
		for _, s := range f.Complete(c, value) {
			cands = append(cands, prompt.Suggest{Text: "--" + name + "=" + s.Text, Description: s.Description})
		}
		return cands, true
	}
	return nil, false
}

// flagNameSuggestions lists the flags not given yet among words.
func flagNameSuggestions(cmd *Command, words []string) []prompt.Suggest {
	var out []prompt.Suggest
	for _, f := range cmd.Flags {
		given := slices.ContainsFunc(words, func(w string) bool {
			return w == "--"+f.Name || strings.HasPrefix(w, "--"+f.Name+"=")
		})
		if given {
			continue
		}
		desc := f.Help
		if f.takesValue() {
			desc = f.Value + ": " + f.Help
		}
		out = append(out, prompt.Suggest{Text: "--" + f.Name, Description: desc})
	}
	return out
}

// positional returns the positional arguments among words, for argument
// completers: what parseWords makes of them, whatever else is wrong with the line.
func positional(cmd *Command, words []string) []string {
	p, _ := parseWords(cmd, words)
	return p.args
}

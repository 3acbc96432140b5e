package shell

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
)

// Registry is the table of commands. It is built once at start-up and read-only after.
type Registry struct {
	byName map[string]*Command
	names  []string // sorted
}

// NewRegistry builds the table from command groups and rejects malformed or duplicate entries.
func NewRegistry(groups ...[]Command) (*Registry, error) {
	r := &Registry{byName: map[string]*Command{}}
	for _, group := range groups {
		for i := range group {
			cmd := &group[i]
			switch {
			case cmd.Name == "" || strings.ContainsAny(cmd.Name, " \t;"):
				return nil, fmt.Errorf("registry: bad command name %q", cmd.Name)
			case cmd.Run == nil:
				return nil, fmt.Errorf("registry: %s has no handler", cmd.Name)
			case cmd.Role != accounts.Admin && cmd.Role != accounts.Viewer:
				return nil, fmt.Errorf("registry: %s declares no role", cmd.Name)
			case cmd.Help == "":
				return nil, fmt.Errorf("registry: %s has no help", cmd.Name)
			}
			if _, dup := r.byName[cmd.Name]; dup {
				return nil, fmt.Errorf("registry: %s registered twice", cmd.Name)
			}
			r.byName[cmd.Name] = cmd
			r.names = append(r.names, cmd.Name)
		}
	}
	slices.Sort(r.names)
	return r, nil
}

// Lookup finds a command by its exact name.
func (r *Registry) Lookup(name string) (*Command, bool) {
	cmd, ok := r.byName[name]
	return cmd, ok
}

// Commands returns the commands whose names start with scope ("" for all), sorted.
func (r *Registry) Commands(scope string) []*Command {
	var out []*Command
	for _, n := range r.names {
		if strings.HasPrefix(n, scope) {
			out = append(out, r.byName[n])
		}
	}
	return out
}

// Unknown builds the error for a name that is not in the table, with the closest names.
func (r *Registry) Unknown(name string) error {
	var close []string
	for _, n := range r.names {
		d := editDistance(strings.ToLower(name), strings.ToLower(n))
		if d <= 2 || (len(name) >= 3 && strings.HasPrefix(n, name)) {
			close = append(close, n)
		}
	}
	if len(close) > 3 {
		close = close[:3]
	}
	if len(close) == 0 {
		return fmt.Errorf("%w: %s (type help for the list)", ErrUnknownCommand, name)
	}
	return fmt.Errorf("%w: %s; did you mean %s?", ErrUnknownCommand, name, strings.Join(close, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// WriteHelp prints the command list for role (scope "" for all, or "group.").
func (r *Registry) WriteHelp(w io.Writer, role accounts.Role, scope string) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, `Commands (help COMMAND or COMMAND ? for details; Tab completes):`)
	for _, cmd := range r.Commands(scope) {
		if role.Allows(cmd.Role) {
			fmt.Fprintf(tw, "  %s\t%s\n", cmd.Name, cmd.Help)
		}
	}
	tw.Flush()
}

// WriteCommandHelp prints one command's usage and help.
func WriteCommandHelp(w io.Writer, cmd *Command) {
	fmt.Fprintf(w, "Usage: %s\n  %s\n", cmd.usageLine(), cmd.Help)
	if cmd.Detail != "" {
		for _, line := range strings.Split(strings.TrimRight(cmd.Detail, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	for _, f := range cmd.Flags {
		fmt.Fprintf(w, "  %s: %s\n", f.usage(), f.Help)
	}
	fmt.Fprintf(w, "Role: %s\n", cmd.Role)
}

// Suggestions returns the completion candidates for the text before the cursor,
// and the word they would replace. It is the single source for Tab and `?`.
func (r *Registry) Suggestions(c *Ctx, before string) (word string, cands []prompt.Suggest, cmd *Command) {
	buf := prompt.NewBuffer()
	buf.InsertText(before, false, true)
	word = buf.Document().GetWordBeforeCursor()
	fields := strings.Fields(before)
	if len(fields) == 0 || (len(fields) == 1 && word != "") {
		for _, n := range r.names {
			if c.User.Role.Allows(r.byName[n].Role) {
				cands = append(cands, prompt.Suggest{Text: n, Description: r.byName[n].Help})
			}
		}
		return word, prompt.FilterHasPrefix(cands, word, false), nil
	}
	cmd, ok := r.byName[fields[0]]
	if !ok || !c.User.Role.Allows(cmd.Role) {
		return word, nil, nil
	}
	words := fields[1:]
	if word != "" {
		words = words[:len(words)-1]
	}
	if flagCands, ok := flagSuggestions(c, cmd, words, word); ok {
		return word, prompt.FilterHasPrefix(flagCands, word, false), cmd
	}
	if !strings.HasPrefix(word, "-") {
		if cmd.Complete != nil {
			cands = cmd.Complete(c, append(positional(cmd, words), word))
		}
	}
	if !slices.Contains(words, "--") {
		cands = append(cands, flagNameSuggestions(cmd, words)...)
	}
	return word, prompt.FilterHasPrefix(cands, word, false), cmd
}

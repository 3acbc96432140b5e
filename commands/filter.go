package commands

import (
	"fmt"
	"strings"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/shell"
)

// FilterService is the filters the pipeline applies (outputs.Manager).
type FilterService interface {
	AddFilter(rec outputs.FilterSpec) (outputs.FilterInfo, error)
	RemoveFilter(name string) error
	Filters() []outputs.FilterInfo
}

const filterDetail = `The expression sees source (the sender's address), input, facility and severity
(names: local4, err), pri, hostname, app, message and raw (the whole line), and
cidr(source, "10.0.0.0/8"). Combine with and, or, not; compare with ==, !=, <, >;
match with matches (a regular expression), contains, startsWith.
Quote the whole expression in single quotes:
  filter.add quiet * drop 'severity == "debug" or cidr(source, "10.9.0.0/16")'
  filter.add fw-only fw keep 'app matches "^(fw|ips)"'
keep drops what does not match. Filters apply in the order they were added.`

func filterCommands(f FilterService) ([]shell.Command, error) {
	if err := need("filter service", f); err != nil {
		return nil, err
	}
	c := &filterCmds{f: f}
	return []shell.Command{
		{Name: "filter.add", Usage: "NAME INPUT|* keep|drop 'EXPRESSION'", Help: "Keep or drop an input's events by an expression",
			Detail: filterDetail, Role: accounts.Admin, MinArgs: 4, MaxArgs: -1, Complete: c.completeAdd, Run: c.add},
		{Name: "filter.remove", Usage: "NAME", Help: "Remove a filter",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: c.completeName, Run: c.remove},
		{Name: "filter.list", Help: "List the filters in the order they apply, with how many events each dropped",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: c.list},
	}, nil
}

type filterCmds struct{ f FilterService }

func filterLine(in outputs.FilterInfo) string {
	line := fmt.Sprintf("[%s] input=%s, %s '%s', dropped=%d", in.Name, in.Input, in.Action, in.Expr, in.Dropped)
	if in.State != "active" {
		line += ", state=" + in.State
	}
	return line
}

func (c *filterCmds) add(ctx *shell.Ctx) error {
	if len(ctx.Args) > 4 {
		return fmt.Errorf("filter.add: the expression must be one argument: quote all of it in single quotes and its strings in double quotes (filter.add %s %s %s 'severity == \"debug\"')",
			ctx.Args[0], ctx.Args[1], ctx.Args[2])
	}
	in, err := c.f.AddFilter(outputs.FilterSpec{Name: ctx.Args[0], Input: ctx.Args[1], Action: strings.ToLower(ctx.Args[2]), Expr: ctx.Args[3]})
	if err != nil {
		return err
	}
	ctx.Printf("%s\n", termsafe.Escape(filterLine(in)))
	return nil
}

func (c *filterCmds) remove(ctx *shell.Ctx) error {
	if err := c.f.RemoveFilter(ctx.Args[0]); err != nil {
		return err
	}
	ctx.Printf("removed [%s]\n", termsafe.Escape(ctx.Args[0]))
	return nil
}

func (c *filterCmds) list(ctx *shell.Ctx) error {
	list := c.f.Filters()
	if ctx.Flag("json") {
		return ctx.WriteJSON(list)
	}
	for _, in := range list {
		ctx.Printf("%s\n", termsafe.Escape(filterLine(in)))
	}
	return nil
}

func (c *filterCmds) completeName(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, in := range c.f.Filters() {
		out = append(out, prompt.Suggest{Text: in.Name, Description: in.Action + " " + in.Expr})
	}
	return out
}

func (c *filterCmds) completeAdd(ctx *shell.Ctx, args []string) []prompt.Suggest {
	switch len(args) {
	case 1:
		return c.completeName(ctx, args)
	case 3:
		return []prompt.Suggest{{Text: "drop", Description: "drop what matches"}, {Text: "keep", Description: "drop what does not match"}}
	}
	return nil
}

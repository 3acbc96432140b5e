package commands

import (
	"strings"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/shell"
)

func builtinCommands() []shell.Command {
	return []shell.Command{
		{Name: "help", Usage: "[COMMAND|GROUP.]", Help: "List commands, or show one command's usage",
			Role: accounts.Viewer, MaxArgs: 1, Complete: completeCommandNames, Run: help},
		{Name: "exit", Help: "End the session", Role: accounts.Viewer, Run: exit},
		{Name: "quit", Help: "End the session", Role: accounts.Viewer, Run: exit},
		{Name: "history", Help: "Show this account's command history", Role: accounts.Viewer, Run: history},
	}
}

func help(c *shell.Ctx) error {
	reg := c.Registry()
	if len(c.Args) == 0 {
		reg.WriteHelp(c.Stdout, c.User.Role, "")
		return nil
	}
	name := c.Args[0]
	if cmd, ok := reg.Lookup(name); ok {
		shell.WriteCommandHelp(c.Stdout, cmd)
		return nil
	}
	if strings.HasSuffix(name, ".") && len(reg.Commands(name)) > 0 {
		reg.WriteHelp(c.Stdout, c.User.Role, name)
		return nil
	}
	return reg.Unknown(name)
}

func exit(*shell.Ctx) error { return shell.ErrExit }

func history(c *shell.Ctx) error {
	lines, err := c.History()
	if err != nil {
		return err
	}
	for i, line := range lines {
		c.Printf("%5d  %s\n", i+1, termsafe.Escape(line))
	}
	return nil
}

func completeCommandNames(c *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, cmd := range c.Registry().Commands("") {
		out = append(out, prompt.Suggest{Text: cmd.Name, Description: cmd.Help})
	}
	return out
}

package commands

import (
	"fmt"
	"strconv"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/logfile"
	"github.com/ferry-appliance/ferry/shell"
)

func loggerCommands(logPath string) ([]shell.Command, error) {
	if logPath == "" {
		return nil, fmt.Errorf("log path: %w", errMissing)
	}
	return []shell.Command{
		{Name: "logger.tail", Usage: "[LINES]", Help: "Show the last lines of the daemon log, then follow it until Ctrl-C",
			Role: accounts.Viewer, MaxArgs: 1,
			Flags: []shell.Flag{{Name: "no-follow", Help: "print the lines and return (for scripts)"}},
			Run: func(c *shell.Ctx) error {
				n := 20
				if len(c.Args) == 1 {
					v, err := strconv.Atoi(c.Args[0])
					if err != nil || v < 0 || v > 100000 {
						return c.Usagef("LINES must be a number from 0 to 100000, not %q", c.Args[0])
					}
					n = v
				}
				return logfile.Tail(c, logPath, n, !c.Flag("no-follow"), c.Stdout)
			}},
	}, nil
}

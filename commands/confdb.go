package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/shell"
)

func confdbCommands(svc *Services) []shell.Command {
	d := &confdbCmds{svc: svc}
	return []shell.Command{
		{Name: "confdb.backup", Usage: "PATH", Help: "Write a consistent snapshot of the confdb (mode 0600)",
			Detail: "A relative PATH is taken from the data dir. An existing file is kept unless --force.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1,
			Flags: []shell.Flag{{Name: "force", Help: "replace an existing file"}}, Run: d.backup},
		{Name: "confdb.export", Help: "Print the configuration as JSON, secrets removed",
			Role: accounts.Admin, Run: d.export},
	}
}

type confdbCmds struct{ svc *Services }

func (d *confdbCmds) backup(c *shell.Ctx) error {
	path := c.Args[0]
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.svc.DataDir, path)
	}
	if target, err := os.Stat(path); err == nil {
		if live, lerr := os.Stat(d.svc.Store.Path()); lerr == nil && os.SameFile(live, target) {
			return errors.New("confdb.backup: refusing to overwrite the live confdb")
		}
		if !c.Flag("force") {
			return fmt.Errorf("confdb.backup: %s exists; use --force to replace it", path)
		}
	}
	n, err := d.svc.Store.Backup(path)
	if err != nil {
		return err
	}
	c.Printf("confdb backed up to %s (%d bytes)\n", path, n)
	return nil
}

func (d *confdbCmds) export(c *shell.Ctx) error {
	return d.svc.Store.Export(c.Stdout)
}

package commands

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/shell"
)

func confdbCommands(db ConfdbService) ([]shell.Command, error) {
	if err := need("confdb service", db); err != nil {
		return nil, err
	}
	// The interface hides nothing from a type assertion: refuse the store itself.
	if _, raw := db.(interface{ DeleteAccount(string) error }); raw {
		return nil, fmt.Errorf("confdb service: is the store itself; give its Operations: %w", errMissing)
	}
	d := &confdbCmds{db: db}
	return []shell.Command{
		{Name: "confdb.backup", Usage: "PATH", Help: "Write a consistent snapshot of the confdb (mode 0600)",
			Detail: "PATH is absolute (a session has no working directory). An existing file is kept unless --force.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1,
			Flags: []shell.Flag{{Name: "force", Help: "replace an existing file"}}, Run: d.backup},
		{Name: "confdb.export", Help: "Print the configuration as JSON, secrets removed",
			Role: accounts.Admin, Run: d.export},
	}, nil
}

type confdbCmds struct{ db ConfdbService }

func (d *confdbCmds) backup(c *shell.Ctx) error {
	path := c.Args[0]
	if !filepath.IsAbs(path) {
		return c.Usagef("backup %q: give an absolute path (a session has no working directory)", path)
	}
	path = filepath.Clean(path)
	if target, err := os.Stat(path); err == nil {
		if live, lerr := os.Stat(d.db.Path()); lerr == nil && os.SameFile(live, target) {
			return fmt.Errorf("backup %q: is the live confdb; refusing to overwrite it", path)
		}
		if !c.Flag("force") {
			return fmt.Errorf("backup %q: already exists (use --force to replace it)", path)
		}
	}
	n, err := d.db.Backup(path)
	if err != nil {
		return err
	}
	c.Printf("confdb backed up to %s (%d bytes)\n", path, n)
	return nil
}

func (d *confdbCmds) export(c *shell.Ctx) error {
	return d.db.Export(c.Stdout)
}

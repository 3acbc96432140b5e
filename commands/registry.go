// Package commands holds the shell's command groups, one file per group, and
// the one list that registers them.
package commands

import (
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// Services is the API the appliance gives commands. Commands never touch
// sockets or bbolt directly; they go through these.
type Services struct {
	Accounts *accounts.Service
	Store    *store.Store
	Status   *status.Model
	Sessions *shell.Sessions
	HostKeys []gossh.PublicKey
	LogPath  string
	DataDir  string
}

// Registry builds the command table. Every group is listed here, once.
func Registry(svc *Services) (*shell.Registry, error) {
	return shell.NewRegistry(
		builtinCommands(),
		accountCommands(svc),
		systemCommands(svc),
		confdbCommands(svc),
		loggerCommands(svc),
		tcpscanCommands(),
	)
}

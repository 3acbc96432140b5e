// Package commands holds the shell's command groups, one file per group, and
// the one list that registers them.
package commands

import (
	"errors"
	"fmt"
	"io"
	"reflect"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
)

// Services is what the appliance hands the command groups. Each group is given
// only the services it uses, each a narrow interface: commands never touch bbolt
// or sockets, and cannot skip a rule (the password policy, a live apply) by
// writing records themselves. commands imports neither store nor bbolt; a test
// keeps it so.
type Services struct {
	Accounts AccountService
	Lockouts LockoutService
	Confdb   ConfdbService
	Status   StatusReader
	Sessions SessionLister
	HostKeys HostKeySource
	LogPath  string
	// Keystores is the keystore registry; Bindings the HTTP bindings.
	Keystores KeystoreService
	Bindings  BindingService
	// Inputs is the receivers (syslog.open); Trace taps the pipeline (syslog.trace).
	Inputs InputService
	Trace  TraceService
	// Outputs is the destinations and routes.
	Outputs OutputService
	// Filters is the pipeline's filters.
	Filters FilterService
	// Spools is the destinations' spools.
	Spools SpoolService
	// Relay is this node's relay identity and connections.
	Relay RelayService
}

// AccountService is the account rules (accounts.Service).
type AccountService interface {
	Lookup(name string) (accounts.Identity, error)
	VerifyPassword(name, password string) bool
	List() ([]accounts.Account, error)
	Add(name string, role accounts.Role, initialPassword string) error
	Remove(name string) error
	ChangePassword(name, current, newPassword string) error
	CompleteForcedChange(name, newPassword string) error
	ResetPassword(name, newPassword string) error
	AddKey(name, line string) (fingerprint string, err error)
	RemoveKey(name, fingerprint string) error
}

// LockoutService is the shared login lockout (lockout.Lockout).
type LockoutService interface {
	List() []lockout.Entry
	Unlock(source string) bool
}

// ConfdbService is what an operator may do with the confdb as a whole.
type ConfdbService interface {
	Backup(path string) (int64, error)
	Export(w io.Writer) error
	Size() (int64, error)
	Path() string
}

// StatusReader is the status model, read side.
type StatusReader interface{ Snapshot() []status.Section }

// SessionLister lists open shell sessions.
type SessionLister interface{ List() []shell.SessionInfo }

// HostKeySource gives the SSH host keys' public halves.
type HostKeySource interface{ PublicKeys() []gossh.PublicKey }

// Build makes the command table. Every group is listed here, once; a group
// whose dependency is missing fails here, at start, rather than as a nil later.
func Build(svc Services) (*shell.Registry, error) {
	groups := []struct {
		name string
		make func() ([]shell.Command, error)
	}{
		{"builtin", func() ([]shell.Command, error) { return builtinCommands(), nil }},
		{"account", func() ([]shell.Command, error) { return accountCommands(svc.Accounts, svc.Lockouts) }},
		{"system", func() ([]shell.Command, error) { return systemCommands(svc.Status, svc.Sessions, svc.HostKeys) }},
		{"confdb", func() ([]shell.Command, error) { return confdbCommands(svc.Confdb) }},
		{"logger", func() ([]shell.Command, error) { return loggerCommands(svc.LogPath) }},
		{"tcpscan", func() ([]shell.Command, error) { return tcpscanCommands(), nil }},
		{"keystore", func() ([]shell.Command, error) { return keystoreCommands(svc.Keystores, svc.Bindings) }},
		{"certs", func() ([]shell.Command, error) { return certsCommands(svc.Keystores) }},
		{"httpd", func() ([]shell.Command, error) { return httpdCommands(svc.Bindings, svc.Keystores) }},
		{"syslog", func() ([]shell.Command, error) { return syslogCommands(svc.Inputs, svc.Trace) }},
		{"snmptrap", func() ([]shell.Command, error) { return snmptrapCommands(svc.Inputs, svc.Trace) }},
		{"output", func() ([]shell.Command, error) { return outputCommands(svc.Outputs) }},
		{"filter", func() ([]shell.Command, error) { return filterCommands(svc.Filters) }},
		{"spool", func() ([]shell.Command, error) { return spoolCommands(svc.Spools, svc.Outputs) }},
		{"relay", func() ([]shell.Command, error) { return relayCommands(svc.Relay, svc.Outputs, svc.Inputs) }},
	}
	var all [][]shell.Command
	for _, g := range groups {
		cmds, err := g.make()
		if err != nil {
			return nil, fmt.Errorf("%s commands: %w", g.name, err)
		}
		all = append(all, cmds)
	}
	return shell.NewRegistry(all...)
}

// errMissing is a group's missing dependency.
var errMissing = errors.New("missing dependency")

// need fails on the first nil dependency, naming it; pairs are name, value.
func need(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if isNil(pairs[i+1]) {
			return fmt.Errorf("%s: %w", pairs[i], errMissing)
		}
	}
	return nil
}

// isNil sees through an interface holding a nil pointer, which == nil does not.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

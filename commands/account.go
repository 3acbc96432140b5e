package commands

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/shell"
)

func accountCommands(acc AccountService, locks LockoutService) ([]shell.Command, error) {
	if err := need("account service", acc, "lockout service", locks); err != nil {
		return nil, err
	}
	a := &accountCmds{acc: acc, locks: locks}
	return []shell.Command{
		{Name: "passwd", Help: "Change your own password", Role: accounts.Viewer, AsksSecrets: true, Run: a.passwd},
		{Name: "dom.resetPassword", Usage: "localhost ACCOUNT", Help: "Reset an account's password (it must change it at next login)",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, AsksSecrets: true, Complete: a.completeDomReset, Run: a.resetPassword},
		{Name: "account.list", Help: "List shell accounts", Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: a.list},
		{Name: "account.add", Usage: "NAME admin|viewer", Help: "Add an account; asks for its initial password",
			Detail: "The new account must change the initial password at its first login.\nviewer accounts may run read-only commands only.",
			Role:   accounts.Admin, MinArgs: 2, MaxArgs: 2, AsksSecrets: true, Complete: completeRole, Run: a.add},
		{Name: "account.remove", Usage: "NAME", Help: "Remove an account (never the last admin)",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: a.completeFirstName, Run: a.remove},
		{Name: "account.addKey", Usage: "NAME 'AUTHORIZED_KEYS_LINE'", Help: "Allow a public key to log in as the account",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: -1, Complete: a.completeFirstName, Run: a.addKey},
		{Name: "account.removeKey", Usage: "NAME SHA256:FINGERPRINT", Help: "Remove one of the account's public keys",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, Complete: a.completeKeys, Run: a.removeKey},
		{Name: "account.lockouts", Help: "List source addresses with failed logins or a lockout",
			Detail: "Five failed passwords from one source within 10 minutes lock it out of password logins\nfor 10 minutes (IPv6: per /64). Key logins are never locked out.",
			Role:   accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: a.lockouts},
		{Name: "account.unlock", Usage: "ADDRESS", Help: "Lift a source address's lockout and forget its failures",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: a.completeLocked, Run: a.unlock},
	}, nil
}

type accountCmds struct {
	acc   AccountService
	locks LockoutService
}

// askNewPassword asks for a password twice and checks the policy before anything changes.
func askNewPassword(c *shell.Ctx, question, again string) (string, error) {
	pw, err := c.PromptSecret(question)
	if err != nil {
		return "", err
	}
	pw2, err := c.PromptSecret(again)
	if err != nil {
		return "", err
	}
	if pw != pw2 {
		return "", errPasswordsDiffer
	}
	if err := accounts.CheckPolicy("", pw); err != nil {
		return "", err
	}
	return pw, nil
}

func (a *accountCmds) passwd(c *shell.Ctx) error {
	if c.User.MustChangePassword {
		pw, err := askNewPassword(c, "New password: ", "Retype password: ")
		if err != nil {
			return err
		}
		if err := a.acc.CompleteForcedChange(c.User.Name, pw); err != nil {
			return err
		}
		c.Printf("Password changed.\n")
		return nil
	}
	current, err := c.PromptSecret("Current password: ")
	if err != nil {
		return err
	}
	// Before asking anything more: a wrong current password ends it here.
	if !a.acc.VerifyPassword(c.User.Name, current) {
		return accounts.ErrWrongPassword
	}
	pw, err := askNewPassword(c, "New password: ", "Retype password: ")
	if err != nil {
		return err
	}
	if err := a.acc.ChangePassword(c.User.Name, current, pw); err != nil {
		return err
	}
	c.Printf("Password changed.\n")
	return nil
}

func (a *accountCmds) resetPassword(c *shell.Ctx) error {
	if c.Args[0] != "localhost" {
		return c.Usagef("the domain must be localhost, the only one on this appliance")
	}
	// The errors before the prompts never quote an argument: a password typed in
	// the wrong place would be repeated on the screen and in the audit log.
	name := c.Args[1]
	if _, err := a.acc.Lookup(name); err != nil {
		if errors.Is(err, accounts.ErrNotFound) {
			return errNoSuchAccount
		}
		return err
	}
	pw, err := askNewPassword(c, "New Password: ", "New Password: ")
	if err != nil {
		return err
	}
	if err := a.acc.ResetPassword(name, pw); err != nil {
		return err
	}
	c.Printf("Password of %s reset; it must be changed at the next login.\n", name)
	return nil
}

// errNoSuchAccount is "not found" without the name, which may have been a password.
var errNoSuchAccount = errors.New("no such account (account.list shows them)")

// errPasswordsDiffer: the two entries of a new password were not the same.
var errPasswordsDiffer = errors.New("passwords do not match; nothing changed")

type accountView struct {
	Name               string    `json:"name"`
	Role               string    `json:"role"`
	Keys               []string  `json:"keys"`
	MustChangePassword bool      `json:"must_change_password"`
	PasswordChangedAt  time.Time `json:"password_changed_at"`
}

func (a *accountCmds) list(c *shell.Ctx) error {
	all, err := a.acc.List()
	if err != nil {
		return err
	}
	views := make([]accountView, 0, len(all))
	rows := make([][]string, 0, len(all))
	for _, acc := range all {
		v := accountView{Name: acc.Name, Role: string(acc.Role), Keys: []string{}, MustChangePassword: acc.MustChangePassword, PasswordChangedAt: acc.PasswordChangedAt}
		for _, k := range acc.Keys {
			v.Keys = append(v.Keys, k.Fingerprint)
		}
		views = append(views, v)
		rows = append(rows, []string{acc.Name, string(acc.Role), strconv.Itoa(len(acc.Keys)), yesNo(acc.MustChangePassword),
			acc.PasswordChangedAt.Local().Format(time.DateTime)})
	}
	if c.Flag("json") {
		return c.WriteJSON(views)
	}
	return c.Table([]string{"ACCOUNT", "ROLE", "KEYS", "MUST CHANGE PASSWORD", "PASSWORD CHANGED"}, rows)
}

func (a *accountCmds) add(c *shell.Ctx) error {
	// The errors before the prompts never quote an argument (see resetPassword).
	role, err := accounts.ParseRole(c.Args[1])
	if err != nil {
		return c.Usagef("the role must be admin or viewer")
	}
	// Everything that can be checked is, before the password is asked.
	if err := accounts.CheckName(c.Args[0]); err != nil {
		return c.Usagef("NAME must be lower-case letters, digits, _ . or - (at most 32)")
	}
	if _, err := a.acc.Lookup(c.Args[0]); err == nil {
		return fmt.Errorf("account %q: %w", c.Args[0], accounts.ErrExists)
	}
	pw, err := askNewPassword(c, "Initial password: ", "Retype password: ")
	if err != nil {
		return err
	}
	if err := a.acc.Add(c.Args[0], role, pw); err != nil {
		return err
	}
	c.Printf("Account %s (%s) added; it must change its password at first login.\n", c.Args[0], role)
	return nil
}

func (a *accountCmds) remove(c *shell.Ctx) error {
	if c.Args[0] == c.User.Name {
		return fmt.Errorf("account %q: %w", c.Args[0], accounts.ErrSelf)
	}
	if err := a.acc.Remove(c.Args[0]); err != nil {
		return err
	}
	c.Printf("Account %s removed.\n", c.Args[0])
	return nil
}

func (a *accountCmds) addKey(c *shell.Ctx) error {
	line := c.Args[1]
	for _, more := range c.Args[2:] { // an unquoted key line arrives as several words
		line += " " + more
	}
	fp, err := a.acc.AddKey(c.Args[0], line)
	if err != nil {
		return err
	}
	c.Printf("Key %s added to %s.\n", fp, c.Args[0])
	return nil
}

func (a *accountCmds) removeKey(c *shell.Ctx) error {
	if err := a.acc.RemoveKey(c.Args[0], c.Args[1]); err != nil {
		return err
	}
	c.Printf("Key %s removed from %s.\n", c.Args[1], c.Args[0])
	return nil
}

func (a *accountCmds) accountNames() []prompt.Suggest {
	all, err := a.acc.List()
	if err != nil {
		return nil
	}
	out := make([]prompt.Suggest, 0, len(all))
	for _, acc := range all {
		out = append(out, prompt.Suggest{Text: acc.Name, Description: string(acc.Role)})
	}
	return out
}

func (a *accountCmds) completeFirstName(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) == 1 {
		return a.accountNames()
	}
	return nil
}

func (a *accountCmds) completeDomReset(_ *shell.Ctx, args []string) []prompt.Suggest {
	switch len(args) {
	case 1:
		return []prompt.Suggest{{Text: "localhost", Description: "this appliance"}}
	case 2:
		return a.accountNames()
	}
	return nil
}

func (a *accountCmds) completeKeys(c *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) == 1 {
		return a.accountNames()
	}
	if len(args) != 2 {
		return nil
	}
	all, err := a.acc.List()
	if err != nil {
		return nil
	}
	var out []prompt.Suggest
	for _, acc := range all {
		if acc.Name == args[0] {
			for _, k := range acc.Keys {
				out = append(out, prompt.Suggest{Text: k.Fingerprint, Description: k.Line})
			}
		}
	}
	return out
}

func completeRole(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) == 2 {
		return []prompt.Suggest{
			{Text: string(accounts.Admin), Description: "may run every command"},
			{Text: string(accounts.Viewer), Description: "read-only commands"},
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type lockoutView struct {
	Source      string    `json:"source"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

func (a *accountCmds) lockouts(c *shell.Ctx) error {
	list := a.locks.List()
	views := make([]lockoutView, 0, len(list))
	rows := make([][]string, 0, len(list))
	for _, e := range list {
		views = append(views, lockoutView(e))
		state, left := "no", "-"
		if !e.LockedUntil.IsZero() {
			state = "yes, until " + e.LockedUntil.Local().Format(time.DateTime)
			left = time.Until(e.LockedUntil).Round(time.Second).String()
		}
		rows = append(rows, []string{e.Source, strconv.Itoa(e.Failures), state, left})
	}
	if c.Flag("json") {
		return c.WriteJSON(views)
	}
	return c.Table([]string{"SOURCE", "RECENT FAILURES", "LOCKED OUT", "TIME LEFT"}, rows)
}

func (a *accountCmds) unlock(c *shell.Ctx) error {
	// An address, or the IPv6 /64 that account.lockouts lists for one.
	var src string
	if _, err := netip.ParseAddr(c.Args[0]); err == nil {
		src = lockout.Source(c.Args[0])
	} else if p, err := netip.ParsePrefix(c.Args[0]); err == nil && p.Addr().Is6() && p.Bits() == 64 {
		src = p.Masked().String()
	} else {
		return c.Usagef("ADDRESS must be an IPv4 or IPv6 address (or the IPv6 /64 account.lockouts shows), not %q", c.Args[0])
	}
	if !a.locks.Unlock(src) {
		return fmt.Errorf("source %q: not locked out and no recent failures", src)
	}
	c.Printf("Source %s unlocked.\n", src)
	return nil
}

func (a *accountCmds) completeLocked(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, e := range a.locks.List() {
		out = append(out, prompt.Suggest{Text: e.Source, Description: strconv.Itoa(e.Failures) + " recent failures"})
	}
	return out
}

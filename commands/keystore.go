package commands

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/shell"
)

// KeystoreService is the keystore registry (certs.Registry).
type KeystoreService interface {
	List() []certs.Info
	Show(alias string) (certs.Info, []certs.EntrySummary, error)
	Register(alias string, typ certs.Type, path string, password []byte) (now certs.Info, replaced *certs.Info, err error)
	Unregister(alias string) (certs.Info, error)
	CheckIssue(req certs.IssueRequest) error
	Issue(req certs.IssueRequest) (*x509.Certificate, error)
	CheckExport(path string, replace bool) error
	ExportCA(path string, format certs.ExportFormat, password []byte, replace bool) (*x509.Certificate, error)
	LocalCA() (*certs.CA, error)
}

// AliasUsers says which listeners use a keystore alias (the httpd bindings).
type AliasUsers interface {
	UsersOf(alias string) []string
}

func keystoreCommands(ks KeystoreService, users AliasUsers) ([]shell.Command, error) {
	if err := need("keystore registry", ks, "binding list", users); err != nil {
		return nil, err
	}
	k := &keystoreCmds{ks: ks, users: users}
	types := strings.Join(typeNames(), "|")
	return []shell.Command{
		{Name: "keystore.list", Help: "List registered keystores with their certificate's subject and expiry",
			Detail: "Certificates that have expired or expire within 30 days are marked.",
			Role:   accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: k.list},
		{Name: "keystore.register", Usage: "ALIAS " + types + " PATH", Help: "Register a keystore file under an alias (asks its password)",
			Detail: "The file is loaded and checked now; what fails registers nothing. An alias that exists\n" +
				"is replaced once the new file has loaded. A PEM file of certificates only is a trust\n" +
				"store and asks no password; a PEM key asks only if it is encrypted. Listeners that use\n" +
				"the alias serve the new certificate from their next handshake.",
			Role: accounts.Admin, MinArgs: 3, MaxArgs: 3, AsksSecrets: true, Complete: k.completeRegister, Run: k.register},
		{Name: "keystore.unregister", Usage: "ALIAS", Help: "Remove a keystore alias",
			Detail: "Listeners that use it keep serving its last good material until the alias is\nregistered again or the binding closes.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: k.completeAlias, Run: k.unregister},
		{Name: "keystore.show", Usage: "ALIAS", Help: "Show every entry of a keystore: subject, issuer, SANs, validity, SHA-256",
			Role: accounts.Viewer, MinArgs: 1, MaxArgs: 1, Flags: []shell.Flag{shell.JSONFlag}, Complete: k.completeAlias, Run: k.show},
	}, nil
}

type keystoreCmds struct {
	ks    KeystoreService
	users AliasUsers
}

func typeNames() []string {
	var out []string
	for _, t := range certs.Types() {
		out = append(out, string(t))
	}
	return out
}

func (k *keystoreCmds) list(c *shell.Ctx) error {
	list := k.ks.List()
	for i := range list {
		list[i].UsedBy = k.users.UsersOf(list[i].Alias)
	}
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	c.Printf("Key Stores\n-------------\n")
	for _, in := range list {
		c.Printf("%s\n", termsafe.Escape(keystoreLine(in)))
	}
	return nil
}

// keystoreLine is the guide's `[alias] type: JKS, path: ...` with Ferry's additions.
func keystoreLine(in certs.Info) string {
	line := fmt.Sprintf("[%s] type: %s, path: %s", in.Alias, in.Type, in.Path)
	if in.State != "ok" {
		return line + ", " + in.State
	}
	if in.Subject != "" {
		line += ", subject: " + in.Subject + ", expires: " + in.NotAfter.Format(time.DateOnly) + expiryMark(in)
	}
	if len(in.UsedBy) > 0 {
		line += ", used by: httpd " + strings.Join(in.UsedBy, ", ")
	}
	return line
}

func expiryMark(in certs.Info) string {
	switch in.Expiry {
	case "expired":
		return " (EXPIRED)"
	case "soon":
		return fmt.Sprintf(" (EXPIRES in %d days)", in.DaysLeft)
	}
	return ""
}

func (k *keystoreCmds) register(c *shell.Ctx) error {
	alias, path := c.Args[0], c.Args[2]
	if err := certs.CheckAlias(alias); err != nil {
		return c.Usagef("%v", err)
	}
	typ, err := certs.ParseType(c.Args[1])
	if err != nil {
		return c.Usagef("%v", err)
	}
	// The file is checked before the password is asked: a missing file or a
	// wrong type must not cost the operator a password (or a batch its next line).
	if !filepath.IsAbs(path) {
		return c.Usagef("keystore %q: give an absolute path (a session has no working directory)", path)
	}
	needs, err := certs.NeedsPassword(path, typ)
	if err != nil {
		return err
	}
	var pw []byte
	if needs {
		s, err := c.PromptSecret("password? ")
		if err != nil {
			return err
		}
		pw = []byte(s)
	}
	now, replaced, err := k.ks.Register(alias, typ, path, pw)
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("registered [%s] %s %s: %s", now.Alias, now.Type, now.Path, describeCert(now))))
	if replaced != nil {
		c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("replaced   [%s] %s %s: %s", replaced.Alias, replaced.Type, replaced.Path, describeCert(*replaced))))
	}
	if users := k.users.UsersOf(alias); len(users) > 0 {
		c.Printf("in use by httpd %s: served from the next handshake\n", strings.Join(users, ", "))
	}
	return nil
}

func describeCert(in certs.Info) string {
	if in.State != "ok" {
		return in.State
	}
	if in.Subject == "" {
		return fmt.Sprintf("%d entries", in.Entries)
	}
	return in.Subject + ", expires " + in.NotAfter.Format(time.DateOnly) + expiryMark(in)
}

func (k *keystoreCmds) unregister(c *shell.Ctx) error {
	alias := c.Args[0]
	if _, err := k.ks.Unregister(alias); err != nil {
		return err
	}
	c.Printf("unregistered [%s]\n", termsafe.Escape(alias))
	if users := k.users.UsersOf(alias); len(users) > 0 {
		c.Printf("in use by httpd %s: it serves the last good material until %s is registered again or the binding closes\n",
			strings.Join(users, ", "), termsafe.Escape(alias))
	}
	return nil
}

type keystoreShow struct {
	certs.Info
	Certificates []certs.EntrySummary `json:"certificates"`
}

func (k *keystoreCmds) show(c *shell.Ctx) error {
	in, entries, err := k.ks.Show(c.Args[0])
	if err != nil {
		return err
	}
	in.UsedBy = k.users.UsersOf(in.Alias)
	if c.Flag("json") {
		return c.WriteJSON(keystoreShow{Info: in, Certificates: entries})
	}
	c.Printf("%s\n", termsafe.Escape(keystoreLine(in)))
	for i, e := range entries {
		alias := e.Alias
		if alias == "" {
			alias = "-"
		}
		lines := []string{
			fmt.Sprintf("entry %d: %s (%s)", i+1, alias, e.Kind),
			"  subject:  " + e.Subject,
			"  issuer:   " + e.Issuer,
		}
		if len(e.SANs) > 0 {
			lines = append(lines, "  SANs:     "+strings.Join(e.SANs, ", "))
		}
		lines = append(lines,
			"  valid:    "+e.NotBefore.UTC().Format(time.RFC3339)+" to "+e.NotAfter.UTC().Format(time.RFC3339),
			"  SHA-256:  "+e.SHA256)
		if e.ChainLength > 1 {
			lines = append(lines, fmt.Sprintf("  chain:    %d certificates", e.ChainLength))
		}
		for _, l := range lines {
			c.Printf("%s\n", termsafe.Escape(l))
		}
	}
	return nil
}

func (k *keystoreCmds) aliases() []prompt.Suggest {
	var out []prompt.Suggest
	for _, in := range k.ks.List() {
		out = append(out, prompt.Suggest{Text: in.Alias, Description: in.Type + " " + in.Path})
	}
	return out
}

func (k *keystoreCmds) completeAlias(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	return k.aliases()
}

func (k *keystoreCmds) completeRegister(_ *shell.Ctx, args []string) []prompt.Suggest {
	switch len(args) {
	case 1:
		return k.aliases()
	case 2:
		var out []prompt.Suggest
		for _, t := range typeNames() {
			out = append(out, prompt.Suggest{Text: t})
		}
		return out
	}
	return nil
}

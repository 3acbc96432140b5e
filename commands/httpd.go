package commands

import (
	"fmt"
	"strconv"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/net/httpd"
	"github.com/ferry-appliance/ferry/shell"
)

// BindingService is the HTTP bindings (httpd.Server).
type BindingService interface {
	Open(spec httpd.Spec) (now httpd.Info, replaced *httpd.Info, err error)
	Close(port int) (httpd.Info, error)
	List() []httpd.Info
	UsersOf(alias string) []string
	Contexts() []httpd.ContextInfo
}

func httpdCommands(b BindingService, ks KeystoreService) ([]shell.Command, error) {
	if err := need("binding service", b, "keystore registry", ks); err != nil {
		return nil, err
	}
	h := &httpdCmds{b: b, ks: ks}
	bind := shell.Flag{Name: "bind", Value: "ADDR", Help: "listen on this address only (default: every address)"}
	return []shell.Command{
		{Name: "httpd.bindings", Help: "List the web ports: address, TLS key and trust, context, state",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: h.list},
		{Name: "httpd.open", Usage: "PORT CONTEXT", Help: "Open a plain-HTTP port serving a context (httpd.openSsl serves TLS)",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, Flags: []shell.Flag{bind}, Complete: h.completeOpen, Run: h.open},
		{Name: "httpd.openSsl", Usage: "PORT CONTEXT KEY_ALIAS [TRUST_ALIAS]", Help: "Open a TLS port serving a context with a keystore's certificate",
			Detail: "A TRUST_ALIAS requires client certificates signed by its certificates. Opening a port\n" +
				"that is open changes it in place: the socket stays, the new settings serve the next\n" +
				"request and handshake. If the port cannot open, the old binding keeps serving.",
			Role: accounts.Admin, MinArgs: 3, MaxArgs: 4, Flags: []shell.Flag{bind}, Complete: h.completeOpen, Run: h.openSsl},
		{Name: "httpd.close", Usage: "PORT", Help: "Close a web port",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: h.completePort, Run: h.close},
		{Name: "httpd.contexts", Help: "List what a web port can serve",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: h.contexts},
	}, nil
}

type httpdCmds struct {
	b  BindingService
	ks KeystoreService
}

// bindingLine is the guide's shape:
// /0.0.0.0:8443 (ssl: key ferry-web, trust null), opened, default context: webconsole, idle timeout: 120seconds, access log: false
func bindingLine(in httpd.Info) string {
	tls := "plain http"
	if in.TLS {
		trust := in.Trust
		if trust == "" {
			trust = "null"
		}
		tls = fmt.Sprintf("ssl: key %s, trust %s", in.Key, trust)
	}
	line := fmt.Sprintf("/%s (%s), %s, default context: %s, idle timeout: %dseconds, access log: false",
		in.Address, tls, in.State, in.Context, in.IdleTimeout)
	if in.Note != "" {
		line += " [" + in.Note + "]"
	}
	return line
}

func (h *httpdCmds) list(c *shell.Ctx) error {
	list := h.b.List()
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	for _, in := range list {
		c.Printf("%s\n", termsafe.Escape(bindingLine(in)))
	}
	return nil
}

func (h *httpdCmds) port(c *shell.Ctx) (int, error) {
	p, err := strconv.Atoi(c.Args[0])
	if err != nil || p < 1 || p > 65535 {
		return 0, c.Usagef("PORT must be 1-65535, not %q", c.Args[0])
	}
	return p, nil
}

func (h *httpdCmds) open(c *shell.Ctx) error {
	port, err := h.port(c)
	if err != nil {
		return err
	}
	bind, _ := c.FlagString("bind")
	if err := h.apply(c, httpd.Spec{Port: port, Bind: bind, Context: c.Args[1]}); err != nil {
		return err
	}
	c.Printf("warning: plain HTTP: passwords cross the network in the clear; httpd.openSsl serves TLS\n")
	return nil
}

func (h *httpdCmds) openSsl(c *shell.Ctx) error {
	port, err := h.port(c)
	if err != nil {
		return err
	}
	bind, _ := c.FlagString("bind")
	spec := httpd.Spec{Port: port, Bind: bind, Context: c.Args[1], Key: c.Args[2]}
	if len(c.Args) == 4 {
		spec.Trust = c.Args[3]
	}
	return h.apply(c, spec)
}

func (h *httpdCmds) apply(c *shell.Ctx, spec httpd.Spec) error {
	spec.KeepFailed = liveconf.KeepsFailed(c)
	now, replaced, err := h.b.Open(spec)
	if err != nil {
		return err
	}
	if replaced != nil {
		c.Printf("%s\n", termsafe.Escape("was: "+bindingLine(*replaced)))
	}
	c.Printf("%s\n", termsafe.Escape(bindingLine(now)))
	return nil
}

func (h *httpdCmds) close(c *shell.Ctx) error {
	port, err := h.port(c)
	if err != nil {
		return err
	}
	in, err := h.b.Close(port)
	if err != nil {
		return err
	}
	c.Printf("closed /%s\n", in.Address)
	return nil
}

func (h *httpdCmds) contexts(c *shell.Ctx) error {
	list := h.b.Contexts()
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	rows := make([][]string, 0, len(list))
	for _, ci := range list {
		rows = append(rows, []string{ci.Name, ci.Description})
	}
	return c.Table([]string{"CONTEXT", "SERVES"}, rows)
}

func (h *httpdCmds) completeOpen(_ *shell.Ctx, args []string) []prompt.Suggest {
	var out []prompt.Suggest
	switch len(args) {
	case 2:
		for _, ci := range h.b.Contexts() {
			out = append(out, prompt.Suggest{Text: ci.Name, Description: ci.Description})
		}
	case 3, 4:
		for _, in := range h.ks.List() {
			out = append(out, prompt.Suggest{Text: in.Alias, Description: in.Subject})
		}
	}
	return out
}

func (h *httpdCmds) completePort(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, in := range h.b.List() {
		out = append(out, prompt.Suggest{Text: strconv.Itoa(in.Port), Description: in.Context + " " + in.State})
	}
	return out
}

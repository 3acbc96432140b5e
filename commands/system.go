package commands

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/shell"
)

func systemCommands(svc *Services) []shell.Command {
	s := &systemCmds{svc: svc}
	return []shell.Command{
		{Name: "system.status", Help: "Show version, uptime, data dir, confdb size and sessions",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.status},
		{Name: "system.sessions", Help: "List open shell sessions",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.sessions},
		{Name: "ssh.hostKeys", Help: "Show the SSH host key fingerprints (as ssh-keygen -lf prints them)",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.hostKeys},
	}
}

type systemCmds struct{ svc *Services }

func (s *systemCmds) status(c *shell.Ctx) error {
	snap := s.svc.Status.Snapshot()
	if c.Flag("json") {
		out := map[string]map[string]any{}
		for _, sec := range snap {
			m := map[string]any{}
			for _, f := range sec.Fields {
				m[f.Key] = f.Value
			}
			out[sec.Name] = m
		}
		return c.WriteJSON(out)
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 0, 2, ' ', 0)
	for i, sec := range snap {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "[%s]\n", sec.Name)
		for _, f := range sec.Fields {
			fmt.Fprintf(tw, "%s:\t%v\n", f.Key, f.Value)
		}
	}
	return tw.Flush()
}

func (s *systemCmds) sessions(c *shell.Ctx) error {
	list := s.svc.Sessions.List()
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	rows := make([][]string, 0, len(list))
	for _, si := range list {
		rows = append(rows, []string{strconv.Itoa(si.ID), si.Account, si.Remote, string(si.Mode),
			si.Started.Local().Format(time.DateTime), time.Since(si.Started).Round(time.Second).String()})
	}
	return c.Table([]string{"ID", "ACCOUNT", "REMOTE", "MODE", "STARTED", "AGE"}, rows)
}

type hostKeyView struct {
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"`
	Line        string `json:"line"`
}

func (s *systemCmds) hostKeys(c *shell.Ctx) error {
	var views []hostKeyView
	for _, k := range s.svc.HostKeys {
		views = append(views, hostKeyView{Type: k.Type(), Fingerprint: gossh.FingerprintSHA256(k),
			Line: certs.KeygenLine(k, "ferry host key")})
	}
	if c.Flag("json") {
		return c.WriteJSON(views)
	}
	for _, v := range views {
		c.Printf("%s\n", v.Line)
	}
	return nil
}

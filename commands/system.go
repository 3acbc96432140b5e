package commands

import (
	"strconv"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
)

func systemCommands(st StatusReader, sessions SessionLister, hostKeys HostKeySource) ([]shell.Command, error) {
	if err := need("status model", st, "session list", sessions, "host keys", hostKeys); err != nil {
		return nil, err
	}
	s := &systemCmds{status: st, sessions: sessions, hostKeys: hostKeys}
	return []shell.Command{
		{Name: "system.status", Help: "Show version, uptime, data dir, confdb size and sessions",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.showStatus},
		{Name: "system.sessions", Help: "List open shell sessions",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.listSessions},
		{Name: "ssh.hostKeys", Help: "Show the SSH host key fingerprints (as ssh-keygen -lf prints them)",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.showHostKeys},
	}, nil
}

type systemCmds struct {
	status   StatusReader
	sessions SessionLister
	hostKeys HostKeySource
}

func (s *systemCmds) showStatus(c *shell.Ctx) error {
	snap := s.status.Snapshot()
	if c.Flag("json") {
		return c.WriteJSON(snap)
	}
	return status.WriteText(c.Stdout, snap)
}

func (s *systemCmds) listSessions(c *shell.Ctx) error {
	list := s.sessions.List()
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

func (s *systemCmds) showHostKeys(c *shell.Ctx) error {
	var views []hostKeyView
	for _, k := range s.hostKeys.PublicKeys() {
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

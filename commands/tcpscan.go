package commands

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/net/probe"
	"github.com/ferry-appliance/ferry/shell"
)

func tcpscanCommands() []shell.Command {
	return []shell.Command{
		{Name: "tcpscan", Usage: "HOST PORT [TIMEOUT_MS]", Help: "Check that a TCP port can be reached from this appliance",
			Detail: "Prints opened, timeout, or not opened: <reason>. Exit status 1 unless opened.\nDefault timeout 5000 ms; Ctrl-C cancels.",
			Role:   accounts.Viewer, MinArgs: 2, MaxArgs: 3, Run: tcpscan},
	}
}

func tcpscan(c *shell.Ctx) error {
	port, err := strconv.Atoi(c.Args[1])
	if err != nil || port < 1 || port > 65535 {
		return c.Usagef("PORT must be 1-65535, not %q", c.Args[1])
	}
	timeout := 5000 * time.Millisecond
	if len(c.Args) == 3 {
		ms, err := strconv.Atoi(c.Args[2])
		if err != nil || ms < 1 || ms > 600000 {
			return c.Usagef("TIMEOUT_MS must be 1-600000, not %q", c.Args[2])
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	host := c.Args[0]
	addr, err := probe.Resolve(c, host, port)
	if err != nil {
		if c.Err() != nil {
			return c.Err()
		}
		reason := probe.Reason(err)
		c.Printf("trying to connect /%s:%d\nnot opened: %s\n", termsafe.Escape(host), port, reason)
		return shell.Reportedf("tcpscan %s %d: not opened: %s", host, port, reason)
	}
	// As the guide's Java output: "name/address:port", and "/address:port" for an address.
	name := host
	if _, err := netip.ParseAddr(host); err == nil {
		name = ""
	}
	c.Printf("trying to connect %s/%s\n", termsafe.Escape(name), addr)
	r, err := probe.TCP(c, addr, timeout)
	if err != nil {
		return err
	}
	var result string
	switch r.Outcome {
	case probe.Opened:
		c.Printf("opened\n")
		return nil
	case probe.Timeout:
		result = "timeout"
	case probe.Refused:
		result = "not opened: Connection refused"
	default:
		result = "not opened: " + probe.Reason(r.Err)
	}
	c.Printf("%s\n", result)
	return shell.Reportedf("tcpscan %s %d: %s", host, port, result)
}

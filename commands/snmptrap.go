package commands

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/shell"
)

// snmptrapCommands are the SNMP trap receivers: the syslog commands' twins,
// over the same input service (one namespace of input names, one pipeline).
func snmptrapCommands(in InputService, tr TraceService) ([]shell.Command, error) {
	if err := need("input service", in, "trace service", tr); err != nil {
		return nil, err
	}
	s := &syslogCmds{in: in, tr: tr, kind: "snmptrap"}
	return append([]shell.Command{
		{Name: "snmptrap.open", Usage: "NAME PORT", Help: "Open an SNMP v1/v2c trap receiver (udp)",
			Detail: "Each trap becomes one event naming the source, the trap OID and the varbinds.\n" +
				"A trap with another community is dropped and counted. A receiver open under NAME is replaced.",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, Complete: s.completeName, Run: s.openTrap,
			Flags: []shell.Flag{
				{Name: "bind", Value: "ADDR", Help: "listen on this address only (default: every address)"},
				{Name: "community", Value: "C", Secret: true, Help: "the community traps must carry (default public)"},
			}},
	}, s.common("traps", "SNMP trap receivers")...), nil
}

func (s *syslogCmds) openTrap(c *shell.Ctx) error {
	port, err := strconv.Atoi(c.Args[1])
	if err != nil || port < 1 || port > 65535 {
		return c.Usagef("PORT must be 1-65535, not %q", c.Args[1])
	}
	spec := inputs.Spec{Name: c.Args[0], Kind: "snmptrap", Proto: "udp", Port: port}
	spec.Bind, _ = c.FlagString("bind")
	spec.Community, _ = c.FlagString("community")
	return s.apply(c, spec)
}

// trapLine is syslog.servers' shape for a trap receiver; the community is a
// secret and never shown.
// [name] 0.0.0.0:162 (udp), state=listening, received=N, dropped=N (queue=N, malformed=N, community=N), informs=N, since=...
func trapLine(in inputs.Info) string {
	line := fmt.Sprintf("[%s] %s (udp), state=%s, received=%d, dropped=%d (queue=%d, malformed=%d, community=%d), informs=%d",
		in.Name, in.Address, in.State, in.Received, in.Dropped, in.QueueDrops, in.Malformed, in.BadCommunity, in.Informs)
	if !in.Since.IsZero() {
		line += ", since=" + in.Since.Local().Format(time.DateTime)
	}
	return line
}

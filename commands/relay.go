package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/internal/units"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/shell"
)

// RelayService is this node's relay identity and live connections.
type RelayService interface {
	GUID(sentry bool) string
	SetGUID(sentry bool, id string) error
	Connections() []relay.Connection
}

// relaySpoolFlags are the spool's options, as forwarder.addOutput takes them.
var relaySpoolFlags = []shell.Flag{
	{Name: "when-full", Value: "drop-oldest|block", Help: "at the bound: drop the oldest events (default) or hold the pipeline back"},
	{Name: "sync", Value: "always|interval|never", Help: "when spooled events are fsynced (default interval: every second)"},
	{Name: "max-age", Value: "DURATION", Help: "drop queued events older than this, counted (default: never)"},
}

func relayCommands(r RelayService, out OutputService, in InputService) ([]shell.Command, error) {
	if err := need("relay service", r, "output service", out, "input service", in); err != nil {
		return nil, err
	}
	x := &relayCmds{r: r, out: out, in: in}
	baseUsage := "NAME HOST PORT KEY_ALIAS TRUST_ALIAS BUFFER_BYTES"
	baseDetail := "The base is another Ferry (forwarder.listen) or any relay listener of this protocol. KEY_ALIAS is\n" +
		"the keystore with the client certificate this node presents (ferry-sentry), TRUST_ALIAS the one\n" +
		"whose CA the base's certificate must come from (ferry-ca). BUFFER_BYTES bounds its spool on disk:\n" +
		"what the base has not acknowledged waits there while it is down (0: a 64MiB memory queue)."
	return []shell.Command{
		{Name: "forwarder.setGuid", Usage: "ID", Help: "Set this node's identity in the relay hello",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.setGUID(false)},
		{Name: "forwarder.addBase", Usage: baseUsage, Help: "Add an upstream base: logs are sent to it over mutual TLS",
			Detail: baseDetail + "\nInputs with no route go to every base and base pair.",
			Role:   accounts.Admin, MinArgs: 6, MaxArgs: 6, Flags: relaySpoolFlags, Run: x.addBase(false)},
		{Name: "forwarder.removeBase", Usage: "NAME", Help: "Remove a base no route or pair uses",
			Detail: "One whose spool still holds events is refused unless --discard-spool.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.remove(false),
			Flags: []shell.Flag{{Name: "discard-spool", Help: "drop what its spool still holds"}}},
		{Name: "forwarder.bases", Help: "List bases and base pairs: state, spool, acknowledged, resent, last error",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: x.bases(false)},
		{Name: "forwarder.addBasePair", Usage: "PAIR BASE1 BASE2", Help: "Make two bases one destination with one spool",
			Detail: "Both connections are kept up and batches go to the one with less in flight; when one fails,\n" +
				"what it had not acknowledged goes to the other. BASE1 BASE1 is the single-server form.",
			Role: accounts.Admin, MinArgs: 3, MaxArgs: 3, Flags: relaySpoolFlags, Run: x.addPair},
		{Name: "forwarder.removeBasePair", Usage: "PAIR", Help: "Remove a base pair; its bases stand alone again",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.remove(false),
			Flags: []shell.Flag{{Name: "discard-spool", Help: "drop what its spool still holds"}}},
		{Name: "forwarder.connections", Help: "List the relay connections to bases",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: x.connections},
		{Name: "forwarder.listen", Usage: "PORT KEY_ALIAS TRUST_ALIAS", Help: "Accept logs from other Ferry nodes on PORT (mutual TLS)",
			Detail: "What arrives is stored in an intake spool before it is acknowledged, and enters the pipeline as\n" +
				"input relay (route.add relay DESTINATION), each event with its own source, input name and time.",
			Role: accounts.Admin, MinArgs: 3, MaxArgs: 3, Run: x.listen,
			Flags: []shell.Flag{{Name: "bind", Value: "ADDR", Help: "listen on this address only (default all)"}}},
		{Name: "forwarder.unlisten", Usage: "PORT", Help: "Stop accepting relay connections on PORT",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.unlisten},
		{Name: "forwarder.listeners", Help: "List the relay listeners: connections, stored, duplicates suppressed",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: x.listeners},
		{Name: "sentry.setGuid", Usage: "ID", Help: "Set the identity this node's own log is sent as",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.setGUID(true)},
		{Name: "sentry.addBase", Usage: baseUsage, Help: "Send this node's daemon and audit log to a base",
			Detail: baseDetail, Role: accounts.Admin, MinArgs: 6, MaxArgs: 6, Flags: relaySpoolFlags, Run: x.addBase(true)},
		{Name: "sentry.removeBase", Usage: "NAME", Help: "Stop sending this node's log to a base",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: x.remove(true),
			Flags: []shell.Flag{{Name: "discard-spool", Help: "drop what its spool still holds"}}},
		{Name: "sentry.bases", Help: "List the bases this node's own log goes to",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: x.bases(true)},
	}, nil
}

type relayCmds struct {
	r   RelayService
	out OutputService
	in  InputService
}

func (x *relayCmds) setGUID(sentry bool) func(*shell.Ctx) error {
	return func(c *shell.Ctx) error {
		if err := x.r.SetGUID(sentry, c.Args[0]); err != nil {
			return err
		}
		c.Printf("ok\n")
		return nil
	}
}

// spoolFlags reads the spool's flags into rec.
func spoolFlags(c *shell.Ctx, rec *outputs.Spec) error {
	rec.WhenFull, _ = c.FlagString("when-full")
	rec.Sync, _ = c.FlagString("sync")
	var err error
	rec.MaxAge, err = c.FlagDuration("max-age", 0)
	return err
}

func (x *relayCmds) addBase(sentry bool) func(*shell.Ctx) error {
	return func(c *shell.Ctx) error {
		port, err := strconv.Atoi(c.Args[2])
		if err != nil || port < 1 || port > 65535 {
			return c.Usagef("PORT must be 1-65535, not %q", c.Args[2])
		}
		buf, err := units.ParseBytes(c.Args[5])
		if err != nil {
			return c.Usagef("BUFFER_BYTES %v", err)
		}
		rec := outputs.Spec{Name: destName(c.Args[0], sentry), Type: "base", Target: joinHostPort(c.Args[1], port), Key: c.Args[3], Trust: c.Args[4],
			Buffer: buf, Memory: buf == 0, Sentry: sentry}
		if err := spoolFlags(c, &rec); err != nil {
			return err
		}
		if err := x.checkKind(rec.Name, sentry); err != nil {
			return err
		}
		if _, _, err := x.out.AddOutput(c, rec); err != nil {
			return err
		}
		c.Printf("base added\n")
		return nil
	}
}

// destName is a base's destination name: sentry bases have their own namespace.
func destName(name string, sentry bool) string {
	if sentry {
		return outputs.SentryPrefix + name
	}
	return name
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// checkKind refuses to turn a destination of one group into another's.
func (x *relayCmds) checkKind(name string, sentry bool) error {
	for _, o := range x.out.Outputs() {
		if o.Name != name {
			continue
		}
		switch {
		case o.Type != "base" && o.Type != "pair":
			return fmt.Errorf("output %q: is a %s destination (forwarder.outputs)", name, o.Type)
		case o.Sentry != sentry && sentry:
			return fmt.Errorf("base %q: is a forwarder base (forwarder.bases)", name)
		case o.Sentry != sentry:
			return fmt.Errorf("base %q: is a sentry base (sentry.bases)", name)
		}
	}
	return nil
}

func (x *relayCmds) addPair(c *shell.Ctx) error {
	rec := outputs.Spec{Name: c.Args[0], Type: "pair", Members: []string{c.Args[1], c.Args[2]}}
	if err := spoolFlags(c, &rec); err != nil {
		return err
	}
	if err := x.checkKind(rec.Name, false); err != nil {
		return err
	}
	now, _, err := x.out.AddOutput(c, rec)
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(baseLine(now)))
	return nil
}

func (x *relayCmds) remove(sentry bool) func(*shell.Ctx) error {
	return func(c *shell.Ctx) error {
		name := destName(c.Args[0], sentry)
		found := false
		for _, o := range x.out.Outputs() {
			if o.Name == name && (o.Type == "base" || o.Type == "pair") && o.Sentry == sentry {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("base %q: not found (%s lists them)", c.Args[0], map[bool]string{false: "forwarder.bases", true: "sentry.bases"}[sentry])
		}
		if err := x.out.RemoveOutput(c, name, c.Flag("discard-spool")); err != nil {
			return err
		}
		c.Printf("removed %s\n", termsafe.Escape(c.Args[0]))
		return nil
	}
}

func (x *relayCmds) bases(sentry bool) func(*shell.Ctx) error {
	return func(c *shell.Ctx) error {
		var list []outputs.Info
		for _, o := range x.out.Outputs() {
			if (o.Type == "base" || o.Type == "pair") && o.Sentry == sentry {
				o.Name = strings.TrimPrefix(o.Name, outputs.SentryPrefix)
				list = append(list, o)
			}
		}
		if c.Flag("json") {
			if list == nil {
				list = []outputs.Info{}
			}
			return c.WriteJSON(list)
		}
		for _, o := range list {
			c.Printf("%s\n", termsafe.Escape(baseLine(o)))
		}
		return nil
	}
}

// baseLine is one base or pair:
// [control_1] base 10.0.0.1:7140, key=ferry-sentry, trust=ferry-ca, state=running, up, spool=..., acknowledged=N, resent=N, dropped=N, last error: ...
func baseLine(o outputs.Info) string {
	line := fmt.Sprintf("[%s] %s", o.Name, o.Type)
	if o.Type == "pair" {
		line += " " + strings.Join(o.Members, " + ")
	} else {
		line += fmt.Sprintf(" %s, key=%s, trust=%s", o.Target, o.Key, o.Trust)
	}
	line += ", state=" + o.State
	if r := o.Relay; r != nil {
		for _, m := range r.Members {
			if o.Type == "pair" {
				line += fmt.Sprintf(", %s=%s", m.Name, m.State)
			} else {
				line += ", " + m.State
			}
		}
		line += fmt.Sprintf(", acknowledged=%d, resent=%d, duplicates_suppressed=%d", r.Acked, r.Resent, r.Suppressed)
	}
	if sp := o.Spool; sp != nil {
		line += fmt.Sprintf(", spool=%s/%s, queued=%d, oldest=%s, out_rate=%.0f/s, dropped=%d (full=%d, age=%d, disk_full=%d, corrupt=%d)",
			units.FormatBytes(sp.Bytes), units.FormatBytes(sp.Limit), sp.Queued, (time.Duration(sp.OldestAge) * time.Second).String(),
			sp.OutRate, sp.DropFull+sp.DropAge+sp.DropDisk+sp.DropCorrup, sp.DropFull, sp.DropAge, sp.DropDisk, sp.DropCorrup)
	}
	if r := o.Relay; r != nil {
		for _, m := range r.Members {
			if m.LastError != "" && !strings.HasPrefix(m.State, "up") {
				line += ", last error: " + m.LastError
			}
		}
	} else if o.LastError != "" {
		line += ", last error: " + o.LastError
	}
	return line
}

// connections is the guide's shape:
// [control_1] id=1317075310, peer=(39c2dd55-..., /x.x.x.x:7140), ssl=true, props={phase=post_hello, ping_failure=0, type=base}
func (x *relayCmds) connections(c *shell.Ctx) error {
	list := x.r.Connections()
	if c.Flag("json") {
		if list == nil {
			list = []relay.Connection{}
		}
		return c.WriteJSON(list)
	}
	c.Printf("Connections\n--------------------\n")
	for _, k := range list {
		c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("[%s] id=%d, peer=(%s, /%s), ssl=true, props={phase=%s, ping_failure=%d, type=%s, in_flight=%d}",
			k.Base, k.ID, k.PeerGUID, k.Remote, k.Phase, k.PingFailure, k.Kind, k.InFlight)))
	}
	return nil
}

func listenerName(port int) string { return "relay-" + strconv.Itoa(port) }

func (x *relayCmds) listen(c *shell.Ctx) error {
	port, err := strconv.Atoi(c.Args[0])
	if err != nil || port < 1 || port > 65535 {
		return c.Usagef("PORT must be 1-65535, not %q", c.Args[0])
	}
	spec := inputs.Spec{Name: listenerName(port), Kind: "relay", Proto: "tcp", Port: port, Key: c.Args[1], Trust: c.Args[2]}
	spec.Bind, _ = c.FlagString("bind")
	now, replaced, err := x.in.Open(c, spec)
	if err != nil {
		return err
	}
	if replaced != nil {
		c.Printf("%s\n", termsafe.Escape("was: "+listenerLine(*replaced)))
	}
	c.Printf("%s\n", termsafe.Escape(listenerLine(now)))
	return nil
}

func (x *relayCmds) unlisten(c *shell.Ctx) error {
	port, err := strconv.Atoi(c.Args[0])
	if err != nil || port < 1 || port > 65535 {
		return c.Usagef("PORT must be 1-65535, not %q", c.Args[0])
	}
	name := listenerName(port)
	found := false
	for _, in := range x.in.List() {
		found = found || (in.Name == name && in.Kind == "relay")
	}
	if !found {
		return fmt.Errorf("relay listener on port %d: not open (forwarder.listeners lists them)", port)
	}
	in, err := x.in.Close(c, name)
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("closed [%s] %s", in.Name, in.Address)))
	return nil
}

func (x *relayCmds) listeners(c *shell.Ctx) error {
	var list []inputs.Info
	for _, in := range x.in.List() {
		if in.Kind == "relay" {
			list = append(list, in)
		}
	}
	if c.Flag("json") {
		if list == nil {
			list = []inputs.Info{}
		}
		return c.WriteJSON(list)
	}
	for _, in := range list {
		c.Printf("%s\n", termsafe.Escape(listenerLine(in)))
	}
	return nil
}

// listenerLine: [relay-7140] 0.0.0.0:7140, key=ferry-base, trust=ferry-ca, state=listening, connections=N, ...
func listenerLine(in inputs.Info) string {
	line := fmt.Sprintf("[%s] %s, key=%s, trust=%s, state=%s", in.Name, in.Address, in.Key, in.Trust, in.State)
	if r := in.Relay; r != nil {
		line += fmt.Sprintf(", connections=%d, batches=%d, events=%d, stored=%d, routed=%d, duplicates_suppressed=%d, replayed_at_start=%d, intake=%s/%s, queued=%d, corrupt=%d, refused=%d",
			r.Connections, r.Batches, r.Events, r.Stored, r.Routed, r.DupEvents, r.Replayed,
			units.FormatBytes(r.IntakeBytes), units.FormatBytes(r.IntakeLimit), r.IntakeQueued, r.Corrupt, r.Refused)
		if r.LastError != "" {
			line += ", last error: " + r.LastError
		}
	}
	return line
}

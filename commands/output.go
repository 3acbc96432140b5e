package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/internal/units"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/shell"
)

// OutputService is the destinations and routes (outputs.Manager).
type OutputService interface {
	AddOutput(ctx context.Context, rec outputs.Spec) (now outputs.Info, replaced *outputs.Info, err error)
	RemoveOutput(ctx context.Context, name string, discardSpool bool) error
	Outputs() []outputs.Info
	AddRoute(input, dest string) error
	RemoveRoute(input, dest string) error
	Routes() []outputs.Route
	Pause(name string) (outputs.Info, error)
	Resume(name string) (outputs.Info, error)
}

func outputCommands(out OutputService) ([]shell.Command, error) {
	if err := need("output service", out); err != nil {
		return nil, err
	}
	o := &outputCmds{out: out}
	return []shell.Command{
		{Name: "forwarder.addOutput", Usage: "NAME " + strings.Join(outputs.Types(), "|") + " [TARGET]", Help: "Add a destination (file: TARGET is a directory)",
			Detail: "file writes raw messages, one per line, under TARGET/<input>/<date>.log, rotated daily and by size.\n" +
				"discard counts and drops (a benchmark's sink). A destination of the same NAME is replaced.",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 3, Complete: o.completeAdd, Run: o.add,
			Flags: []shell.Flag{
				{Name: "max-size", Value: "BYTES", Help: "file: rotate past this size (default 256MiB)"},
				{Name: "compress", Help: "file: zstd-compress the files"},
				{Name: "buffer", Value: "BYTES", Help: "the spool's bound on disk (default 1GiB; 0: a memory queue of 64MiB)"},
				{Name: "when-full", Value: "drop-oldest|block", Help: "at the bound: drop the oldest events (default) or hold the pipeline back"},
				{Name: "sync", Value: "always|interval|never", Help: "when spooled events are fsynced (default interval: every second)"},
				{Name: "max-age", Value: "DURATION", Help: "drop queued events older than this, counted (default: never)"},
			}},
		{Name: "forwarder.pause", Usage: "NAME", Help: "Hold a destination's sending; its spool keeps filling",
			Detail: "For maintenance windows. It stays paused across restarts until forwarder.resume.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: o.completeName, Run: o.pause},
		{Name: "forwarder.resume", Usage: "NAME", Help: "Let a paused destination send again",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: o.completeName, Run: o.resume},
		{Name: "forwarder.removeOutput", Usage: "NAME", Help: "Remove a destination no route uses",
			Detail: "One whose spool still holds events is refused unless --discard-spool.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: o.completeName, Run: o.remove,
			Flags: []shell.Flag{{Name: "discard-spool", Help: "drop what its spool still holds"}}},
		{Name: "forwarder.outputs", Help: "List destinations: state, events in, written, errors, last error",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: o.list},
		{Name: "route.add", Usage: "INPUT|* DESTINATION", Help: "Send an input's events to a destination (* for inputs without a route)",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, Complete: o.completeRoute, Run: o.addRoute},
		{Name: "route.remove", Usage: "INPUT|* DESTINATION", Help: "Remove a route",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, Complete: o.completeRoute, Run: o.removeRoute},
		{Name: "route.list", Help: "List the routes",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: o.listRoutes},
	}, nil
}

type outputCmds struct{ out OutputService }

func outputLine(in outputs.Info) string {
	line := fmt.Sprintf("[%s] %s", in.Name, in.Type)
	if in.Target != "" {
		line += " " + in.Target
	}
	line += fmt.Sprintf(", state=%s, in=%d, written=%d, errors=%d", in.State, in.EventsIn, in.Written, in.Errors)
	if sp := in.Spool; sp != nil {
		drain := "-"
		if sp.DrainSecs >= 0 {
			drain = (time.Duration(sp.DrainSecs) * time.Second).String()
		}
		line += fmt.Sprintf(", spool=%s/%s, queued=%d, oldest=%s, in_rate=%.0f/s, out_rate=%.0f/s, drain=%s, dropped=%d (full=%d, age=%d, disk_full=%d, corrupt=%d), sync=%s, when_full=%s",
			units.FormatBytes(sp.Bytes), units.FormatBytes(sp.Limit), sp.Queued, (time.Duration(sp.OldestAge) * time.Second).String(),
			sp.InRate, sp.OutRate, drain, sp.DropFull+sp.DropAge+sp.DropDisk+sp.DropCorrup, sp.DropFull, sp.DropAge, sp.DropDisk, sp.DropCorrup, sp.Sync, sp.WhenFull)
		if sp.Replayed > 0 {
			line += fmt.Sprintf(", replayed_at_start=%d (possible duplicates after an unclean stop)", sp.Replayed)
		}
	}
	if in.LastError != "" {
		line += ", last error: " + in.LastError
	}
	return line
}

func (o *outputCmds) add(c *shell.Ctx) error {
	rec := outputs.Spec{Name: c.Args[0], Type: strings.ToLower(c.Args[1]), Compress: c.Flag("compress")}
	if len(c.Args) == 3 {
		rec.Target = c.Args[2]
	}
	size, err := c.FlagBytes("max-size", 0)
	if err != nil {
		return err
	}
	rec.MaxSize = size
	if _, ok := c.FlagString("buffer"); ok {
		if rec.Buffer, err = c.FlagBytes("buffer", 0); err != nil {
			return err
		}
		rec.Memory = rec.Buffer == 0
	}
	rec.WhenFull, _ = c.FlagString("when-full")
	rec.Sync, _ = c.FlagString("sync")
	if rec.MaxAge, err = c.FlagDuration("max-age", 0); err != nil {
		return err
	}
	now, replaced, err := o.out.AddOutput(c, rec)
	if err != nil {
		return err
	}
	if replaced != nil {
		c.Printf("%s\n", termsafe.Escape("was: "+outputLine(*replaced)))
	}
	c.Printf("%s\n", termsafe.Escape(outputLine(now)))
	return nil
}

func (o *outputCmds) pause(c *shell.Ctx) error {
	in, err := o.out.Pause(c.Args[0])
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(outputLine(in)))
	return nil
}

func (o *outputCmds) resume(c *shell.Ctx) error {
	in, err := o.out.Resume(c.Args[0])
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(outputLine(in)))
	return nil
}

func (o *outputCmds) remove(c *shell.Ctx) error {
	if err := o.out.RemoveOutput(c, c.Args[0], c.Flag("discard-spool")); err != nil {
		return err
	}
	c.Printf("removed [%s]\n", termsafe.Escape(c.Args[0]))
	return nil
}

func (o *outputCmds) list(c *shell.Ctx) error {
	list := o.out.Outputs()
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	for _, in := range list {
		c.Printf("%s\n", termsafe.Escape(outputLine(in)))
	}
	return nil
}

func (o *outputCmds) addRoute(c *shell.Ctx) error {
	if err := o.out.AddRoute(c.Args[0], c.Args[1]); err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(c.Args[0]+" -> "+c.Args[1]))
	return nil
}

func (o *outputCmds) removeRoute(c *shell.Ctx) error {
	if err := o.out.RemoveRoute(c.Args[0], c.Args[1]); err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape("removed "+c.Args[0]+" -> "+c.Args[1]))
	return nil
}

func (o *outputCmds) listRoutes(c *shell.Ctx) error {
	list := o.out.Routes()
	if c.Flag("json") {
		return c.WriteJSON(list)
	}
	for _, r := range list {
		c.Printf("%s\n", termsafe.Escape(r.Input+" -> "+r.Destination))
	}
	return nil
}

func (o *outputCmds) completeName(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, in := range o.out.Outputs() {
		out = append(out, prompt.Suggest{Text: in.Name, Description: in.Type})
	}
	return out
}

func (o *outputCmds) completeAdd(c *shell.Ctx, args []string) []prompt.Suggest {
	switch len(args) {
	case 1:
		return o.completeName(c, args)
	case 2:
		var out []prompt.Suggest
		for _, t := range outputs.Types() {
			out = append(out, prompt.Suggest{Text: t})
		}
		return out
	}
	return nil
}

func (o *outputCmds) completeRoute(c *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) == 2 {
		return o.completeName(c, args[1:])
	}
	return nil
}

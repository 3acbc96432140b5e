package commands

import (
	"strconv"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/internal/units"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
	"github.com/ferry-appliance/ferry/shell"
)

// SpoolService is the destinations' spools (outputs.Manager).
type SpoolService interface {
	VerifySpool(name string) (spool.Report, error)
	RepairSpool(name string) (spool.Report, error)
	PeekSpool(name string, n int) ([]*event.Batch, error)
}

func spoolCommands(sp SpoolService, out OutputService) ([]shell.Command, error) {
	if err := need("spool service", sp); err != nil {
		return nil, err
	}
	c := &spoolCmds{sp: sp, names: &outputCmds{out: out}}
	return []shell.Command{
		{Name: "spool.verify", Usage: "DESTINATION", Help: "Scan a destination's spool, read-only: segments, records, events, bad records and where",
			Role: accounts.Viewer, MinArgs: 1, MaxArgs: 1, Flags: []shell.Flag{shell.JSONFlag}, Complete: c.names.completeName, Run: c.verify},
		{Name: "spool.repair", Usage: "DESTINATION", Help: "Set aside what spool.verify finds bad, keeping every good record",
			Detail: "A segment with a bad record keeps its records before it; the rest is moved aside as <segment>.bad\n" +
				"in the spool's directory, and its events are counted as dropped (corrupt).",
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Flags: []shell.Flag{shell.JSONFlag}, Complete: c.names.completeName, Run: c.repair},
		{Name: "spool.peek", Usage: "DESTINATION [N]", Help: "Show the oldest N queued events (default 10)",
			Role: accounts.Viewer, MinArgs: 1, MaxArgs: 2, Complete: c.names.completeName, Run: c.peek},
	}, nil
}

type spoolCmds struct {
	sp    SpoolService
	names *outputCmds
}

func (c *spoolCmds) report(ctx *shell.Ctx, rep spool.Report, repaired bool) error {
	if ctx.Flag("json") {
		return ctx.WriteJSON(rep)
	}
	ctx.Printf("segments=%d, records=%d, events=%d, bytes=%s, bad=%d\n", rep.Segments, rep.Records, rep.Events, units.FormatBytes(rep.Bytes), len(rep.Bad))
	for _, b := range rep.Bad {
		ctx.Printf("bad: %s\n", termsafe.Escape(b.Error()))
	}
	for _, f := range rep.SetAside {
		ctx.Printf("set aside: %s\n", termsafe.Escape(f))
	}
	if !repaired && len(rep.Bad) > 0 {
		ctx.Printf("spool.repair %s sets these aside and keeps every good record\n", termsafe.Escape(ctx.Args[0]))
	}
	return nil
}

func (c *spoolCmds) verify(ctx *shell.Ctx) error {
	rep, err := c.sp.VerifySpool(ctx.Args[0])
	if err != nil {
		return err
	}
	return c.report(ctx, rep, false)
}

func (c *spoolCmds) repair(ctx *shell.Ctx) error {
	rep, err := c.sp.RepairSpool(ctx.Args[0])
	if err != nil {
		return err
	}
	return c.report(ctx, rep, true)
}

func (c *spoolCmds) peek(ctx *shell.Ctx) error {
	n := 10
	if len(ctx.Args) == 2 {
		v, err := strconv.Atoi(ctx.Args[1])
		if err != nil || v < 1 || v > 10000 {
			return ctx.Usagef("N must be 1-10000, not %q", ctx.Args[1])
		}
		n = v
	}
	batches, err := c.sp.PeekSpool(ctx.Args[0], n)
	if err != nil {
		return err
	}
	shown := 0
	for _, b := range batches {
		for i := range b.Len() {
			ctx.Printf("%s %s %s %s\n", b.Events[i].Received.Local().Format("2006-01-02 15:04:05.000"), b.Events[i].Source, termsafe.Escape(b.Input), termsafe.Escape(string(b.Raw(i))))
			shown++
		}
		b.Release()
	}
	if shown == 0 {
		ctx.Printf("(nothing queued)\n")
	}
	return nil
}

package commands

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/net/syslog"
	"github.com/ferry-appliance/ferry/shell"
)

// InputService is the receivers (inputs.Manager).
type InputService interface {
	Open(ctx context.Context, spec inputs.Spec) (now inputs.Info, replaced *inputs.Info, err error)
	Close(ctx context.Context, name string) (inputs.Info, error)
	List() []inputs.Info
	Sources(name string) (*syslog.Sources, error)
}

// TraceService taps the pipeline (pipeline.Pipeline).
type TraceService interface {
	Tap(input string, match func(b *event.Batch, i int) bool, buf int) *pipeline.Tap
}

func syslogCommands(in InputService, tr TraceService) ([]shell.Command, error) {
	if err := need("input service", in, "trace service", tr); err != nil {
		return nil, err
	}
	s := &syslogCmds{in: in, tr: tr, kind: "syslog"}
	return append([]shell.Command{
		{Name: "syslog.open", Usage: "NAME PORT [udp|tcp|tls]", Help: "Open a syslog receiver (default udp)",
			Detail: "A receiver that is open under NAME is replaced. UDP readers share the port (SO_REUSEPORT),\n" +
				"each reading many datagrams per system call into a 64 MiB buffer by default.",
			Role: accounts.Admin, MinArgs: 2, MaxArgs: 3, Complete: s.completeOpen, Run: s.open,
			Flags: []shell.Flag{
				{Name: "bind", Value: "ADDR", Help: "listen on this address only (default: every address)"},
				{Name: "charset", Value: "NAME", Help: "what senders use; converted to UTF-8 (default UTF-8)"},
				{Name: "key", Value: "ALIAS", Help: "tls: keystore alias of the server certificate"},
				{Name: "trust", Value: "ALIAS", Help: "tls: require client certificates signed by this alias"},
				{Name: "readers", Value: "N", Help: "udp: sockets reading in parallel (default one per two cores)"},
				{Name: "rcvbuf", Value: "BYTES", Help: "udp: receive buffer per socket (default 64MiB)"},
				{Name: "max-size", Value: "BYTES", Help: "longer messages are cut here and counted (default 64KiB)"},
			}},
	}, s.common("messages", "syslog receivers")...), nil
}

// common are the commands both kinds of receiver have: close, stats, trace
// and servers, named for the kind (syslog.close, snmptrap.close).
func (s *syslogCmds) common(what, receivers string) []shell.Command {
	k := s.kind
	return []shell.Command{
		{Name: k + ".close", Usage: "NAME", Help: "Close one of the " + receivers,
			Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Complete: s.completeName, Run: s.close},
		{Name: k + ".stats", Usage: "NAME", Help: strings.ToUpper(what[:1]) + what[1:] + " per source address, busiest first",
			Detail: fmt.Sprintf("The table keeps %d sources; %s from sources beyond them are counted as folded.", syslog.DefaultMaxSources, what),
			Role:   accounts.Viewer, MinArgs: 1, MaxArgs: 1, Flags: []shell.Flag{shell.JSONFlag, {Name: "top", Value: "N", Help: "show the N busiest (default 50)"}},
			Complete: s.completeName, Run: s.stats},
		{Name: k + ".trace", Usage: "NAME", Help: "Print " + what + " as they arrive, until Ctrl-C",
			Detail: "It never slows the receiver: when the terminal falls behind, lines are skipped and counted.",
			Role:   accounts.Viewer, MinArgs: 1, MaxArgs: 1, Complete: s.completeName, Run: s.trace,
			Flags: []shell.Flag{
				{Name: "grep", Value: "REGEX", Help: "only " + what + " matching REGEX"},
				{Name: "from", Value: "CIDR", Help: "only " + what + " from these source addresses"},
			}},
		{Name: k + ".servers", Help: "List the " + receivers + ": address, state, received and dropped",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: s.servers},
	}
}

// syslogCmds serves syslog.* and, with kind snmptrap, snmptrap.*: the
// receivers of one kind, in the one namespace of input names.
type syslogCmds struct {
	in   InputService
	tr   TraceService
	kind string
}

// lookup checks that name is an open receiver of this kind.
func (s *syslogCmds) lookup(name string) (inputs.Info, error) {
	for _, in := range s.in.List() {
		if in.Name == name {
			if in.Kind != s.kind {
				return in, fmt.Errorf("input %q: a %s receiver (%s.close, %s.servers)", name, in.Kind, in.Kind, in.Kind)
			}
			return in, nil
		}
	}
	return inputs.Info{}, fmt.Errorf("input %q: not open (%s.servers lists them)", name, s.kind)
}

// list is the receivers of this kind.
func (s *syslogCmds) list() []inputs.Info {
	var out []inputs.Info
	for _, in := range s.in.List() {
		if in.Kind == s.kind {
			out = append(out, in)
		}
	}
	return out
}

// line describes a receiver in its kind's shape.
func (s *syslogCmds) line(in inputs.Info) string {
	if s.kind == "snmptrap" {
		return trapLine(in)
	}
	return serverLine(in)
}

func (s *syslogCmds) open(c *shell.Ctx) error {
	spec := inputs.Spec{Name: c.Args[0], Kind: "syslog", Proto: "udp"}
	port, err := strconv.Atoi(c.Args[1])
	if err != nil || port < 1 || port > 65535 {
		return c.Usagef("PORT must be 1-65535, not %q", c.Args[1])
	}
	spec.Port = port
	if len(c.Args) == 3 {
		switch p := strings.ToLower(c.Args[2]); p {
		case "udp", "tcp", "tls":
			spec.Proto = p
		default:
			return c.Usagef("protocol %q: use udp, tcp or tls", c.Args[2])
		}
	}
	spec.Bind, _ = c.FlagString("bind")
	spec.Charset, _ = c.FlagString("charset")
	spec.Key, _ = c.FlagString("key")
	spec.Trust, _ = c.FlagString("trust")
	if spec.Readers, err = c.FlagInt("readers", 0, 1, 64); err != nil {
		return err
	}
	rcv, err := c.FlagBytes("rcvbuf", 0)
	if err != nil {
		return err
	}
	max, err := c.FlagBytes("max-size", 0)
	if err != nil {
		return err
	}
	spec.RcvBuf, spec.MaxSize = int(rcv), int(max)
	return s.apply(c, spec)
}

// apply opens spec, refusing to turn a receiver of another kind into this one.
func (s *syslogCmds) apply(c *shell.Ctx, spec inputs.Spec) error {
	if in, err := s.lookup(spec.Name); err != nil && in.Name != "" {
		return err
	}
	now, replaced, err := s.in.Open(c, spec)
	if err != nil {
		return err
	}
	if replaced != nil {
		c.Printf("%s\n", termsafe.Escape("was: "+s.line(*replaced)))
	}
	c.Printf("%s\n", termsafe.Escape(s.line(now)))
	return nil
}

func (s *syslogCmds) close(c *shell.Ctx) error {
	if _, err := s.lookup(c.Args[0]); err != nil {
		return err
	}
	in, err := s.in.Close(c, c.Args[0])
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("closed [%s] %s (%s)", in.Name, in.Address, in.Proto)))
	return nil
}

// serverLine is the guide's shape:
// [name] 0.0.0.0:514 (udp), charset=UTF-8, rx_buf_size=N, readers=N, state=listening, received=N, dropped=N (queue=N, malformed=N, kernel=N), since=...
func serverLine(in inputs.Info) string {
	line := fmt.Sprintf("[%s] %s (%s), charset=%s, rx_buf_size=%d, readers=%d, state=%s, received=%d, dropped=%d (queue=%d, malformed=%d, kernel=%d)",
		in.Name, in.Address, in.Proto, in.Charset, in.RcvBuf, in.Readers, in.State, in.Received, in.Dropped, in.QueueDrops, in.Malformed, in.KernelDrops)
	// Not drops (the message goes on), so outside the guide's dropped=(...).
	if in.Truncated > 0 {
		line += fmt.Sprintf(", truncated=%d", in.Truncated)
	}
	if in.Invalid > 0 {
		line += fmt.Sprintf(", invalid=%d", in.Invalid)
	}
	if !in.Since.IsZero() {
		line += ", since=" + in.Since.Local().Format(time.DateTime)
	}
	return line
}

type statsView struct {
	Sources      []syslog.SourceCount `json:"sources"`
	Tracked      int                  `json:"tracked"`
	Max          int                  `json:"max"`
	FoldedEvents uint64               `json:"folded_messages"`
}

func (s *syslogCmds) stats(c *shell.Ctx) error {
	top, err := c.FlagInt("top", 50, 1, 1<<20)
	if err != nil {
		return err
	}
	if _, err := s.lookup(c.Args[0]); err != nil {
		return err
	}
	src, err := s.in.Sources(c.Args[0])
	if err != nil {
		return err
	}
	list, tracked, folded := src.Top(top)
	if c.Flag("json") {
		return c.WriteJSON(statsView{Sources: list, Tracked: tracked, Max: src.Max(), FoldedEvents: folded})
	}
	for _, sc := range list {
		c.Printf("%s => %d (first seen %s, last seen %s)\n", sc.Addr, sc.Count, sc.FirstSeen, sc.LastSeen)
	}
	if tracked > len(list) {
		c.Printf("(%d more sources; --top N shows more)\n", tracked-len(list))
	}
	if folded > 0 {
		c.Printf("(%d messages from sources beyond the table's %d folded)\n", folded, src.Max())
	}
	return nil
}

func (s *syslogCmds) trace(c *shell.Ctx) error {
	name := c.Args[0]
	if _, err := s.lookup(name); err != nil {
		return err
	}
	var re *regexp.Regexp
	if g, ok := c.FlagString("grep"); ok {
		var err error
		if re, err = regexp.Compile(g); err != nil {
			return c.Usagef("--grep %q: %v", g, err)
		}
	}
	from, hasFrom, err := c.FlagCIDR("from")
	if err != nil {
		return err
	}
	match := func(b *event.Batch, i int) bool {
		if hasFrom && !from.Contains(b.Events[i].Source.Addr()) {
			return false
		}
		return re == nil || re.Match(b.Raw(i))
	}
	tap := s.tr.Tap(name, match, 512)
	defer tap.Close()
	c.Printf("press ctrl-c to stop\n")
	var reported uint64
	for {
		select {
		case <-c.Done():
			if n := tap.Skipped(); n > reported {
				c.Printf("(skipped %d lines: the terminal was slower than the traffic)\n", n-reported)
			}
			return nil
		case l := <-tap.C():
			if n := tap.Skipped(); n > reported {
				c.Printf("(skipped %d lines: the terminal is slower than the traffic)\n", n-reported)
				reported = n
			}
			c.Printf("%s %s %s\n", l.Received.Local().Format("2006-01-02 15:04:05.000"), l.Source, termsafe.Escape(string(l.Raw)))
		}
	}
}

func (s *syslogCmds) servers(c *shell.Ctx) error {
	list := s.list()
	if c.Flag("json") {
		if list == nil {
			list = []inputs.Info{}
		}
		return c.WriteJSON(list)
	}
	for _, in := range list {
		c.Printf("%s\n", termsafe.Escape(s.line(in)))
	}
	return nil
}

func (s *syslogCmds) completeName(_ *shell.Ctx, args []string) []prompt.Suggest {
	if len(args) != 1 {
		return nil
	}
	var out []prompt.Suggest
	for _, in := range s.list() {
		out = append(out, prompt.Suggest{Text: in.Name, Description: in.Address + " (" + in.Proto + ")"})
	}
	return out
}

func (s *syslogCmds) completeOpen(c *shell.Ctx, args []string) []prompt.Suggest {
	switch len(args) {
	case 1:
		return s.completeName(c, args)
	case 3:
		return []prompt.Suggest{{Text: "udp"}, {Text: "tcp"}, {Text: "tls"}}
	}
	return nil
}

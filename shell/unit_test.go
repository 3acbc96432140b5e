package shell

// Unit tests of the shell's pure parts: line splitting, exit statuses, the
// registry's validation and suggestions, secret redaction and dispatch rules (the
// brute-force guard's are in guard_test.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/accounts"
)

func TestSplitLineTable(t *testing.T) {
	tests := []struct {
		name string
		line string
		want [][]string
	}{
		{"empty", "", nil},
		{"blanks only", " \t \r\n", nil},
		{"plain words", "account.add bob viewer", [][]string{{"account.add", "bob", "viewer"}}},
		{"extra whitespace", "  a \t b\r\n c  ", [][]string{{"a", "b", "c"}}},
		{"single quotes keep spaces", "echo 'hello  world'", [][]string{{"echo", "hello  world"}}},
		{"single quotes are literal", `echo 'a\"b;c$d'`, [][]string{{"echo", `a\"b;c$d`}}},
		{"double quotes", `echo "two words"`, [][]string{{"echo", "two words"}}},
		{"double quote escapes", `echo "q\" b\\ d\$"`, [][]string{{"echo", `q" b\ d$`}}},
		{"other backslash in double quotes kept", `echo "a\nb"`, [][]string{{"echo", `a\nb`}}},
		{"semicolon in quotes", `echo "a;b" 'c;d'`, [][]string{{"echo", "a;b", "c;d"}}},
		{"quotes join with bare text", `pre'mid'"post"x`, [][]string{{"premidpostx"}}},
		{"empty quoted words", `a '' "" b`, [][]string{{"a", "", "", "b"}}},
		{"backslash escapes space", `a\ b c`, [][]string{{`a b`, "c"}}},
		{"backslash escapes quote", `a\'b`, [][]string{{"a'b"}}},
		{"backslash escapes semicolon", `a\;b`, [][]string{{"a;b"}}},
		{"backslash escapes backslash", `a\\b`, [][]string{{`a\b`}}},
		{"trailing backslash dropped", `a\`, [][]string{{"a"}}},
		{"semicolon separates", "a 1; b 2", [][]string{{"a", "1"}, {"b", "2"}}},
		{"semicolon without spaces", "a;b;c", [][]string{{"a"}, {"b"}, {"c"}}},
		{"empty commands skipped", ";; a ;  ; b;", [][]string{{"a"}, {"b"}}},
		{"only semicolons", " ; ;; ", nil},
		{"unicode", "echo 'héllo wörld' ünï", [][]string{{"echo", "héllo wörld", "ünï"}}},
		{"key line", `account.addKey bob 'ssh-ed25519 AAAA bob@laptop'`,
			[][]string{{"account.addKey", "bob", "ssh-ed25519 AAAA bob@laptop"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitLine(tc.line)
			if err != nil {
				t.Fatalf("splitLine(%q) error: %v", tc.line, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("splitLine(%q) = %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

func TestSplitLineUnterminated(t *testing.T) {
	for _, line := range []string{
		`echo 'abc`,
		`echo "abc`,
		`'`,
		`"`,
		`echo "abc\"`,
		`echo "abc\`,
		`a; b 'c; d`,
		`ok "fine" 'not`,
	} {
		got, err := splitLine(line)
		if !errors.Is(err, errUnterminated) {
			t.Errorf("splitLine(%q) = %q, %v; want errUnterminated", line, got, err)
		}
		if got != nil {
			t.Errorf("splitLine(%q) returned commands %q with the error", line, got)
		}
	}
}

func TestExitStatusMapping(t *testing.T) {
	reg := unitRegistry(t)
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"exit", ErrExit, 0},
		{"wrapped exit", fmt.Errorf("bye: %w", ErrExit), 0},
		{"unknown command", ErrUnknownCommand, 127},
		{"wrapped unknown command", fmt.Errorf("x: %w", ErrUnknownCommand), 127},
		{"registry unknown", reg.Unknown("nosuch"), 127},
		{"usage", ErrUsage, 2},
		{"Usagef", Usagef("need %d args", 2), 2},
		{"wrapped usage", fmt.Errorf("cmd: %w", Usagef("bad")), 2},
		{"line error keeps status", lineError{n: 3, err: Usagef("bad")}, 2},
		{"permission", fmt.Errorf("%w: x", ErrPermission), 1},
		{"reported", ErrReported, 1},
		{"other", errors.New("disk full"), 1},
	}
	for _, tc := range tests {
		if got := ExitStatus(tc.err); got != tc.want {
			t.Errorf("%s: ExitStatus(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestMessageText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"exit", ErrExit, ""},
		{"reported", fmt.Errorf("x: %w", ErrReported), ""},
		{"plain", errors.New("disk full"), "disk full"},
		{"usage", Usagef("usage: account.add NAME admin|viewer"), "usage: account.add NAME admin|viewer"},
		{"line error", lineError{n: 7, err: errors.New("boom")}, "line 7: boom"},
		{"line error without message", lineError{n: 2, err: ErrReported}, "line 2: command failed"},
	}
	for _, tc := range tests {
		if got := Message(tc.err); got != tc.want {
			t.Errorf("%s: Message(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

func unitNoop(*Ctx) error { return nil }

func unitCmd(name string, role accounts.Role) Command {
	return Command{Name: name, Help: "help for " + name, Role: role, MaxArgs: -1, Run: unitNoop}
}

func unitRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry(
		[]Command{unitCmd("help", accounts.Viewer), unitCmd("exit", accounts.Viewer)},
		[]Command{
			unitCmd("account.add", accounts.Admin), unitCmd("account.list", accounts.Viewer),
			unitCmd("account.remove", accounts.Admin), unitCmd("account.addKey", accounts.Admin),
		},
		[]Command{unitCmd("system.status", accounts.Viewer), unitCmd("tcpscan", accounts.Viewer)},
	)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

func TestNewRegistryValid(t *testing.T) {
	r := unitRegistry(t)
	var got []string
	for _, c := range r.Commands("") {
		got = append(got, c.Name)
	}
	want := []string{"account.add", "account.addKey", "account.list", "account.remove", "exit", "help", "system.status", "tcpscan"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Commands(\"\") = %v, want sorted %v", got, want)
	}
	got = nil
	for _, c := range r.Commands("account.") {
		got = append(got, c.Name)
	}
	if want := want[:4]; !reflect.DeepEqual(got, want) {
		t.Errorf("Commands(account.) = %v, want %v", got, want)
	}
	if c, ok := r.Lookup("tcpscan"); !ok || c.Name != "tcpscan" {
		t.Errorf("Lookup(tcpscan) = %v, %v", c, ok)
	}
	if _, ok := r.Lookup("account"); ok {
		t.Error("Lookup matched a prefix")
	}
}

func TestNewRegistryRejects(t *testing.T) {
	good := unitCmd("good", accounts.Viewer)
	with := func(f func(c *Command)) Command { c := unitCmd("x.y", accounts.Admin); f(&c); return c }
	tests := []struct {
		name   string
		groups [][]Command
		want   string // part of the error
	}{
		{"duplicate in one group", [][]Command{{good, good}}, "twice"},
		{"duplicate across groups", [][]Command{{good}, {unitCmd("other", accounts.Admin)}, {good}}, "twice"},
		{"missing run", [][]Command{{good, with(func(c *Command) { c.Run = nil })}}, "handler"},
		{"missing role", [][]Command{{with(func(c *Command) { c.Role = "" })}}, "role"},
		{"unknown role", [][]Command{{with(func(c *Command) { c.Role = "root" })}}, "role"},
		{"missing help", [][]Command{{with(func(c *Command) { c.Help = "" })}}, "help"},
		{"empty name", [][]Command{{with(func(c *Command) { c.Name = "" })}}, "name"},
		{"name with space", [][]Command{{with(func(c *Command) { c.Name = "a b" })}}, "name"},
		{"name with semicolon", [][]Command{{with(func(c *Command) { c.Name = "a;b" })}}, "name"},
		{"name with tab", [][]Command{{with(func(c *Command) { c.Name = "a\tb" })}}, "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRegistry(tc.groups...)
			if err == nil {
				t.Fatalf("NewRegistry succeeded (%d commands); want an error", len(r.Commands("")))
			}
			if r != nil {
				t.Errorf("NewRegistry returned a registry with its error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if _, err := NewRegistry(); err != nil {
		t.Errorf("NewRegistry() with no groups = %v", err)
	}
}

func TestRegistryUnknownSuggests(t *testing.T) {
	r := unitRegistry(t)
	tests := []struct {
		typed   string
		suggest []string // nil: no suggestion
	}{
		{"acount.add", []string{"account.add"}},                                // one deletion
		{"account.lsit", []string{"account.list"}},                             // transposition
		{"hlep", []string{"help"}},                                             // distance 2
		{"ACCOUNT.LIST", []string{"account.list"}},                             // case-insensitive distance
		{"tcpscn", []string{"tcpscan"}},                                        // missing letter
		{"account", []string{"account.add", "account.addKey", "account.list"}}, // prefix, capped at 3
		{"system", []string{"system.status"}},                                  // prefix
		{"reboot-the-world", nil},
		{"zz", nil},
	}
	for _, tc := range tests {
		err := r.Unknown(tc.typed)
		if !errors.Is(err, ErrUnknownCommand) {
			t.Errorf("Unknown(%q) = %v; want ErrUnknownCommand", tc.typed, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.typed) {
			t.Errorf("Unknown(%q) = %q; does not name what was typed", tc.typed, msg)
		}
		if tc.suggest == nil {
			if strings.Contains(msg, "did you mean") || !strings.Contains(msg, "type help") {
				t.Errorf("Unknown(%q) = %q; want no suggestion, a pointer to help", tc.typed, msg)
			}
			continue
		}
		_, list, ok := strings.Cut(msg, "did you mean ")
		if !ok {
			t.Errorf("Unknown(%q) = %q; want a suggestion of %v", tc.typed, msg, tc.suggest)
			continue
		}
		if got := strings.Split(strings.TrimSuffix(list, "?"), ", "); !reflect.DeepEqual(got, tc.suggest) {
			t.Errorf("Unknown(%q) suggests %q, want %q", tc.typed, got, tc.suggest)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"help", "help", 0},
		{"help", "hlep", 2},
		{"kitten", "sitting", 3},
		{"exit", "exti", 2},
		{"tcpscan", "tcpscn", 1},
	}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestDispatchRules runs lines through runLine with fake commands and checks
// what ran, the error class, and the audit record.
func TestDispatchRules(t *testing.T) {
	var ran []string
	var gotArgs [][]string
	var gotJSON []bool
	record := func(c *Ctx) error {
		ran = append(ran, c.Args[0])
		gotArgs = append(gotArgs, c.Args)
		gotJSON = append(gotJSON, c.Flag("json"))
		return nil
	}
	reg, err := NewRegistry([]Command{
		{Name: "show", Help: "show things", Role: accounts.Viewer, MinArgs: 1, MaxArgs: 2, Flags: []Flag{JSONFlag}, Run: record},
		{Name: "admin.do", Help: "admin only", Role: accounts.Admin, MinArgs: 1, MaxArgs: 1, Run: record},
		{Name: "passwd", Help: "change password", Role: accounts.Viewer, Run: func(*Ctx) error { ran = append(ran, "passwd"); return nil }},
		{Name: "setpw", Help: "set a password", Role: accounts.Admin, MinArgs: 2, MaxArgs: 2, SecretArgs: []int{1}, Run: record},
		{Name: "boom", Help: "panics", Role: accounts.Viewer, Run: func(*Ctx) error { panic("kaboom") }},
		{Name: "fail", Help: "fails", Role: accounts.Viewer, Run: func(*Ctx) error { return errors.New("it broke") }},
		{Name: "quit", Help: "leaves", Role: accounts.Viewer, Run: func(*Ctx) error { return ErrExit }},
		{Name: "wait", Help: "waits for ctx", Role: accounts.Viewer, Run: func(c *Ctx) error { <-c.Done(); return c.Err() }},
	})
	if err != nil {
		t.Fatal(err)
	}
	viewer := accounts.Identity{Name: "vic", Role: accounts.Viewer}
	admin := accounts.Identity{Name: "ada", Role: accounts.Admin}
	mustChange := accounts.Identity{Name: "new", Role: accounts.Admin, MustChangePassword: true}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		user     accounts.Identity
		mode     Mode
		ctx      context.Context
		line     string
		wantRan  []string
		wantArgs [][]string
		wantErr  error // nil: success; errUnitAny: some other error
		wantOut  string
		audit    []string // substrings of the log
		notAudit []string
	}{
		{name: "runs with args", user: viewer, line: "show a b", wantRan: []string{"a"}, wantArgs: [][]string{{"a", "b"}},
			audit: []string{"account=vic", "command=\"show a b\"", "result=ok"}},
		{name: "flag removed from args", user: viewer, line: "show --json a", wantRan: []string{"a"}, wantArgs: [][]string{{"a"}}},
		{name: "several commands", user: admin, line: "show 1; admin.do 2", wantRan: []string{"1", "2"},
			wantArgs: [][]string{{"1"}, {"2"}}},
		{name: "stops at first failure", user: viewer, line: "show 1; fail; show 2", wantRan: []string{"1"},
			wantArgs: [][]string{{"1"}}, wantErr: errUnitAny, audit: []string{"result=\"it broke\""}},
		{name: "unknown command", user: admin, line: "Hunter2-Typed-Here x", wantErr: ErrUnknownCommand,
			audit: []string{"result=\"unknown command\""}, notAudit: []string{"Hunter2"}},
		{name: "unknown flag", user: viewer, line: "show --yaml a", wantErr: ErrUsage},
		{name: "too few args", user: viewer, line: "show", wantErr: ErrUsage},
		{name: "too many args", user: viewer, line: "show 1 2 3", wantErr: ErrUsage},
		{name: "unterminated quote", user: viewer, line: "show 'a", wantErr: ErrUsage},
		{name: "viewer may not run admin command", user: viewer, line: "admin.do x", wantErr: ErrPermission},
		{name: "question mark prints help", user: viewer, line: "show ?", wantOut: "Usage: show [--json]"},
		{name: "must change password outside interactive", user: mustChange, mode: Exec, line: "show a", wantErr: errUnitAny},
		{name: "must change password before unknown command", user: mustChange, mode: Exec, line: "nosuch",
			wantErr: errUnitAny, audit: []string{"password change required"}},
		{name: "must change password may run passwd", user: mustChange, mode: Exec, line: "passwd", wantRan: []string{"passwd"}},
		{name: "must change password interactive", user: mustChange, mode: Interactive, line: "show a",
			wantRan: []string{"a"}, wantArgs: [][]string{{"a"}}},
		{name: "panic is contained", user: viewer, line: "boom", wantErr: errUnitAny, audit: []string{"kaboom", "internal error in boom"}},
		{name: "exit", user: viewer, line: "quit; show a", wantErr: ErrExit},
		{name: "interrupted", user: viewer, ctx: cancelled, line: "wait", wantErr: errUnitAny, audit: []string{"wait: interrupted"}},
		{name: "secret redacted in audit", user: admin, line: "setpw bob 'TopSecret-Pass1'",
			wantRan: []string{"bob"}, wantArgs: [][]string{{"bob", "TopSecret-Pass1"}},
			audit: []string{"setpw bob ********"}, notAudit: []string{"TopSecret"}},
		{name: "secret redacted when usage fails", user: admin, line: "setpw bob 'TopSecret-Pass1' extra",
			wantErr: ErrUsage, audit: []string{"setpw (3 arguments, not shown: usage error)", "result=\"usage error\""},
			notAudit: []string{"TopSecret", "bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran, gotArgs, gotJSON = nil, nil, nil
			var logBuf, out bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			mode := tc.mode
			if mode == "" {
				mode = Batch
			}
			base := &Ctx{Context: ctx, Stdout: &out, Stderr: &out, User: tc.user, Remote: "127.0.0.1", Mode: mode, reg: reg}
			err := reg.runLine(base, log, tc.line)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("runLine(%q) = %v; want success", tc.line, err)
			case tc.wantErr == errUnitAny && err == nil:
				t.Fatalf("runLine(%q) succeeded; want an error", tc.line)
			case tc.wantErr != nil && tc.wantErr != errUnitAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("runLine(%q) = %v; want %v", tc.line, err, tc.wantErr)
			}
			if !reflect.DeepEqual(ran, tc.wantRan) {
				t.Errorf("ran %q, want %q", ran, tc.wantRan)
			}
			if tc.wantArgs != nil && !reflect.DeepEqual(gotArgs, tc.wantArgs) {
				t.Errorf("args %q, want %q", gotArgs, tc.wantArgs)
			}
			if tc.wantOut != "" && !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q does not contain %q", out.String(), tc.wantOut)
			}
			for _, s := range tc.audit {
				if !strings.Contains(logBuf.String(), s) {
					t.Errorf("log does not contain %q:\n%s", s, logBuf.String())
				}
			}
			for _, s := range tc.notAudit {
				if strings.Contains(logBuf.String(), s) {
					t.Errorf("log contains %q:\n%s", s, logBuf.String())
				}
			}
		})
	}
	// The --json flag reached the handler only where it was given.
	ran, gotJSON = nil, nil
	base := &Ctx{Context: context.Background(), Stdout: io.Discard, Stderr: io.Discard, User: viewer, Mode: Batch, reg: reg}
	if err := reg.runLine(base, slog.New(slog.DiscardHandler), "show --json a; show b"); err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false}; !reflect.DeepEqual(gotJSON, want) {
		t.Errorf("Flag(json) per command = %v, want %v", gotJSON, want)
	}
}

var errUnitAny = errors.New("any error")

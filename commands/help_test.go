package commands

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/shell"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestHelpGolden pins what operators read: the command list per role and per-command usage.
func TestHelpGolden(t *testing.T) {
	reg := testTable(t)
	cases := []struct {
		golden string
		role   accounts.Role
		batch  string
	}{
		{"help-admin", accounts.Admin, "help\n"},
		{"help-viewer", accounts.Viewer, "help\n"},
		{"help-account-scope", accounts.Admin, "help account.\n"},
		{"help-commands", accounts.Admin, helpEveryCommand(reg)},
		{"help-question-mark", accounts.Admin, "tcpscan ?\nconfdb.backup ?\n"},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			user := accounts.Identity{Name: "tester", Role: tc.role}
			if err := reg.RunBatch(context.Background(), discard(), user, strings.NewReader(tc.batch), &out); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, out.String())
		})
	}
}

func helpEveryCommand(reg *shell.Registry) string {
	var b strings.Builder
	for _, cmd := range reg.Commands("") {
		b.WriteString("help " + cmd.Name + "\n")
	}
	return b.String()
}

func TestHelpUnknownSuggests(t *testing.T) {
	reg := testTable(t)
	var out bytes.Buffer
	err := reg.RunBatch(context.Background(), discard(), accounts.Identity{Name: "t", Role: accounts.Admin},
		strings.NewReader("help acount.list\n"), &out)
	if shell.ExitStatus(err) != 127 || !strings.Contains(shell.Message(err), "did you mean account.list?") {
		t.Fatalf("got %v", err)
	}
}

func TestEveryCommandIsDocumented(t *testing.T) {
	reg := testTable(t)
	for _, cmd := range reg.Commands("") {
		if cmd.Help == "" || strings.HasSuffix(cmd.Help, ".") {
			t.Errorf("%s: help must be one line without a final period: %q", cmd.Name, cmd.Help)
		}
		if cmd.MaxArgs == 0 && cmd.Usage != "" && !strings.HasPrefix(cmd.Usage, "[") {
			t.Errorf("%s: usage %q names arguments but MaxArgs is 0", cmd.Name, cmd.Usage)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkGolden compares got with testdata/NAME.golden (-update rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./commands -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

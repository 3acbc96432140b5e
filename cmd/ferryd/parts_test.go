package main

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
)

// TestPartsInDeclaredOrder pins the start list (stopping runs it backwards). A
// later issue that adds a part changes this list on purpose.
func TestPartsInDeclaredOrder(t *testing.T) {
	dir := t.TempDir()
	seq, err := build(options{dataDir: dir, sshAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler), nil, filepath.Join(dir, "ferry.log"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"store", "status", "hostkeys", "first-boot", "secrets", "keystores", "destinations", "sentry-feed", "pipeline", "receivers", "console", "web", "bootstrap", "shell"}
	if got := seq.Names(); !slices.Equal(got, want) {
		t.Fatalf("parts %q, want %q", got, want)
	}
	// Building validates only: nothing was opened or created.
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Errorf("build touched the data dir: %v", matches)
	}
}

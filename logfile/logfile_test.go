package logfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/internal/testutil"
)

// waitFor polls until the buffer equals want, or fails after a few seconds.
func waitFor(t *testing.T, b *testutil.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b.String() == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tail output = %q\nwant %q", b.String(), want)
}

func numberedLines(from, to int, width int) string {
	var sb strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&sb, "line %0*d\n", width, i)
	}
	return sb.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), Name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lastN is the reference: the last n lines of content, split after each '\n'.
func lastN(content string, n int) string {
	lines := strings.SplitAfter(content, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n > len(lines) {
		n = len(lines)
	}
	return strings.Join(lines[len(lines)-n:], "")
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTailLastLines(t *testing.T) {
	small := "alpha\nbravo\ncharlie\ndelta\necho\n"
	// 3000 lines of 15 bytes: 45000 bytes, so the newlines sit across three 16 KiB blocks.
	big := numberedLines(1, 3000, 9)
	// A line exactly straddling the first block boundary from the end.
	straddle := strings.Repeat("x", 16*1024-3) + "\nyy\nzz\n"
	files := []struct {
		name, content string
	}{
		{"small", small},
		{"no trailing newline", "first\nsecond\nthird\nfourth"},
		{"large", big},
		{"block boundary", straddle},
		{"single line", "only\n"},
		{"empty lines", "a\n\n\nb\n"},
	}
	counts := []int{0, 1, 3, 1092, 1093, 2999, 3000, 5000}
	for _, f := range files {
		path := writeFile(t, f.content)
		for _, n := range counts {
			t.Run(fmt.Sprintf("%s/n=%d", f.name, n), func(t *testing.T) {
				var out bytes.Buffer
				if err := Tail(context.Background(), path, n, false, &out); err != nil {
					t.Fatalf("Tail: %v", err)
				}
				if want := lastN(f.content, n); out.String() != want {
					t.Errorf("Tail(n=%d) = %d bytes %q...\nwant %d bytes %q...",
						n, out.Len(), head(out.String()), len(want), head(want))
				}
			})
		}
	}
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

func TestTailNoTrailingNewline(t *testing.T) {
	path := writeFile(t, "one\ntwo\nthree")
	tests := []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, "three"},
		{2, "two\nthree"},
		{3, "one\ntwo\nthree"},
		{10, "one\ntwo\nthree"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if err := Tail(context.Background(), path, tc.n, false, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("Tail(n=%d) = %q, want %q", tc.n, out.String(), tc.want)
		}
	}
}

func TestTailEmptyAndMissingFile(t *testing.T) {
	path := writeFile(t, "")
	var out bytes.Buffer
	if err := Tail(context.Background(), path, 5, false, &out); err != nil || out.Len() != 0 {
		t.Errorf("Tail(empty file) = %q, %v; want nothing, nil", out.String(), err)
	}
	if err := Tail(context.Background(), filepath.Join(t.TempDir(), "missing.log"), 5, false, &out); err == nil {
		t.Error("Tail(missing file) returned nil error")
	}
}

// runTail starts a following Tail and returns its output and a function that
// cancels it and returns Tail's result.
func runTail(t *testing.T, path string, n int) (*testutil.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Tail(ctx, path, n, true, out) }()
	stopped := false
	var result error
	stop := func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Tail did not return after its context was cancelled")
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func TestTailFollowAppends(t *testing.T) {
	path := writeFile(t, "old 1\nold 2\nold 3\n")
	out, stop := runTail(t, path, 2)
	want := "old 2\nold 3\n"
	waitFor(t, out, want)

	appendTo(t, path, "new 1\nnew 2\n")
	want += "new 1\nnew 2\n"
	waitFor(t, out, want)

	// A partial line is held back until its newline arrives.
	appendTo(t, path, "partial")
	time.Sleep(3 * pollEvery)
	if got := out.String(); got != want {
		t.Fatalf("partial line was written early: %q", got)
	}
	appendTo(t, path, " line\n")
	want += "partial line\n"
	waitFor(t, out, want)

	// A complete line followed by a partial one in the same read.
	appendTo(t, path, "complete\nsplit ")
	want += "complete\n"
	waitFor(t, out, want)
	appendTo(t, path, "across reads\n")
	want += "split across reads\n"
	waitFor(t, out, want)

	if err := stop(); err != nil {
		t.Errorf("Tail returned %v after cancel; want nil", err)
	}
}

func TestTailFollowAcrossRotation(t *testing.T) {
	path := writeFile(t, "before\n")
	out, stop := runTail(t, path, 10)
	want := "before\n"
	waitFor(t, out, want)

	appendTo(t, path, "old file line\n")
	want += "old file line\n"
	waitFor(t, out, want)

	// Rotate the way lumberjack does: rename away, create a fresh file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * pollEvery) // Tail must survive the moment with no file at path
	// The new file is already longer than the old one, so only its identity
	// (not a shrinking size) shows that it was rotated.
	first := "new file 1 " + strings.Repeat("-", 100) + "\n"
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	want += first
	waitFor(t, out, want)

	appendTo(t, path, "new file 2\n")
	want += "new file 2\n"
	waitFor(t, out, want)

	// A second rotation works too, and the rotated file is no longer read.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	third := "third file " + strings.Repeat("=", 200) + "\n"
	if err := os.WriteFile(path, []byte(third), 0o600); err != nil {
		t.Fatal(err)
	}
	want += third
	waitFor(t, out, want)
	time.Sleep(pollEvery)
	appendTo(t, path+".2", "written to rotated file\n")
	time.Sleep(3 * pollEvery)
	if got := out.String(); got != want {
		t.Errorf("output after writing to the rotated file = %q, want %q", got, want)
	}

	if err := stop(); err != nil {
		t.Errorf("Tail returned %v after cancel; want nil", err)
	}
}

func TestTailFollowAfterTruncation(t *testing.T) {
	path := writeFile(t, "a fairly long first line\nand a second one\n")
	out, stop := runTail(t, path, 0)
	time.Sleep(2 * pollEvery)
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil { // truncates
		t.Fatal(err)
	}
	waitFor(t, out, "short\n")
	if err := stop(); err != nil {
		t.Errorf("Tail returned %v after cancel; want nil", err)
	}
}

func TestTailFollowReturnsNilOnCancel(t *testing.T) {
	path := writeFile(t, "x\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := Tail(ctx, path, 1, true, &out); err != nil {
		t.Errorf("Tail(cancelled ctx) = %v, want nil", err)
	}
	if out.String() != "x\n" {
		t.Errorf("Tail(cancelled ctx) wrote %q, want the last line first", out.String())
	}
}

func TestWriterOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "log")
	w, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	path := filepath.Join(dir, Name)
	if w.Path() != path {
		t.Errorf("Path() = %q, want %q", w.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Open did not create %s: %v", path, err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("log file mode = %#o, want 0600", perm)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("log dir = %v, %v; want mode 0700", di.Mode(), err)
	}

	msgs := []string{"first record\n", "second record\n"}
	for _, m := range msgs {
		n, err := w.Write([]byte(m))
		if err != nil || n != len(m) {
			t.Fatalf("Write(%q) = %d, %v", m, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(msgs, ""); string(got) != want {
		t.Errorf("log content = %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after writes: %v, %v; want mode 0600", fi.Mode(), err)
	}

	// Re-opening appends rather than truncating.
	w, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("third record\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ = os.ReadFile(path)
	if want := strings.Join(msgs, "") + "third record\n"; string(got) != want {
		t.Errorf("after re-open: %q, want %q", got, want)
	}
}

func TestWriterOpenFailsOnFileAsDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err := Open(file); err == nil {
		w.Close()
		t.Error("Open(path of a regular file) succeeded")
	}
}

func TestWriterRotatesWhenTheDayChanges(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("yesterday\n")); err != nil {
		t.Fatal(err)
	}
	w.day = 0 // YearDay is 1-366: the writer believes the last write was on another day
	if _, err := w.Write([]byte("today\n")); err != nil {
		t.Fatal(err)
	}
	if w.day != time.Now().YearDay() {
		t.Errorf("day after rotation = %d, want today %d", w.day, time.Now().YearDay())
	}
	got, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "today\n" {
		t.Errorf("current log after day change = %q, want only today's record", got)
	}

	// lumberjack compresses the rotated file in the background; wait for it to
	// finish so that the rotated record can be checked and TempDir can be removed.
	var gz string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		gzs, _ := filepath.Glob(filepath.Join(dir, "ferry-*.log.gz"))
		plain, _ := filepath.Glob(filepath.Join(dir, "ferry-*.log"))
		if len(gzs) == 1 && len(plain) == 0 {
			gz = gzs[0]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if gz == "" {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("no single compressed rotated log appeared; dir holds %v", entries)
	}
	fi, err := os.Stat(gz)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("rotated log %s mode = %#o, want 0600", filepath.Base(gz), perm)
	}
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	old, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(old) != "yesterday\n" {
		t.Errorf("rotated log holds %q, want yesterday's record", old)
	}
}

// Lines written just before a rotation are not lost: the old file is read to its
// end (a last line without newline included) before the new one.
func TestTailFollowDrainsOldFileAtRotation(t *testing.T) {
	path := writeFile(t, "before\n")
	out, _ := runTail(t, path, 10)
	waitFor(t, out, "before\n")
	appendTo(t, path, "last line of old file\nhalf a line")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "before\nlast line of old file\nhalf a line\nnew file\n")
}

package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"ok", Config{Name: "a", Dir: "/var/log/ferry"}, ""},
		{"no name", Config{Dir: "/var/log/ferry"}, "empty name"},
		{"relative", Config{Name: "a", Dir: "log"}, "not an absolute path"},
		{"empty dir", Config{Name: "a"}, "not an absolute path"},
		{"negative size", Config{Name: "a", Dir: "/x", MaxSize: -1}, "negative max size"},
		{"negative sync", Config{Name: "a", Dir: "/x", Sync: -time.Second}, "negative sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.cfg.MaxSize != DefaultMaxSize || o.cfg.Sync != DefaultSync || o.Name() != "a" {
					t.Fatalf("defaults not applied: %+v", o.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestStartRefusesDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(base, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Permissions do not stop root; /proc/self is a directory no one can create files in.
		readOnly = "/proc/self"
	}
	tests := []struct {
		name, dir, want string
	}{
		{"dir is a file", file, "cannot create directory"},
		{"under a file", filepath.Join(file, "sub"), "cannot create directory"},
		{"read-only", readOnly, "is not writable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(Config{Name: "arch", Dir: tt.dir})
			if err != nil {
				t.Fatal(err)
			}
			err = o.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"arch"`) {
				t.Fatalf("Start: %v, want an error naming the output and containing %q", err, tt.want)
			}
		})
	}
}

func TestStartCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	o := start(t, Config{Dir: dir})
	accept(o, "in", day1, "x")
	shutdown(t, o)
	for _, p := range []string{dir, filepath.Join(dir, "in")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&^0o750 != 0 {
			t.Errorf("%s: mode %v, want at most 0750", p, st.Mode().Perm())
		}
	}
	st, err := os.Stat(filepath.Join(dir, "in", "2026-03-01.log"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&^0o640 != 0 {
		t.Errorf("file mode %v, want at most 0640", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("probe file left behind: %v", ents)
	}
}

// TestDaysAndInputs writes two inputs across midnight: each line lands raw,
// in order, in its input's file of its receive date (in the configured zone).
func TestDaysAndInputs(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "zstd"}[compress], func(t *testing.T) {
			dir := t.TempDir()
			o := start(t, Config{Dir: dir, Compress: compress})
			accept(o, "fw", day1, "<13>fw 1", "<13>fw 2")
			accept(o, "web", day1, "<13>web 1")
			// One batch that crosses midnight, and a late event of day 1 after the roll.
			b := batch("fw", day1, "<13>fw 3")
			b.Add(day2, src, []byte("<13>fw 4"))
			b.Add(day1.Add(30*time.Second), src, []byte("<13>fw late"))
			o.Accept(b)
			b.Release()
			if st := o.Stats(); st.Files != 2 {
				t.Errorf("Files = %d after the roll, want 2 (one per input)", st.Files)
			}
			accept(o, "web", day2, "<13>web 2")
			// Zero receive time: the clock's date.
			accept(o, "web", time.Time{}, "<13>web 3")
			shutdown(t, o)

			ext := ".log"
			if compress {
				ext = ".log.zst"
			}
			// The zero-time event falls on today's date (time.Now).
			today := time.Now().In(zone).Format("2006-01-02")
			want := map[string][]string{
				"fw/2026-03-01" + ext:  {"<13>fw 1", "<13>fw 2", "<13>fw 3"},
				"fw/2026-03-02" + ext:  {"<13>fw 4", "<13>fw late"},
				"web/2026-03-01" + ext: {"<13>web 1"},
				"web/2026-03-02" + ext: {"<13>web 2"},
			}
			want["web/"+today+ext] = append(want["web/"+today+ext], "<13>web 3")
			var names []string
			for n := range want {
				names = append(names, n)
			}
			slices.Sort(names)
			if got := listDir(t, dir); !slices.Equal(got, names) {
				t.Fatalf("files %v, want %v", got, names)
			}
			for name, w := range want {
				if got := lines(t, filepath.Join(dir, name)); !equal(got, w) {
					t.Errorf("%s: %q, want %q", name, got, w)
				}
			}
			st := o.Stats()
			if st.EventsIn != 8 || st.EventsWritten != 8 || st.Errors != 0 || st.Files != 0 {
				t.Errorf("stats %+v, want 8 in, 8 written, no errors, no open files", st)
			}
		})
	}
}

// TestSizeRotation: past MaxSize the file is renamed <date>.<n>.log and a new
// one started; no line is split and none is lost or reordered.
func TestSizeRotation(t *testing.T) {
	dir := t.TempDir()
	o := start(t, Config{Dir: dir, MaxSize: 100})
	all := msgs("m", 14, 30) // 31 bytes a line: 3 lines a file
	accept(o, "in", day1, all[:5]...)
	accept(o, "in", day1, all[5:12]...)
	accept(o, "in", day1, all[12:]...)
	shutdown(t, o)
	want := []string{"in/2026-03-01.1.log", "in/2026-03-01.2.log", "in/2026-03-01.3.log", "in/2026-03-01.4.log", "in/2026-03-01.log"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	var got []string
	for _, name := range want {
		p := filepath.Join(dir, name)
		st, _ := os.Stat(p)
		if st.Size() > 100 {
			t.Errorf("%s: %d bytes, more than MaxSize", name, st.Size())
		}
		got = append(got, lines(t, p)...)
	}
	if !equal(got, all) {
		t.Fatalf("lines across the files:\n%q\nwant\n%q", got, all)
	}
	if st := o.Stats(); st.BytesWritten != 14*31 || st.EventsWritten != 14 {
		t.Errorf("stats %+v, want 14 events, %d bytes", st, 14*31)
	}
}

// TestRestartAppends: a second run of the same day appends to a plain file
// (ending a cut line first) and, compressed, rotates the old file away so
// every file is one complete stream.
func TestRestartAppends(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "in"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "in", "2026-03-01.log"), []byte("old 1\nold cut"), 0o640); err != nil {
			t.Fatal(err)
		}
		o := start(t, Config{Dir: dir})
		accept(o, "in", day1, "new 1")
		shutdown(t, o)
		if got, want := lines(t, filepath.Join(dir, "in", "2026-03-01.log")), []string{"old 1", "old cut", "new 1"}; !equal(got, want) {
			t.Fatalf("%q, want %q", got, want)
		}
	})
	t.Run("zstd", func(t *testing.T) {
		dir := t.TempDir()
		for _, run := range []string{"run 1", "run 2"} {
			o := start(t, Config{Dir: dir, Compress: true})
			accept(o, "in", day1, run)
			shutdown(t, o)
		}
		want := []string{"in/2026-03-01.1.log.zst", "in/2026-03-01.log.zst"}
		if got := listDir(t, dir); !slices.Equal(got, want) {
			t.Fatalf("files %v, want %v", got, want)
		}
		for i, name := range want {
			if got := lines(t, filepath.Join(dir, name)); !equal(got, []string{[]string{"run 1", "run 2"}[i]}) {
				t.Errorf("%s: %q", name, got)
			}
		}
	})
}

func TestEscapeNewlines(t *testing.T) {
	tests := []struct {
		in, want string
		escaped  bool
	}{
		{"plain", "plain", false},
		{"a\nb", `a\nb`, true},
		{"\n\nx\n", `\n\nx\n`, true},
		{`back\slash`, `back\slash`, false},
		{"", "", false},
	}
	dir := t.TempDir()
	o := start(t, Config{Dir: dir})
	var want []string
	var escaped uint64
	for _, tt := range tests {
		if got := string(escapeNewlines(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("escapeNewlines(%q) = %q, want %q", tt.in, got, tt.want)
		}
		accept(o, "in", day1, tt.in)
		want = append(want, tt.want)
		if tt.escaped {
			escaped++
		}
	}
	shutdown(t, o)
	if got := lines(t, filepath.Join(dir, "in", "2026-03-01.log")); !equal(got, want) {
		t.Errorf("file %q, want %q", got, want)
	}
	if st := o.Stats(); st.Escaped != escaped {
		t.Errorf("Escaped = %d, want %d", st.Escaped, escaped)
	}
}

func TestSafeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fw", "fw"}, {"", "_"}, {".", "_."}, {"..", "_.."}, {"../etc", ".._etc"}, {`a\b/c`, "a_b_c"},
	}
	for _, tt := range tests {
		if got := safeName(tt.in); got != tt.want {
			t.Errorf("safeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestShutdown: everything accepted is on disk, complete, after Shutdown;
// a second Shutdown is a no-op and later batches are errors.
func TestShutdown(t *testing.T) {
	dir := t.TempDir()
	o := start(t, Config{Dir: dir, Compress: true})
	all := msgs("s", 50, 100)
	accept(o, "in", day1, all...)
	if st := o.Stats(); st.Files != 1 {
		t.Fatalf("Files = %d before Shutdown, want 1", st.Files)
	}
	shutdown(t, o)
	shutdown(t, o)
	if got := lines(t, filepath.Join(dir, "in", "2026-03-01.log.zst")); !equal(got, all) {
		t.Fatalf("after Shutdown the file holds %d lines, want %d", len(got), len(all))
	}
	accept(o, "in", day1, "late")
	if st := o.Stats(); st.Files != 0 || st.Errors != 1 || !strings.Contains(st.LastError, "not running") {
		t.Fatalf("after Shutdown: %+v, want no files and the late event counted as an error", st)
	}
}

func TestAcceptBeforeStart(t *testing.T) {
	o, err := New(Config{Name: "a", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	accept(o, "in", day1, "x", "y")
	if st := o.Stats(); st.EventsIn != 2 || st.Errors != 2 || st.EventsWritten != 0 {
		t.Fatalf("%+v, want 2 errors", st)
	}
	if err := o.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentStats reads Stats while batches are written and the fsync
// loop runs (Sync 1ms): for the race detector.
func TestConcurrentStats(t *testing.T) {
	o := start(t, Config{Sync: time.Millisecond, MaxSize: 4096})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					_ = o.Stats()
				}
			}
		}()
	}
	all := msgs("c", 16, 64)
	for i := range 200 {
		accept(o, []string{"a", "b"}[i%2], day1, all...)
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	shutdown(t, o)
	if st := o.Stats(); st.EventsWritten != 200*16 || st.Errors != 0 {
		t.Fatalf("%+v", st)
	}
}

// Write writes what it reports written, and reports a batch it could not
// write (here, after Shutdown) as an error rather than counting it silently.
func TestWriteReportsAndRetries(t *testing.T) {
	dir := t.TempDir()
	o := start(t, Config{Name: "w", Dir: dir})
	day := time.Date(2026, 12, 2, 10, 0, 0, 0, time.Local)
	if err := o.Write(batch("in", day, "one", "two")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, o)
	if err := o.Write(batch("in", day, "late")); err == nil {
		t.Error("Write after Shutdown reported success")
	}
	got := lines(t, filepath.Join(dir, "in", "2026-12-02.log"))
	if !equal(got, []string{"one", "two"}) {
		t.Errorf("file holds %q", got)
	}
}

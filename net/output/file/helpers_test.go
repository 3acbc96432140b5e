package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/klauspost/compress/zstd"
)

var (
	zone = time.FixedZone("UTC+2", 2*3600)
	src  = netip.MustParseAddrPort("192.0.2.1:514")
	day1 = time.Date(2026, 3, 1, 23, 59, 0, 0, zone)
	day2 = time.Date(2026, 3, 2, 0, 0, 1, 0, zone)
)

// pool is big enough that every test batch fits one batch.
var pool = event.NewPool(1024, 1<<24)

// batch makes a batch of input with msgs, all received at t.
func batch(input string, t time.Time, msgs ...string) *event.Batch {
	b := pool.Get(input)
	for _, m := range msgs {
		if !b.Add(t, src, []byte(m)) {
			panic("test batch full")
		}
	}
	return b
}

// accept hands o a batch and releases it, as the pipeline does.
func accept(o *Output, input string, t time.Time, msgs ...string) {
	b := batch(input, t, msgs...)
	o.Accept(b)
	b.Release()
}

// start makes and starts an output writing to a fresh directory.
func start(t testing.TB, cfg Config) *Output {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "arch"
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Location == nil {
		cfg.Location = zone
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Shutdown(context.Background()) })
	return o
}

func shutdown(t testing.TB, o *Output) {
	t.Helper()
	if err := o.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// listDir is the names of the files under dir, relative and sorted.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// lines reads a file's lines, decompressing .zst with the Go decoder and,
// if installed, checking that the zstd CLI reads the same.
func lines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".zst") {
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		raw, err := dec.DecodeAll(data, nil)
		if err != nil {
			t.Fatalf("%s: Go zstd decoder: %v", path, err)
		}
		if cli, err := exec.LookPath("zstd"); err == nil {
			out, err := exec.Command(cli, "-d", "-c", "-q", path).Output()
			if err != nil {
				t.Fatalf("%s: zstd -d: %v", path, err)
			}
			if !bytes.Equal(out, raw) {
				t.Fatalf("%s: zstd -d gives %q, the Go decoder %q", path, out, raw)
			}
		}
		data = raw
	}
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s: does not end in a newline: %q", path, data)
	}
	return strings.Split(string(data[:len(data)-1]), "\n")
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// msgs makes n messages "<prefix>-<i>" padded with x to size bytes.
func msgs(prefix string, n, size int) []string {
	out := make([]string, n)
	for i := range out {
		m := fmt.Sprintf("%s-%03d", prefix, i)
		out[i] = m + strings.Repeat("x", max(0, size-len(m)))
	}
	return out
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

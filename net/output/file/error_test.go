package file

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDisk writes half of what it is given and reports ENOSPC: a partial
// line reaches the file, as on a real full disk.
type fullDisk struct{ f *os.File }

func (d fullDisk) Write(p []byte) (int, error) {
	n, _ := d.f.Write(p[:len(p)/2])
	return n, syscall.ENOSPC
}

// TestWriteErrorRecovers breaks the current file under a batch: that batch's
// events are errors, the file is cut back to its last whole batch, and the
// next batch is written (same day, or the next day after a roll).
func TestWriteErrorRecovers(t *testing.T) {
	breaks := []struct {
		name    string
		breakIt func(s *stream)
		want    string // in LastError
	}{
		{"closed fd", func(s *stream) { s.f.Close() }, "file already closed"},
		{"disk full", func(s *stream) { s.cw.w = fullDisk{s.f} }, "no space left"},
	}
	for _, compress := range []bool{false, true} {
		for _, br := range breaks {
			for _, roll := range []bool{false, true} {
				name := map[bool]string{false: "plain", true: "zstd"}[compress] + "/" + br.name + map[bool]string{false: "", true: "/roll"}[roll]
				t.Run(name, func(t *testing.T) {
					dir := t.TempDir()
					o := start(t, Config{Dir: dir, Compress: compress})
					first, failed, after := msgs("first", 10, 200), msgs("failed", 20, 200), msgs("after", 10, 200)
					accept(o, "in", day1, first...)

					o.mu.Lock()
					br.breakIt(o.streams["in"])
					o.mu.Unlock()
					accept(o, "in", day1, failed...)
					st := o.Stats()
					if st.Errors != uint64(len(failed)) || st.EventsWritten != uint64(len(first)) || !strings.Contains(st.LastError, br.want) || !strings.Contains(st.LastError, "2026-03-01") {
						t.Fatalf("after the failed batch: %+v, want %d errors and an error naming the file and containing %q", st, len(failed), br.want)
					}

					day := day1
					if roll {
						day = day2
					}
					accept(o, "in", day, after...)
					shutdown(t, o)
					ext := ".log"
					if compress {
						ext = ".log.zst"
					}
					want := map[string][]string{"2026-03-01": append(append([]string{}, first...), after...)}
					if roll {
						want = map[string][]string{"2026-03-01": first, "2026-03-02": after}
					}
					for date, w := range want {
						if got := lines(t, filepath.Join(dir, "in", date+ext)); !equal(got, w) {
							t.Errorf("%s: %d lines %q..., want %d", date, len(got), got[:min(3, len(got))], len(w))
						}
					}
					st = o.Stats()
					if st.EventsWritten != uint64(len(first)+len(after)) || st.Errors != uint64(len(failed)) {
						t.Errorf("final stats %+v", st)
					}
				})
			}
		}
	}
}

// TestErrorLoggedOncePerMinute: a failing disk logs once, not once a batch.
func TestErrorLoggedOncePerMinute(t *testing.T) {
	var logged strings.Builder
	o := start(t, Config{Log: newTextLogger(&logged)})
	for range 5 {
		o.mu.Lock()
		o.fail(1, syscall.ENOSPC)
		o.mu.Unlock()
	}
	if n := strings.Count(logged.String(), "write failed"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logged.String())
	}
	if st := o.Stats(); st.Errors != 5 {
		t.Fatalf("Errors = %d, want 5", st.Errors)
	}
}

package logfile

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// diskFile is a log file whose disk can fill: while full it takes at most
// room more bytes of a write, then fails with ENOSPC as *os.File does.
type diskFile struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	full bool
	room int
}

func (f *diskFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.full {
		return f.buf.Write(p)
	}
	n := min(f.room, len(p))
	f.buf.Write(p[:n])
	f.room -= n
	if n == len(p) {
		return n, nil
	}
	return n, &fs.PathError{Op: "write", Path: "/data/log/ferry.log", Err: syscall.ENOSPC}
}

func (f *diskFile) setFull(full bool, room int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.full, f.room = full, room
}

func (f *diskFile) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// console is stderr: it records what it got, or fails with err.
type console struct {
	bytes.Buffer
	err   error
	calls int
}

func (c *console) Write(p []byte) (int, error) {
	c.calls++
	if c.err != nil {
		return 0, c.err
	}
	return c.Buffer.Write(p)
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newOutputAt(f *diskFile, con *console, c *clock) *Output {
	o := NewOutput(f, "/data/log/ferry.log", con)
	o.now = c.now
	return o
}

func record(i int) string { return fmt.Sprintf("time=x level=INFO msg=audit n=%d\n", i) }

func warnings(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "ferryd: log file ") {
			out = append(out, l)
		}
	}
	return out
}

// TestOutputDiskFull: records the file cannot take are counted and reach the
// console; the console is warned once a minute, not once a record; when the
// disk has room again, the file says how many records it lost.
func TestOutputDiskFull(t *testing.T) {
	f, con, c := &diskFile{}, &console{}, &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	o := newOutputAt(f, con, c)
	n := 0
	write := func(k int) {
		for range k {
			n++
			if m, err := o.Write([]byte(record(n))); err != nil || m != len(record(n)) {
				t.Fatalf("Write = %d, %v; want %d, nil", m, err, len(record(n)))
			}
		}
	}
	write(3)
	f.setFull(true, 0)
	write(5) // records 4-8 lost
	if w := warnings(con.String()); len(w) != 1 ||
		w[0] != "ferryd: log file /data/log/ferry.log cannot be written (no space left on device): 1 record lost from it since 2026-01-02T03:04:05Z; stderr still gets them" {
		t.Fatalf("warnings after 5 lost records = %q, want exactly one, naming the file, the error and 1 record", w)
	}
	c.advance(30 * time.Second)
	write(3) // 9-11
	if w := warnings(con.String()); len(w) != 1 {
		t.Fatalf("warnings within the minute = %q, want still one", w)
	}
	c.advance(31 * time.Second)
	write(1) // 12: a minute after the first warning
	w := warnings(con.String())
	if len(w) != 2 || !strings.Contains(w[1], ": 8 records lost from it since 2026-01-02T03:04:05Z") {
		t.Fatalf("warnings a minute later = %q, want a second one counting the 8 records since the first", w)
	}
	lostBytes := 0
	for i := 4; i <= 12; i++ {
		lostBytes += len(record(i))
	}
	st := o.Stats()
	if st.WriteErrors != 9 || st.LostBytes != uint64(lostBytes) || st.LastError != "no space left on device" ||
		!st.LastErrorAt.Equal(c.t) || st.Path != "/data/log/ferry.log" {
		t.Errorf("Stats = %+v, want 9 errors, %d bytes, ENOSPC now", st, lostBytes)
	}
	for i := 1; i <= 12; i++ {
		if !strings.Contains(con.String(), record(i)) {
			t.Errorf("console lacks record %d", i)
		}
	}
	f.setFull(false, 0)
	write(1) // 13
	file := f.String()
	for i := 4; i <= 12; i++ {
		if strings.Contains(file, record(i)) {
			t.Errorf("file has record %d, which it could not take", i)
		}
	}
	lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
	if len(lines) != 5 || !strings.Contains(lines[3], `level=WARN msg="log records lost: the log file could not be written" records=9 bytes=`) ||
		!strings.Contains(lines[3], `err="no space left on device"`) || lines[4]+"\n" != record(13) {
		t.Errorf("file after recovery:\n%s\nwant records 1-3, a note of the 9 lost, record 13", file)
	}
	if w := warnings(con.String()); len(w) != 3 || !strings.Contains(w[2], "is written again; 9 records") {
		t.Errorf("console after recovery: %q, want a third line saying the file is written again", w)
	}
	write(1)
	if got := o.Stats().WriteErrors; got != 9 || len(warnings(con.String())) != 3 {
		t.Errorf("after recovery: %d errors, %d console lines; want 9 and 3", got, len(warnings(con.String())))
	}
}

// TestOutputPartialWrite: a record cut off by a full disk does not swallow the
// next one into the same line.
func TestOutputPartialWrite(t *testing.T) {
	f, con, c := &diskFile{}, &console{}, &clock{t: time.Unix(0, 0)}
	o := newOutputAt(f, con, c)
	o.Write([]byte(record(1)))
	f.setFull(true, 10)
	o.Write([]byte(record(2)))
	f.setFull(false, 0)
	o.Write([]byte(record(3)))
	lines := strings.Split(f.String(), "\n")
	if len(lines) != 5 || lines[1] != record(2)[:10] || !strings.Contains(lines[2], "records=1") || lines[3]+"\n" != record(3) {
		t.Errorf("file = %q; want record 1, the fragment of 2 on its own line, the note, record 3", f.String())
	}
	if st := o.Stats(); st.LostBytes != uint64(len(record(2))-10) {
		t.Errorf("LostBytes = %d, want %d", st.LostBytes, len(record(2))-10)
	}
}

// TestOutputConsoleGone: a console whose reader went away (EPIPE) stops
// nothing: the file gets every record, and the console is no longer tried.
func TestOutputConsoleGone(t *testing.T) {
	f, con, c := &diskFile{}, &console{err: syscall.EPIPE}, &clock{t: time.Unix(0, 0)}
	o := newOutputAt(f, con, c)
	for i := 1; i <= 3; i++ {
		if _, err := o.Write([]byte(record(i))); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if want := record(1) + record(2) + record(3); f.String() != want {
		t.Errorf("file = %q, want all three records", f.String())
	}
	if st := o.Stats(); !st.ConsoleClosed || st.ConsoleErrors != 3 || st.WriteErrors != 0 {
		t.Errorf("Stats = %+v, want the console closed, 3 console errors, no file errors", st)
	}
	if con.calls != 1 {
		t.Errorf("console tried %d times, want once", con.calls)
	}
}

// TestOutputConsoleFlaky: another console error is counted, and the console
// is tried again.
func TestOutputConsoleFlaky(t *testing.T) {
	f, con, c := &diskFile{}, &console{err: syscall.EIO}, &clock{t: time.Unix(0, 0)}
	o := newOutputAt(f, con, c)
	o.Write([]byte(record(1)))
	con.err = nil
	o.Write([]byte(record(2)))
	if st := o.Stats(); st.ConsoleClosed || st.ConsoleErrors != 1 {
		t.Errorf("Stats = %+v, want one console error, console still open", st)
	}
	if con.String() != record(2) || f.String() != record(1)+record(2) {
		t.Errorf("console = %q, file = %q", con.String(), f.String())
	}
}

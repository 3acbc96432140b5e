// Package testutil holds the few helpers Ferry's tests share: a buffer a test can read
// while a server writes to it, and a screen reader that waits for expected output.
package testutil

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer that is safe to read while another goroutine writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Screen reads a session's output in order: each Expect starts after the previous match.
type Screen struct {
	T       testing.TB
	Out     *Buffer
	Timeout time.Duration // 0: 20 s
	mark    int
}

// Expect waits until the output after the last match contains want, and returns it up to want's end.
func (s *Screen) Expect(want string) string {
	s.T.Helper()
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		all := s.Out.String()
		if i := strings.Index(all[s.mark:], want); i >= 0 {
			seen := all[s.mark : s.mark+i+len(want)]
			s.mark += i + len(want)
			return seen
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("did not see %q; output after the last match:\n%q", want, all[s.mark:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Clock is a settable clock for code that takes a `now func() time.Time`; it is
// safe to read from many goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago, for a
// listener the test asks a server to open by number.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

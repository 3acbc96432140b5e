package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// repeated is n bytes of 'A' without a newline: one enormous line.
type repeated struct{ n int64 }

func (r *repeated) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = 'A'
	}
	r.n -= k
	return int(k), nil
}

// TestLongBatchLineRefusedWithFlatMemory: parallel batch sessions each send a 32 MiB
// line. Every one is refused with one short line naming the limit (the line is not
// echoed), the commands after it do not run, and the daemon's peak RSS barely moves
// (the old reader buffered each line whole: +1.3 GB for one 100 MB line).
func TestLongBatchLineRefusedWithFlatMemory(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	pid := d.cmd.Process.Pid
	before := peakRSS(t, pid)
	const sessions, lineBytes = 3, 32 << 20
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := d.dial("root", gossh.Password(changedPassword))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			sess, err := c.NewSession()
			if err != nil {
				errs <- err
				return
			}
			var out, errOut bytes.Buffer
			sess.Stdout, sess.Stderr = &out, &errOut
			sess.Stdin = io.MultiReader(&repeated{n: lineBytes}, strings.NewReader("\naccount.list\n"))
			if err := sess.Shell(); err != nil {
				errs <- err
				return
			}
			err = sess.Wait()
			var exit *gossh.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus() != 2 {
				errs <- errors.New("exit: " + errString(err) + " stderr: " + errOut.String())
				return
			}
			if got := errOut.String(); got != "line 1: line too long (limit 64 KiB)\n" {
				errs <- errors.New("stderr " + strconv.Quote(got[:min(len(got), 200)]))
				return
			}
			if out.Len() > 0 {
				errs <- errors.New("ran or echoed something: " + strconv.Quote(out.String()[:min(out.Len(), 200)]))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	grew := peakRSS(t, pid) - before
	t.Logf("peak RSS grew by %d KiB for %d parallel %d MiB lines", grew>>10, sessions, lineBytes>>20)
	if grew > 48<<20 {
		t.Fatalf("peak RSS grew by %d MiB; the lines were buffered", grew>>20)
	}
	// The audit record may land just after the exit status reached the client.
	waitUntil(t, func() bool {
		return strings.Count(d.logs.String(), "(line too long: over 65536 bytes; text not logged)") == sessions
	})
	// The daemon serves on afterwards.
	if out := d.mustRun(t, "", "account.list --json\n"); !strings.Contains(out, `"root"`) {
		t.Fatalf("after the long lines: %q", out)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

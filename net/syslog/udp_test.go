package syslog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/event/eventtest"
)

type sink = eventtest.Sink

func startUDP(t *testing.T, s event.Sink, readers int) *UDP {
	t.Helper()
	u, err := NewUDP(UDPConfig{Name: "udp1", Addr: "127.0.0.1:0", Readers: readers, Sink: s, Pool: event.NewPool(256, 1<<20),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Shutdown(context.Background()) })
	return u
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// util-linux logger, in both header formats, arrives raw and unchanged but for
// the trailing newline.
func TestUDPReceivesLogger(t *testing.T) {
	s := &sink{}
	u := startUDP(t, s, 2)
	_, port, _ := net.SplitHostPort(u.Addr())
	for _, format := range []string{"--rfc3164", "--rfc5424"} {
		out, err := exec.Command("logger", "--udp", "--server", "127.0.0.1", "--port", port, format, "-t", "ferrytest", "hello "+format).CombinedOutput()
		if err != nil {
			t.Fatalf("logger %s: %v\n%s", format, err, out)
		}
	}
	waitFor(t, "two messages", func() bool { return s.Count() == 2 })
	// Two readers: the order between them is the kernel's.
	bsd, ietf := s.Messages()[0], s.Messages()[1]
	if strings.HasPrefix(bsd, "<13>1 ") {
		bsd, ietf = ietf, bsd
	}
	if !strings.HasPrefix(bsd, "<13>") || !strings.HasSuffix(bsd, "ferrytest: hello --rfc3164") {
		t.Errorf("rfc3164 message = %q", bsd)
	}
	if !strings.HasPrefix(ietf, "<13>1 ") || !strings.HasSuffix(ietf, "hello --rfc5424") {
		t.Errorf("rfc5424 message = %q", ietf)
	}
	if s.Input() != "udp1" || !s.Sources()[0].Addr().IsLoopback() || s.Sources()[0].Port() == 0 {
		t.Errorf("input %q, source %v", s.Input(), s.Sources()[0])
	}
	st := u.Stats()
	if st.Received != 2 || st.Readers != 2 || st.RcvBuf <= 0 || st.QueueDrops != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// Many datagrams from several senders all arrive; empty ones are counted as
// malformed and the rest go on.
func TestUDPManyAndMalformed(t *testing.T) {
	s := &sink{}
	u := startUDP(t, s, 2)
	const senders, each = 4, 2500
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", u.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range each {
				c.Write([]byte("<14>sender " + strconv.Itoa(i) + " seq " + strconv.Itoa(j) + "\n"))
				if j%200 == 0 {
					time.Sleep(time.Millisecond) // stay under the loopback's burst
				}
			}
		}()
	}
	c, _ := net.Dial("udp", u.Addr())
	c.Write([]byte("\n"))
	c.Close()
	wg.Wait()
	waitFor(t, "every datagram", func() bool {
		return u.Stats().Received+u.Stats().KernelDrops >= senders*each && u.Stats().Malformed == 1
	})
	st := u.Stats()
	if st.KernelDrops != 0 || s.Count() != senders*each {
		t.Errorf("received %d of %d (kernel drops %d)", s.Count(), senders*each, st.KernelDrops)
	}
	for _, m := range s.Messages()[:10] {
		if strings.HasSuffix(m, "\n") {
			t.Errorf("trailing newline kept: %q", m)
		}
	}
}

// A sink that refuses makes queue drops, counted by event; nothing blocks.
func TestUDPQueueDropsCounted(t *testing.T) {
	s := &sink{Refuse: true}
	u := startUDP(t, s, 1)
	c, _ := net.Dial("udp", u.Addr())
	for i := range 10 {
		fmt.Fprintf(c, "<13>refused %d", i)
	}
	c.Close()
	waitFor(t, "ten queue drops", func() bool { return u.Stats().QueueDrops == 10 })
	if st := u.Stats(); st.Received != 10 {
		t.Errorf("stats = %+v", st)
	}
}

// A port held by a socket that does not share it fails the start cleanly.
func TestUDPPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	u, _ := NewUDP(UDPConfig{Name: "x", Addr: pc.LocalAddr().String(), Sink: &sink{}, Pool: event.NewPool(0, 0)})
	err = u.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a taken port = %v", err)
	}
	if err := u.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

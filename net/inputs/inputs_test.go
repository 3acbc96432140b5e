package inputs

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/internal/testutil"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

func newManager(t *testing.T, dir string) (*Manager, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Records: st.Inputs(), Sink: pipeline.New(16, nil), Pool: event.NewPool(0, 0), Status: status.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()); st.Close() })
	return m, st
}

func TestOpenReplaceCloseAndBoot(t *testing.T) {
	dir := t.TempDir()
	m, st := newManager(t, dir)
	ctx := context.Background()
	p1, p2 := testutil.FreePort(t), testutil.FreePort(t)
	if _, _, err := m.Open(ctx, Spec{Name: "a", Kind: "syslog", Proto: "udp", Bind: "127.0.0.1", Port: p1}); err != nil {
		t.Fatal(err)
	}
	// Another input on the same port and protocol is refused: SO_REUSEPORT would split its traffic.
	if _, _, err := m.Open(ctx, Spec{Name: "b", Kind: "syslog", Proto: "udp", Bind: "127.0.0.1", Port: p1}); err == nil || !strings.Contains(err.Error(), `already used by input "a"`) {
		t.Errorf("second input on the port = %v", err)
	}
	// The same port over TCP is another socket.
	if _, _, err := m.Open(ctx, Spec{Name: "b", Kind: "syslog", Proto: "tcp", Bind: "127.0.0.1", Port: p1}); err != nil {
		t.Fatal(err)
	}
	// Replacing "a" with another port starts the new one first.
	now, replaced, err := m.Open(ctx, Spec{Name: "a", Kind: "syslog", Proto: "udp", Bind: "127.0.0.1", Port: p2})
	if err != nil || replaced == nil || !strings.HasSuffix(replaced.Address, ":"+itoa(p1)) || now.State != "listening" {
		t.Fatalf("replace = %+v, %+v, %v", now, replaced, err)
	}
	if c, err := net.ListenPacket("udp", "127.0.0.1:"+itoa(p1)); err != nil {
		t.Errorf("the old port is still held: %v", err)
	} else {
		c.Close()
	}
	// A failed open changes nothing.
	if _, _, err := m.Open(ctx, Spec{Name: "c", Kind: "syslog", Proto: "tls", Bind: "127.0.0.1", Port: p2}); err == nil {
		t.Error("tls without a keystore registry opened")
	}
	if recs, _, _ := st.Inputs().List(); len(recs) != 2 {
		t.Errorf("records = %+v", recs)
	}
	if _, err := m.Close(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if list := m.List(); len(list) != 1 || list[0].Name != "a" {
		t.Fatalf("list = %+v", list)
	}
	m.Shutdown(ctx)
	st.Close()

	// At boot: "a" comes back; with its port taken it is failed, listed, and the daemon runs on.
	hold, err := net.ListenPacket("udp", "127.0.0.1:"+itoa(p2))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	m2, _ := newManager(t, dir)
	list := m2.List()
	if len(list) != 1 || !strings.Contains(list[0].State, "failed: 127.0.0.1:"+itoa(p2)+": address already in use") {
		t.Fatalf("after boot: %+v", list)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

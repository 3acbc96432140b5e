package syslog

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/text/encoding/korean"

	"github.com/ferry-appliance/ferry/net/event"
)

// A Korean firewall's EUC-KR text, sent by logger, arrives as UTF-8; invalid
// bytes on a UTF-8 listener are replaced and counted, over UDP and TCP.
func TestReceiversConvertCharsets(t *testing.T) {
	text := "방화벽 정책 변경: 허용"
	euc, err := korean.EUCKR.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := event.NewPool(256, 1<<20)
	logger := func(port string, args ...string) {
		t.Helper()
		cmd := exec.Command("logger", append([]string{"--server", "127.0.0.1", "--port", port, "--rfc3164", "-t", "fw"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", args, err, out)
		}
	}

	// UDP, EUC-KR.
	us := &sink{}
	u, err := NewUDP(UDPConfig{Name: "kr", Addr: "127.0.0.1:0", Readers: 1, Charset: "EUC-KR", Sink: us, Pool: pool, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Shutdown(context.Background())
	_, uport, _ := net.SplitHostPort(u.Addr())
	logger(uport, "--udp", euc)
	logger(uport, "--udp", "ascii stays as is")
	waitFor(t, "two UDP messages", func() bool { return us.Count() == 2 })
	if !strings.HasSuffix(us.Messages()[0], "fw: "+text) || !strings.HasSuffix(us.Messages()[1], "fw: ascii stays as is") {
		t.Errorf("EUC-KR over UDP arrived as %q, %q", us.Messages()[0], us.Messages()[1])
	}
	if st := u.Stats(); st.Invalid != 0 || st.Received != 2 {
		t.Errorf("UDP stats = %+v", st)
	}

	// TCP, UTF-8 (the default), with two invalid bytes and one valid message.
	ts := &sink{}
	r := startTCP(t, ts, TCPConfig{})
	_, tport, _ := net.SplitHostPort(r.Addr())
	logger(tport, "--tcp", "bad \xff\xfe bytes")
	logger(tport, "--tcp", "valid "+text)
	waitFor(t, "two TCP messages", func() bool { return ts.Count() == 2 })
	if !strings.HasSuffix(ts.Messages()[0], "fw: bad \uFFFD\uFFFD bytes") || !strings.HasSuffix(ts.Messages()[1], "fw: valid "+text) {
		t.Errorf("UTF-8 over TCP arrived as %q, %q", ts.Messages()[0], ts.Messages()[1])
	}
	if st := r.Stats(); st.Invalid != 2 || st.Received != 2 {
		t.Errorf("TCP stats = %+v", st)
	}

	if _, err := NewUDP(UDPConfig{Name: "x", Addr: "127.0.0.1:0", Charset: "EBCDIC", Sink: us, Pool: pool}); err == nil {
		t.Error("an unknown charset was accepted")
	}
}

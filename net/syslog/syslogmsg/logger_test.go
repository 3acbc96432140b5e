package syslogmsg

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestLoggerInterop sends real messages with util-linux logger to sockets on
// the loopback and parses what arrives, so the golden samples stay honest
// about what a real sender puts on the wire. It skips without logger.
func TestLoggerInterop(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Skip("util-linux logger not installed")
	}
	for _, tc := range []struct {
		name    string
		args    []string
		format  Format
		octet   bool
		msgID   string
		withPID bool
	}{
		{"udp rfc5424", []string{"-d", "--rfc5424", "--msgid", "M1"}, RFC5424, false, "M1", false},
		{"udp rfc3164", []string{"-d", "--rfc3164", "-i"}, RFC3164, false, "", true},
		{"tcp rfc5424 octet-count", []string{"-T", "--rfc5424", "--octet-count", "-i"}, RFC5424, true, "", true},
		{"tcp rfc3164", []string{"-T", "--rfc3164"}, RFC3164, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tcp := tc.args[0] == "-T"
			raw, octet := receive(t, tcp, append(tc.args, "-t", "ferrytest", "-p", "local3.warning", "hello interop"))
			if tcp && octet != tc.octet {
				t.Errorf("octet-counted = %v, want %v", octet, tc.octet)
			}
			h := Parse(raw)
			if h.Format != tc.format || h.Facility != 19 || h.Severity != 4 || string(h.AppName) != "ferrytest" ||
				string(h.MsgID) != tc.msgID || (h.ProcID != nil) != tc.withPID || string(h.Message) != "hello interop" || h.Timestamp == nil {
				t.Errorf("Parse(%q) = %+v", raw, h)
			}
		})
	}
}

// receive runs logger with args against a fresh loopback socket and returns
// the one message it sent, and whether it was octet-counted.
func receive(t *testing.T, tcp bool, args []string) ([]byte, bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	if !tcp {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		run(t, pc.LocalAddr(), args)
		buf := make([]byte, 64<<10)
		_ = pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		return TrimDatagram(buf[:n]), false
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() { defer close(done); run(t, ln.Addr(), args) }()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(deadline)
	fr, err := NewFramer(c, 0).Next()
	<-done
	if err != nil || fr.Err != nil {
		t.Fatalf("framing logger's TCP stream: %v %v", err, fr.Err)
	}
	return append([]byte(nil), fr.Msg...), fr.Octet
}

func run(t *testing.T, addr net.Addr, args []string) {
	_, port, _ := net.SplitHostPort(addr.String())
	if p, _ := strconv.Atoi(port); p == 0 {
		t.Errorf("no port in %v", addr)
		return
	}
	cmd := exec.Command("logger", append([]string{"-n", "127.0.0.1", "-P", port}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("logger %v: %v: %s", args, err, out)
	}
}

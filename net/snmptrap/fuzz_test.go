package snmptrap

import (
	"bytes"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecode/seed-* from what net-snmp sends")

const corpusDir = "testdata/fuzz/FuzzDecode"

// seeds are the real datagrams the fuzz corpus starts from: what Debian's
// snmptrap and snmpinform send (captured by -update-corpus) and what gosnmp
// marshals, and what each must decode to.
var seeds = []struct {
	name string
	tool string   // net-snmp tool, or "" for a gosnmp packet
	args []string // for the tool: options; the address is added after the first
	pkt  func() *gosnmp.SnmpPacket
	out  outcome
}{
	{name: "seed-v2c-snmptrap", tool: "snmptrap", args: trapArgs(v2cTrap, "", "ADDR"), out: outTrap},
	{name: "seed-v1-snmptrap", tool: "snmptrap", args: trapArgs(v1Trap, "", "ADDR"), out: outTrap},
	{name: "seed-v2c-snmpinform", tool: "snmpinform", args: append([]string{"-t", "1", "-r", "0"}, trapArgs(v2cTrap, "", "ADDR")...), out: outInform},
	{name: "seed-v2c-types-snmptrap", tool: "snmptrap", args: []string{"-v", "2c", "-c", "public", "ADDR", "42", "1.3.6.1.6.3.1.1.5.3",
		"1.3.6.1.2.1.2.2.1.1.3", "i", "3", "1.3.6.1.2.1.2.2.1.10.3", "c", "4294967295", "1.3.6.1.2.1.2.2.1.5.3", "u", "1000000000",
		"1.3.6.1.2.1.1.3.0", "t", "99", "1.3.6.1.2.1.4.20.1.1", "a", "192.0.2.1", "1.3.6.1.2.1.1.2.0", "o", "1.3.6.1.4.1.9.1.516",
		"1.3.6.1.2.1.2.2.1.6.3", "x", "001b213c4d5e", "1.3.6.1.2.1.31.1.1.1.6.3", "C", "18446744073709551615",
		"1.3.6.1.4.1.9.9.2", "s", `a="b c"`, "1.3.6.1.4.1.9.9.3", "n", ""}, out: outTrap},
	{name: "seed-v3-snmptrap", tool: "snmptrap", args: []string{"-v", "3", "-u", "ferry", "-l", "noAuthNoPriv", "-e", "0x8000000001020304",
		"ADDR", "", "1.3.6.1.4.1.8072.2.3.0.1"}, out: outMalformed},
	{name: "seed-v2c-gosnmp-opaque", pkt: func() *gosnmp.SnmpPacket {
		return v2cPacket(gosnmp.SNMPv2Trap, upTime, trapOID,
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.2021.10.1.6.1", Type: gosnmp.OpaqueFloat, Value: float32(0.25)},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.2021.10.1.6.2", Type: gosnmp.OpaqueDouble, Value: 1e300},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.2021.10.1.6.3", Type: gosnmp.Opaque, Value: []byte{1, 2, 3}},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.2021.10.1.6.4", Type: gosnmp.NoSuchInstance})
	}, out: outTrap},
}

// captureSeed returns what tool sends for args, caught by a plain socket.
func captureSeed(t *testing.T, tool string, args []string) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "ADDR" {
			args[i] = pc.LocalAddr().String()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		netsnmp(t, tool, args...) // snmpinform waits for a Response that never comes, then exits
	}()
	defer func() { <-done }()
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, datagramMax)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("%s sent nothing: %v", tool, err)
	}
	return buf[:n]
}

func writeCorpusFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCorpusFile(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run TestCorpusSeeds -update-corpus)", err)
	}
	lit, ok := strings.CutPrefix(string(text), "go test fuzz v1\n[]byte(")
	lit, ok2 := strings.CutSuffix(strings.TrimSpace(lit), ")")
	data, err := strconv.Unquote(lit)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s: not a fuzz corpus file of one []byte: %v", name, err)
	}
	return []byte(data)
}

// The committed seeds are what net-snmp sends, and decode as they should.
func TestCorpusSeeds(t *testing.T) {
	for _, s := range seeds {
		t.Run(s.name, func(t *testing.T) {
			if *updateCorpus {
				var data []byte
				if s.tool != "" {
					data = captureSeed(t, s.tool, s.args)
				} else {
					data = marshal(t, s.pkt())
				}
				writeCorpusFile(t, s.name, data)
			}
			data := readCorpusFile(t, s.name)
			line, out := decodeString(t, "public", data)
			if out != s.out {
				t.Fatalf("outcome %d, want %d (line %q)", out, s.out, line)
			}
			t.Logf("%s", line)
			if s.out == outInform {
				if _, err := informResponse(data); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// Every snmptrap value type, as net-snmp encodes them.
	line, _ := decodeString(t, "public", readCorpusFile(t, "seed-v2c-types-snmptrap"))
	want := " trap=1.3.6.1.6.3.1.1.5.3 version=v2c uptime=42 1.3.6.1.2.1.2.2.1.1.3=int:3 1.3.6.1.2.1.2.2.1.10.3=counter32:4294967295 " +
		"1.3.6.1.2.1.2.2.1.5.3=gauge32:1000000000 1.3.6.1.2.1.1.3.0=timeticks:99 1.3.6.1.2.1.4.20.1.1=ip:192.0.2.1 " +
		"1.3.6.1.2.1.1.2.0=oid:1.3.6.1.4.1.9.1.516 1.3.6.1.2.1.2.2.1.6.3=hex:0x001b213c4d5e " +
		"1.3.6.1.2.1.31.1.1.1.6.3=counter64:18446744073709551615 1.3.6.1.4.1.9.9.2=str:\"a=\\\"b c\\\"\" 1.3.6.1.4.1.9.9.3=null:"
	if !strings.HasSuffix(line, want) {
		t.Errorf("line %q\nwant suffix %q", line, want)
	}
}

// FuzzDecode: whatever arrives, decode does not panic (gosnmp neither),
// leaves the datagram as it was, and an accepted trap's line is one line of
// printable UTF-8 within MaxLine that starts as RFC 5424; an inform's
// Response reads back as the Response to it.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		if s.pkt != nil {
			f.Add(marshal(f, s.pkt()))
		}
	}
	f.Add(marshal(f, v2cPacket(gosnmp.InformRequest, upTime, trapOID, ifIndex)))
	f.Add(marshal(f, &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
		Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: 6, SpecificTrap: 1}, Variables: []gosnmp.SnmpPDU{ifIndex}}))
	d := newDecoder("public")
	src := netip.MustParseAddr("2001:db8::7")
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		line, out, err := d.decode(nil, msg, src, testNow)
		if out == outPanic {
			t.Fatalf("gosnmp panicked: %v\n%s", err, err.(*panicError).stack)
		}
		if !bytes.Equal(msg, orig) {
			t.Fatal("decode changed the datagram")
		}
		if out != outTrap && out != outInform {
			if len(line) != 0 {
				t.Fatalf("outcome %d with a line %q", out, line)
			}
			return
		}
		if len(line) > MaxLine {
			t.Fatalf("line of %d bytes", len(line))
		}
		if !utf8.Valid(line) {
			t.Fatalf("line not UTF-8: %q", line)
		}
		for _, r := range string(line) {
			if !unicode.IsPrint(r) { // no newline, no control, no other white space
				t.Fatalf("line holds %U: %q", r, line)
			}
		}
		if !bytes.HasPrefix(line, []byte("<133>1 2025-03-04T04:06:07.891Z 2001:db8::7 snmptrap - - - trap=")) {
			t.Fatalf("line starts %q", line)
		}
		if c := []byte("public"); bytes.Count(line, c) > bytes.Count(msg, c)-1 { // one is the header's
			t.Fatalf("the community is in the line: %q", line)
		}
		if out == outInform {
			resp, err := informResponse(msg)
			if err != nil {
				t.Fatalf("inform without a Response: %v", err)
			}
			req, err1 := (&gosnmp.GoSNMP{}).UnmarshalTrap(msg, false)
			pkt, err2 := (&gosnmp.GoSNMP{}).UnmarshalTrap(resp, false)
			if err1 != nil || err2 != nil || pkt.PDUType != gosnmp.GetResponse || pkt.RequestID != req.RequestID ||
				pkt.Community != "public" || len(pkt.Variables) != len(req.Variables) {
				t.Fatalf("Response %x does not answer the inform: %v %v", resp, err1, err2)
			}
		}
	})
}

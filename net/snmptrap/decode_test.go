package snmptrap

import (
	"bytes"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

func TestAppendValue(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  gosnmp.Asn1BER
		val  any
		want string
	}{
		{"integer", gosnmp.Integer, 42, "int:42"},
		{"negative integer", gosnmp.Integer, -2147483648, "int:-2147483648"},
		{"uinteger32", gosnmp.Uinteger32, uint32(4294967295), "uint32:4294967295"},
		{"counter32", gosnmp.Counter32, uint(4294967295), "counter32:4294967295"},
		{"gauge32", gosnmp.Gauge32, uint(1000000000), "gauge32:1000000000"},
		{"timeticks", gosnmp.TimeTicks, uint32(8640000), "timeticks:8640000"},
		{"counter64", gosnmp.Counter64, uint64(math.MaxUint64), "counter64:18446744073709551615"},
		{"text", gosnmp.OctetString, []byte("eth0"), "str:eth0"},
		{"text with a space", gosnmp.OctetString, []byte("eth0 link down"), `str:"eth0 link down"`},
		{"text with =", gosnmp.OctetString, []byte("a=b"), `str:"a=b"`},
		{"text with a quote", gosnmp.OctetString, []byte(`say "hi"`), `str:"say \"hi\""`},
		{"text starting with a quote", gosnmp.OctetString, []byte(`"x`), `str:"\"x"`},
		{"empty text", gosnmp.OctetString, []byte{}, `str:""`},
		{"UTF-8 text", gosnmp.OctetString, []byte("Zürich-Süd"), "str:Zürich-Süd"},
		{"backslash is text", gosnmp.OctetString, []byte(`C:\dir`), `str:C:\dir`},
		{"newline is binary", gosnmp.OctetString, []byte("a\nb"), "hex:0x610a62"},
		{"tab is binary", gosnmp.OctetString, []byte("a\tb"), "hex:0x610962"},
		{"MAC address", gosnmp.OctetString, []byte{0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e}, "hex:0x001b213c4d5e"},
		{"invalid UTF-8", gosnmp.OctetString, []byte{'a', 0xff, 'b'}, "hex:0x61ff62"},
		{"no-break space is binary", gosnmp.OctetString, []byte("a\u00a0b"), "hex:0x61c2a062"},
		{"line separator is binary", gosnmp.OctetString, []byte("a\u2028b"), "hex:0x61e280a862"},
		{"OID", gosnmp.ObjectIdentifier, ".1.3.6.1.4.1.9.1.1", "oid:1.3.6.1.4.1.9.1.1"},
		{"IPv4", gosnmp.IPAddress, "192.0.2.7", "ip:192.0.2.7"},
		{"IPv6", gosnmp.IPAddress, "2001:db8::1", "ip:2001:db8::1"},
		{"empty IP address", gosnmp.IPAddress, nil, "ip:"},
		{"null", gosnmp.Null, nil, "null:"},
		{"opaque", gosnmp.Opaque, []byte{0xde, 0xad}, "opaque:0xdead"},
		{"opaque float", gosnmp.OpaqueFloat, float32(1.5), "float:1.5"},
		{"opaque double", gosnmp.OpaqueDouble, 0.1, "double:0.1"},
		{"NaN", gosnmp.OpaqueDouble, math.NaN(), "double:NaN"},
		{"noSuchObject", gosnmp.NoSuchObject, nil, "nosuchobject:"},
		{"noSuchInstance", gosnmp.NoSuchInstance, nil, "nosuchinstance:"},
		{"endOfMibView", gosnmp.EndOfMibView, nil, "endofmibview:"},
		{"unknown type", gosnmp.UnknownType, nil, "unknown:"},
		{"bit string (gosnmp leaves it unknown)", gosnmp.BitString, nil, "unknown:"},
		{"unexpected Go value", gosnmp.Integer, struct{ A string }{"x y"}, `int:"{x y}"`},
		{"unprintable string value", gosnmp.IPAddress, "a\x00b", `ip:"a\x00b"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := string(appendValue([]byte("x="), c.typ, c.val))
			if got != "x="+c.want {
				t.Errorf("appendValue(%v, %#v) = %q, want %q", c.typ, c.val, got, "x="+c.want)
			}
		})
	}
}

func TestValidOID(t *testing.T) {
	for s, want := range map[string]bool{
		"1.3.6.1": true, "0": true, "1.3.6.1.4.1.8072.2.3.0.17": true,
		"": false, ".1.3": false, "1.3.": false, "1..3": false, "1.3a": false, "1 3": false, "-1": false,
	} {
		if validOID(s) != want {
			t.Errorf("validOID(%q) = %v", s, !want)
		}
	}
}

func marshal(t testing.TB, p *gosnmp.SnmpPacket) []byte {
	t.Helper()
	if p.Community == "" {
		p.Community = "public"
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v2cPacket(pdu gosnmp.PDUType, vars ...gosnmp.SnmpPDU) *gosnmp.SnmpPacket {
	return &gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: pdu, RequestID: 4711, Variables: vars}
}

var (
	upTime  = gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(123456)}
	trapOID = gosnmp.SnmpPDU{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"}
	ifIndex = gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.1.3", Type: gosnmp.Integer, Value: 3}
)

var testNow = time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("CET", 3600))

func decodeString(t *testing.T, community string, msg []byte) (string, outcome) {
	t.Helper()
	line, out, err := newDecoder(community).decode(nil, msg, netip.MustParseAddr("::ffff:192.0.2.9"), testNow)
	if out == outPanic {
		t.Fatalf("decode panicked: %v", err)
	}
	return string(line), out
}

func TestDecode(t *testing.T) {
	const head = "<133>1 2025-03-04T04:06:07.891Z 192.0.2.9 snmptrap - - - "
	for _, c := range []struct {
		name string
		msg  *gosnmp.SnmpPacket
		out  outcome
		want string // after head
	}{
		{"v2c linkDown", v2cPacket(gosnmp.SNMPv2Trap, upTime, trapOID, ifIndex), outTrap,
			"trap=1.3.6.1.6.3.1.1.5.3 version=v2c uptime=123456 1.3.6.1.2.1.2.2.1.1.3=int:3"},
		{"v2c inform", v2cPacket(gosnmp.InformRequest, upTime, trapOID), outInform,
			"trap=1.3.6.1.6.3.1.1.5.3 version=v2c pdu=inform uptime=123456"},
		{"v2c without sysUpTime", v2cPacket(gosnmp.SNMPv2Trap, trapOID, ifIndex), outTrap,
			"trap=1.3.6.1.6.3.1.1.5.3 version=v2c 1.3.6.1.2.1.2.2.1.1.3=int:3"},
		{"v2c without snmpTrapOID", v2cPacket(gosnmp.SNMPv2Trap, upTime, ifIndex), outTrap,
			"trap=- version=v2c uptime=123456 1.3.6.1.2.1.2.2.1.1.3=int:3"},
		{"v2c snmpTrapOID of the wrong type stays a varbind", v2cPacket(gosnmp.SNMPv2Trap,
			gosnmp.SnmpPDU{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.Integer, Value: 5}), outTrap,
			"trap=- version=v2c 1.3.6.1.6.3.1.1.4.1.0=int:5"},
		{"v2c second sysUpTime is kept", v2cPacket(gosnmp.SNMPv2Trap, upTime, trapOID, upTime), outTrap,
			"trap=1.3.6.1.6.3.1.1.5.3 version=v2c uptime=123456 1.3.6.1.2.1.1.3.0=timeticks:123456"},
		{"v2c no varbinds", v2cPacket(gosnmp.SNMPv2Trap), outTrap, "trap=- version=v2c"},
		{"v2c types", v2cPacket(gosnmp.SNMPv2Trap, trapOID,
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.4.20.1.1.10.0.0.1", Type: gosnmp.IPAddress, Value: "10.0.0.1"},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.31.1.1.1.6.1", Type: gosnmp.Counter64, Value: uint64(1) << 40},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.6.1", Type: gosnmp.OctetString, Value: []byte{0, 0x1b, 0x21, 1, 2, 3}},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.9.1.516"},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.10.1", Type: gosnmp.Counter32, Value: uint32(99)},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.5.1", Type: gosnmp.Gauge32, Value: uint32(1000000000)},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.1", Type: gosnmp.Null},
			gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.2", Type: gosnmp.OctetString, Value: "port=7 \"up\""}), outTrap,
			"trap=1.3.6.1.6.3.1.1.5.3 version=v2c 1.3.6.1.2.1.4.20.1.1.10.0.0.1=ip:10.0.0.1 1.3.6.1.2.1.31.1.1.1.6.1=counter64:1099511627776 " +
				"1.3.6.1.2.1.2.2.1.6.1=hex:0x001b21010203 1.3.6.1.2.1.1.2.0=oid:1.3.6.1.4.1.9.1.516 1.3.6.1.2.1.2.2.1.10.1=counter32:99 " +
				`1.3.6.1.2.1.2.2.1.5.1=gauge32:1000000000 1.3.6.1.4.1.9.9.1=null: 1.3.6.1.4.1.9.9.2=str:"port=7 \"up\""`},
		{"v1 coldStart", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9.1.1", AgentAddress: "192.0.2.1", GenericTrap: 0, Timestamp: 55}}, outTrap,
			"trap=1.3.6.1.6.3.1.1.5.1 version=v1 enterprise=1.3.6.1.4.1.9.1.1 agent=192.0.2.1 uptime=55"},
		{"v1 authenticationFailure", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: 4}}, outTrap,
			"trap=1.3.6.1.6.3.1.1.5.5 version=v1 enterprise=1.3.6.1.4.1.9 agent=192.0.2.1 uptime=0"},
		{"v1 egpNeighborLoss", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: 5}}, outTrap,
			"trap=1.3.6.1.6.3.1.1.5.6 version=v1 enterprise=1.3.6.1.4.1.9 agent=192.0.2.1 uptime=0"},
		{"v1 enterprise-specific", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.8072.2.3", AgentAddress: "192.0.2.1", GenericTrap: 6, SpecificTrap: 17, Timestamp: 4242},
			Variables: []gosnmp.SnmpPDU{ifIndex}}, outTrap,
			"trap=1.3.6.1.4.1.8072.2.3.0.17 version=v1 enterprise=1.3.6.1.4.1.8072.2.3 agent=192.0.2.1 uptime=4242 1.3.6.1.2.1.2.2.1.1.3=int:3"},
		{"v1 generic-trap 7", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: 7}}, outMalformed, ""},
		{"v1 negative generic-trap", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: -1}}, outMalformed, ""},
		{"v1 negative specific-trap", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1", GenericTrap: 6, SpecificTrap: -3}}, outMalformed, ""},
		{"v2c GetRequest", v2cPacket(gosnmp.GetRequest, upTime), outMalformed, ""},
		{"v2c Response", v2cPacket(gosnmp.GetResponse, upTime), outMalformed, ""},
		{"v1 PDU in v2c", &gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{
			Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "192.0.2.1"}}, outMalformed, ""},
		{"v2 PDU in v1", &gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.SNMPv2Trap, Variables: []gosnmp.SnmpPDU{trapOID}}, outMalformed, ""},
		{"wrong community", &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "private", PDUType: gosnmp.SNMPv2Trap}, outBadCommunity, ""},
		{"community prefix", &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "publi", PDUType: gosnmp.SNMPv2Trap}, outBadCommunity, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := marshal(t, c.msg)
			line, out := decodeString(t, "public", msg)
			if out != c.out {
				t.Fatalf("outcome %d, want %d (line %q)", out, c.out, line)
			}
			if c.out != outTrap && c.out != outInform {
				if line != "" {
					t.Errorf("line %q for a dropped datagram", line)
				}
				return
			}
			if line != head+c.want {
				t.Errorf("line\n %q\nwant\n %q", line, head+c.want)
			}
			if strings.Contains(line, "public") {
				t.Errorf("the community is in the event")
			}
		})
	}
}

// gosnmp on its own would take a v3 engine-discovery probe (a GetRequest
// with no user) as a message; the header check refuses every v3 datagram
// before gosnmp sees it.
func TestDecodeRefusesV3(t *testing.T) {
	zero := el(tagInteger, []byte{0})
	empty := el(tagOctetString)
	probe := el(tagSequence,
		el(tagInteger, []byte{3}),
		el(tagSequence, el(tagInteger, []byte{0x4a, 0x69}), el(tagInteger, []byte{0, 0xff, 0xe3}),
			el(tagOctetString, []byte{0x04}), el(tagInteger, []byte{3})), // msgGlobalData: reportable, USM
		el(tagOctetString, el(tagSequence, empty, zero, zero, empty, empty, empty)), // no engine, no user
		el(tagSequence, empty, empty, el(byte(gosnmp.GetRequest), el(tagInteger, []byte{0x37}), zero, zero, el(tagSequence))))
	pkt, err := (&gosnmp.GoSNMP{}).UnmarshalTrap(probe, false)
	if err != nil || pkt.Version != gosnmp.Version3 || pkt.PDUType != gosnmp.GetRequest {
		t.Logf("gosnmp no longer takes the probe (err %v): the header check is still wanted", err)
	}
	if line, out := decodeString(t, "public", probe); out != outMalformed {
		t.Errorf("v3 probe: outcome %d, line %q", out, line)
	}
	if _, err := parseHeader(probe); err == nil || err.Error() != "SNMPv3 is not supported" {
		t.Errorf("parseHeader(v3) = %v", err)
	}
}

// One more byte, one fewer, or a length that lies: all malformed.
func TestDecodeTruncatedAndPadded(t *testing.T) {
	msg := marshal(t, v2cPacket(gosnmp.SNMPv2Trap, upTime, trapOID, ifIndex))
	for i := range len(msg) {
		if line, out := decodeString(t, "public", msg[:i]); out != outMalformed {
			t.Errorf("first %d of %d bytes: outcome %d, line %q", i, len(msg), out, line)
		}
	}
	if _, out := decodeString(t, "public", append(bytes.Clone(msg), 0)); out != outMalformed {
		t.Errorf("a byte after the message: outcome %d", out)
	}
	if _, out := decodeString(t, "public", msg); out != outTrap {
		t.Errorf("the whole message: outcome %d", out)
	}
}

// A trap larger than MaxLine is cut there, at a character boundary.
func TestDecodeCapsLine(t *testing.T) {
	long := []gosnmp.SnmpPDU{trapOID}
	for i := range 40 {
		// Two-byte characters, so a cut can fall inside one.
		long = append(long, gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.9." + string(rune('0'+i%10)), Type: gosnmp.OctetString,
			Value: strings.Repeat("ü", 150+i)})
	}
	line, out := decodeString(t, "public", marshal(t, v2cPacket(gosnmp.SNMPv2Trap, long...)))
	if out != outTrap {
		t.Fatalf("outcome %d", out)
	}
	if len(line) > MaxLine || len(line) < MaxLine-1 || !utf8.ValidString(line) {
		t.Errorf("line of %d bytes (valid UTF-8 %v), want %d", len(line), utf8.ValidString(line), MaxLine)
	}
	if !strings.HasPrefix(line, "<133>1 ") || !strings.Contains(line, " 1.3.6.1.4.1.9.9.9.0=str:üüü") {
		t.Errorf("line starts %q", line[:200])
	}

	// A datagram-sized binary string: its hex is twice as long, cut too.
	big := gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.9", Type: gosnmp.OctetString, Value: bytes.Repeat([]byte{0xff}, 60000)}
	line, out = decodeString(t, "public", marshal(t, v2cPacket(gosnmp.SNMPv2Trap, trapOID, big)))
	if out != outTrap || len(line) != MaxLine || !strings.HasSuffix(line, "ffff") {
		t.Errorf("outcome %d, line of %d bytes", out, len(line))
	}
}

// The Response to an inform echoes it: same version, community, request-id
// and variable bindings, as gosnmp reads it back.
func TestInformResponse(t *testing.T) {
	vars := []gosnmp.SnmpPDU{upTime, trapOID, ifIndex,
		{Name: ".1.3.6.1.4.1.9.9.2", Type: gosnmp.OctetString, Value: strings.Repeat("long ", 60)}}
	msg := marshal(t, &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "s3cret", PDUType: gosnmp.InformRequest,
		RequestID: 0x01020304, Variables: vars})
	resp, err := informResponse(msg)
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := (&gosnmp.GoSNMP{}).UnmarshalTrap(resp, false)
	if err != nil {
		t.Fatalf("gosnmp cannot read the response: %v", err)
	}
	if pkt.Version != gosnmp.Version2c || pkt.Community != "s3cret" || pkt.PDUType != gosnmp.GetResponse ||
		pkt.RequestID != 0x01020304 || pkt.Error != gosnmp.NoError || pkt.ErrorIndex != 0 || len(pkt.Variables) != len(vars) {
		t.Fatalf("response = %+v", pkt)
	}
	if !bytes.Contains(resp, []byte(strings.Repeat("long ", 60))) {
		t.Error("variable bindings not echoed")
	}
	for _, m := range [][]byte{marshal(t, v2cPacket(gosnmp.SNMPv2Trap, trapOID)), msg[:len(msg)-1]} {
		if _, err := informResponse(m); err == nil {
			t.Errorf("informResponse(%x) answered what is not an inform", m)
		}
	}
}

func TestTLVLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536} {
		content := bytes.Repeat([]byte{7}, n)
		enc := appendTLV(nil, tagOctetString, content)
		tag, whole, got, rest, err := tlv(append(enc, 0xaa))
		if err != nil || tag != tagOctetString || !bytes.Equal(got, content) || len(whole) != len(enc) || !bytes.Equal(rest, []byte{0xaa}) {
			t.Errorf("length %d: tag %x, %d bytes, rest %x, err %v", n, tag, len(got), rest, err)
		}
	}
	for _, bad := range [][]byte{{}, {0x04}, {0x04, 0x80}, {0x04, 0x85, 1, 1, 1, 1, 1}, {0x04, 0x82, 0x01}, {0x04, 0x05, 1}, {0x1f, 0x01, 0x00}} {
		if _, _, _, _, err := tlv(bad); err == nil {
			t.Errorf("tlv(%x) took it", bad)
		}
	}
}

// el is one BER element of the given contents.
func el(tag byte, parts ...[]byte) []byte { return appendTLV(nil, tag, bytes.Join(parts, nil)) }

// Structure gosnmp would let through: fields or names of another type (the
// first found by FuzzDecode: an inform whose request-id was a TimeTicks,
// which gosnmp read and whose Response could not be built).
func TestDecodeRefusesLaxStructure(t *testing.T) {
	zero := el(tagInteger, []byte{0})
	oid := el(byte(gosnmp.ObjectIdentifier), []byte{0x2b, 6, 1})
	msg := func(pdu byte, fields ...[]byte) []byte {
		return el(tagSequence, el(tagInteger, []byte{1}), el(tagOctetString, []byte("public")), el(pdu, fields...))
	}
	good := el(tagSequence, el(tagSequence, oid, zero))
	if _, out := decodeString(t, "public", msg(byte(gosnmp.InformRequest), zero, zero, zero, good)); out != outInform {
		t.Fatalf("the well-formed inform: outcome %d", out)
	}
	ticks := el(byte(gosnmp.TimeTicks), []byte{0})
	for name, m := range map[string][]byte{
		"TimeTicks request-id":   msg(byte(gosnmp.InformRequest), ticks, zero, zero, good),
		"TimeTicks error-status": msg(byte(gosnmp.SNMPv2Trap), zero, ticks, zero, good),
		"string as a varbind name": msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero,
			el(tagSequence, el(tagSequence, el(tagOctetString, []byte("1.3.6")), zero))),
		"empty varbind name": msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero,
			el(tagSequence, el(tagSequence, el(byte(gosnmp.ObjectIdentifier)), zero))),
		"varbind without a value":  msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero, el(tagSequence, el(tagSequence, oid))),
		"varbind with two values":  msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero, el(tagSequence, el(tagSequence, oid, zero, zero))),
		"varbind not a sequence":   msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero, el(tagSequence, oid, zero)),
		"no varbind list":          msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero),
		"bytes after the varbinds": msg(byte(gosnmp.SNMPv2Trap), zero, zero, zero, good, zero),
	} {
		if line, out := decodeString(t, "public", m); out != outMalformed {
			t.Errorf("%s: outcome %d, line %q", name, out, line)
		}
	}
}

package snmptrap

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// The event line.
const (
	// MaxLine caps an event's text; a longer line is cut (at a character
	// boundary).
	MaxLine = 8 << 10
	// linePrefix is PRI local0.notice (16*8+5) and RFC 5424 version 1.
	linePrefix = "<133>1 "
	lineApp    = " snmptrap - - - " // APP-NAME, no PROCID, MSGID or structured data
	stampMilli = "2006-01-02T15:04:05.000Z07:00"
)

// OIDs with a meaning here (RFC 3418, RFC 3584).
const (
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidSnmpTrapOID = "1.3.6.1.6.3.1.1.4.1.0"
	oidSnmpTraps   = "1.3.6.1.6.3.1.1.5" // the generic traps, .1 coldStart to .6 egpNeighborLoss
)

// outcome is what became of one datagram.
type outcome uint8

const (
	outTrap         outcome = iota // a trap: the line is its event
	outInform                      // an InformRequest: the line is its event, the sender wants a Response
	outMalformed                   // not an SNMP v1/v2c trap
	outBadCommunity                // a trap with another community
	outPanic                       // gosnmp panicked on it: counted as malformed, and a bug to report
)

// decoder turns datagrams into event lines. It is not safe for concurrent
// use (one per reader).
type decoder struct {
	snmp      *gosnmp.GoSNMP
	community []byte
}

func newDecoder(community string) *decoder {
	// UnmarshalTrap on v1/v2c reads only Logger (a value whose zero is
	// silent), SecurityParameters and the trap security table (nil: no v3).
	// Its own value, so nothing touches gosnmp.Default.
	return &decoder{snmp: &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}, community: []byte(community)}
}

// panicError is a panic in gosnmp, recovered.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("gosnmp panicked: %v", e.value) }

// decode appends the event line for datagram msg, received from src at now,
// to dst. The line is valid only for outTrap and outInform; err says why
// for outMalformed and outPanic. msg is not changed.
func (d *decoder) decode(dst, msg []byte, src netip.Addr, now time.Time) ([]byte, outcome, error) {
	h, err := parseHeader(msg)
	if err != nil {
		return dst, outMalformed, err
	}
	if subtle.ConstantTimeCompare(h.community, d.community) != 1 {
		return dst, outBadCommunity, nil
	}
	pkt, err := d.unmarshal(msg)
	if err != nil {
		if _, ok := err.(*panicError); ok {
			return dst, outPanic, err
		}
		return dst, outMalformed, err
	}
	if pkt.Version != h.version || pkt.PDUType != h.pdu || pkt.Community != string(h.community) {
		return dst, outMalformed, errors.New("gosnmp read another message than the header says")
	}
	start := len(dst)
	line, err := appendLine(dst, pkt, src, now)
	if err != nil {
		return dst[:start], outMalformed, err
	}
	if h.pdu == gosnmp.InformRequest {
		return line, outInform, nil
	}
	return line, outTrap, nil
}

// unmarshal is gosnmp's decode, with its panics (it has had some on
// malformed input) turned into errors.
func (d *decoder) unmarshal(msg []byte) (pkt *gosnmp.SnmpPacket, err error) {
	defer func() {
		if p := recover(); p != nil {
			pkt, err = nil, &panicError{value: p, stack: debug.Stack()}
		}
	}()
	pkt, err = d.snmp.UnmarshalTrap(msg, false)
	if err == nil && pkt == nil {
		err = errors.New("gosnmp returned nothing")
	}
	return pkt, err
}

// appendLine appends pkt's event line:
//
//	<133>1 TIMESTAMP SOURCE snmptrap - - - trap=OID version=v1|v2c ... OID=TYPE:VALUE ...
func appendLine(dst []byte, pkt *gosnmp.SnmpPacket, src netip.Addr, now time.Time) ([]byte, error) {
	start := len(dst)
	dst = append(dst, linePrefix...)
	dst = now.UTC().AppendFormat(dst, stampMilli)
	dst = append(dst, ' ')
	if src.IsValid() {
		dst = src.Unmap().AppendTo(dst)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, lineApp...)
	vars := pkt.Variables
	skipA, skipB := -1, -1 // varbinds shown in the header instead
	switch pkt.Version {
	case gosnmp.Version1:
		var err error
		if dst, err = appendV1Header(dst, pkt); err != nil {
			return dst, err
		}
	case gosnmp.Version2c:
		trap, up := -1, -1
		for i, v := range vars {
			name := trimOID(v.Name)
			if name == oidSnmpTrapOID && trap < 0 && v.Type == gosnmp.ObjectIdentifier {
				if s, ok := v.Value.(string); ok && validOID(trimOID(s)) {
					trap = i
				}
			} else if name == oidSysUpTime && up < 0 && v.Type == gosnmp.TimeTicks {
				if _, ok := v.Value.(uint32); ok {
					up = i
				}
			}
		}
		dst = append(dst, "trap="...)
		if trap >= 0 {
			dst = append(dst, trimOID(vars[trap].Value.(string))...)
		} else {
			dst = append(dst, '-')
		}
		dst = append(dst, " version=v2c"...)
		if pkt.PDUType == gosnmp.InformRequest {
			dst = append(dst, " pdu=inform"...)
		}
		if up >= 0 {
			dst = append(dst, " uptime="...)
			dst = strconv.AppendUint(dst, uint64(vars[up].Value.(uint32)), 10)
		}
		skipA, skipB = trap, up
	default:
		return dst, fmt.Errorf("%s is not supported", versionName(pkt.Version))
	}
	for i, v := range vars {
		if len(dst)-start >= MaxLine {
			break
		}
		if i == skipA || i == skipB {
			continue
		}
		name := trimOID(v.Name)
		if !validOID(name) {
			return dst, fmt.Errorf("variable binding %d: bad name %q", i+1, v.Name)
		}
		dst = append(dst, ' ')
		dst = append(dst, name...)
		dst = append(dst, '=')
		dst = appendValue(dst, v.Type, v.Value)
	}
	if len(dst)-start > MaxLine {
		cut := start + MaxLine
		for cut > start && !utf8.RuneStart(dst[cut]) {
			cut--
		}
		dst = dst[:cut]
	}
	return dst, nil
}

// appendV1Header appends a v1 trap's trap OID as RFC 3584 section 3.1 maps
// it, its enterprise, agent address and time stamp.
func appendV1Header(dst []byte, pkt *gosnmp.SnmpPacket) ([]byte, error) {
	ent := trimOID(pkt.Enterprise)
	if ent != "" && !validOID(ent) {
		return dst, fmt.Errorf("bad enterprise %q", pkt.Enterprise)
	}
	dst = append(dst, "trap="...)
	switch g, s := pkt.GenericTrap, pkt.SpecificTrap; {
	case g >= 0 && g <= 5:
		dst = append(dst, oidSnmpTraps...)
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, int64(g)+1, 10)
	case g == 6:
		if ent == "" {
			return dst, errors.New("enterprise-specific trap without an enterprise")
		}
		if s < 0 {
			return dst, fmt.Errorf("specific-trap %d", s)
		}
		dst = append(dst, ent...)
		dst = append(dst, ".0."...)
		dst = strconv.AppendInt(dst, int64(s), 10)
	default:
		return dst, fmt.Errorf("generic-trap %d", g)
	}
	dst = append(dst, " version=v1 enterprise="...)
	if ent == "" {
		ent = "-"
	}
	dst = append(dst, ent...)
	dst = append(dst, " agent="...)
	if a, err := netip.ParseAddr(pkt.AgentAddress); err == nil {
		dst = a.AppendTo(dst)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, " uptime="...)
	dst = strconv.AppendUint(dst, uint64(pkt.Timestamp), 10)
	return dst, nil
}

// trimOID drops the leading dot gosnmp writes.
func trimOID(s string) string { return strings.TrimPrefix(s, ".") }

// validOID reports whether s is dotted decimal: digits, single dots between.
func validOID(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// typeName is a value's type as the line shows it.
func typeName(t gosnmp.Asn1BER) string {
	switch t {
	case gosnmp.Integer:
		return "int"
	case gosnmp.Uinteger32:
		return "uint32"
	case gosnmp.Counter32:
		return "counter32"
	case gosnmp.Gauge32:
		return "gauge32"
	case gosnmp.TimeTicks:
		return "timeticks"
	case gosnmp.Counter64:
		return "counter64"
	case gosnmp.OctetString:
		return "str"
	case gosnmp.ObjectIdentifier:
		return "oid"
	case gosnmp.IPAddress:
		return "ip"
	case gosnmp.Null:
		return "null"
	case gosnmp.Opaque:
		return "opaque"
	case gosnmp.OpaqueFloat:
		return "float"
	case gosnmp.OpaqueDouble:
		return "double"
	case gosnmp.NoSuchObject:
		return "nosuchobject"
	case gosnmp.NoSuchInstance:
		return "nosuchinstance"
	case gosnmp.EndOfMibView:
		return "endofmibview"
	}
	return "unknown"
}

// appendValue appends TYPE:VALUE. Numbers are decimal; an octet string is
// text (str:) when it is printable UTF-8, else hex (hex:0x...); OIDs and
// addresses are dotted; a text value is quoted (Go syntax) when empty or
// holding a space, '=' or '"'. Types without a value (null,
// nosuchobject...) show nothing after the colon.
func appendValue(dst []byte, t gosnmp.Asn1BER, val any) []byte {
	if b, ok := val.([]byte); ok {
		if s := string(b); t == gosnmp.OctetString && printable(s) {
			dst = append(dst, "str:"...)
			return appendText(dst, s)
		}
		if t == gosnmp.OctetString {
			dst = append(dst, "hex:"...)
		} else {
			dst = append(dst, typeName(t)...)
			dst = append(dst, ':')
		}
		dst = append(dst, "0x"...)
		return hex.AppendEncode(dst, b)
	}
	dst = append(dst, typeName(t)...)
	dst = append(dst, ':')
	switch v := val.(type) {
	case nil:
	case int:
		dst = strconv.AppendInt(dst, int64(v), 10)
	case int64:
		dst = strconv.AppendInt(dst, v, 10)
	case int32:
		dst = strconv.AppendInt(dst, int64(v), 10)
	case uint:
		dst = strconv.AppendUint(dst, uint64(v), 10)
	case uint64:
		dst = strconv.AppendUint(dst, v, 10)
	case uint32:
		dst = strconv.AppendUint(dst, uint64(v), 10)
	case float32:
		dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
	case float64:
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	case string:
		if t == gosnmp.ObjectIdentifier {
			v = trimOID(v)
		}
		dst = appendText(dst, v)
	default:
		dst = appendText(dst, fmt.Sprint(v))
	}
	return dst
}

// appendText appends s bare, or quoted when bare would not read back as one
// value or would not be printable text.
func appendText(dst []byte, s string) []byte {
	if s == "" || strings.ContainsAny(s, " =\"") || !printable(s) {
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, s...)
}

// printable reports whether s is valid UTF-8 of printable characters (the
// ASCII space included, no other white space or control).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

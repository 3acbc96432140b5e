package snmptrap

import (
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// The few BER rules this package reads itself: enough to sort a datagram
// (version, community, PDU type, the PDU's and each binding's structure)
// before gosnmp decodes the values, which gosnmp checks less strictly, and
// to echo an InformRequest back as its Response byte for byte.

// Universal tags used here.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagSequence    = 0x30
)

var errShort = errors.New("truncated")

// tlv splits one definite-length BER element off b: its tag, the whole
// element, its contents and what follows it.
func tlv(b []byte) (tag byte, whole, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, nil, errShort
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, nil, fmt.Errorf("multi-byte tag %#x", tag)
	}
	n, hdr := int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x80:
		return 0, nil, nil, nil, errors.New("indefinite length (not allowed in SNMP)")
	default:
		k := n & 0x7f
		if k > 4 {
			return 0, nil, nil, nil, fmt.Errorf("length of %d octets", k)
		}
		if len(b) < 2+k {
			return 0, nil, nil, nil, errShort
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if n > len(b)-hdr {
		return 0, nil, nil, nil, errShort
	}
	return tag, b[:hdr+n], b[hdr : hdr+n], b[hdr+n:], nil
}

// header is a message's outline: its elements as sent.
type header struct {
	version      gosnmp.SnmpVersion
	community    []byte
	pdu          gosnmp.PDUType
	versionTLV   []byte // the version element as sent
	communityTLV []byte // the community element as sent
	pduContent   []byte
	requestID    []byte // v2c: the request-id element as sent
	varbinds     []byte // the variable-bindings element as sent
}

// Each PDU's fields by tag (RFC 1157 Trap-PDU, RFC 3416 PDU); gosnmp would
// take some fields in another type (a TimeTicks request-id, say).
var (
	v1TrapFields = []byte{byte(gosnmp.ObjectIdentifier), byte(gosnmp.IPAddress), tagInteger, tagInteger, byte(gosnmp.TimeTicks), tagSequence}
	v2PDUFields  = []byte{tagInteger, tagInteger, tagInteger, tagSequence}
)

// parseHeader accepts a v1 Trap, a v2c SNMPv2-Trap or a v2c InformRequest
// whose fields have their types and whose bindings are each a name and one
// value, and nothing else: v3, requests and responses are errors.
func parseHeader(msg []byte) (header, error) {
	var h header
	tag, _, body, rest, err := tlv(msg)
	if err != nil {
		return h, fmt.Errorf("message: %w", err)
	}
	if tag != tagSequence {
		return h, fmt.Errorf("not an SNMP message (starts with %#x)", tag)
	}
	if len(rest) != 0 {
		return h, fmt.Errorf("%d bytes after the message", len(rest))
	}
	var v []byte
	tag, h.versionTLV, v, body, err = tlv(body)
	if err != nil || tag != tagInteger || len(v) != 1 {
		return h, errors.New("no version")
	}
	switch v[0] {
	case 0:
		h.version = gosnmp.Version1
	case 1:
		h.version = gosnmp.Version2c
	case 3:
		return h, errors.New("SNMPv3 is not supported")
	default:
		return h, fmt.Errorf("unknown SNMP version %d", v[0])
	}
	tag, h.communityTLV, h.community, body, err = tlv(body)
	if err != nil || tag != tagOctetString {
		return h, errors.New("no community")
	}
	tag, _, h.pduContent, rest, err = tlv(body)
	if err != nil {
		return h, fmt.Errorf("PDU: %w", err)
	}
	if len(rest) != 0 {
		return h, fmt.Errorf("%d bytes after the PDU", len(rest))
	}
	h.pdu = gosnmp.PDUType(tag)
	switch {
	case h.version == gosnmp.Version1 && h.pdu == gosnmp.Trap:
	case h.version == gosnmp.Version2c && (h.pdu == gosnmp.SNMPv2Trap || h.pdu == gosnmp.InformRequest):
	default:
		return h, fmt.Errorf("%s %s is not a trap", versionName(h.version), h.pdu)
	}
	fields := v2PDUFields
	if h.pdu == gosnmp.Trap {
		fields = v1TrapFields
	}
	body = h.pduContent
	for i, want := range fields {
		var whole []byte
		tag, whole, _, body, err = tlv(body)
		if err != nil || tag != want {
			return h, fmt.Errorf("%s: field %d is not a %#x", h.pdu, i+1, want)
		}
		switch {
		case i == 0 && h.pdu != gosnmp.Trap:
			h.requestID = whole
		case i == len(fields)-1:
			h.varbinds = whole
		}
	}
	if len(body) != 0 {
		return h, fmt.Errorf("%s: %d bytes after the variable bindings", h.pdu, len(body))
	}
	// Each binding is SEQUENCE { OBJECT IDENTIFIER, value } (gosnmp would
	// take a name of another type).
	_, _, list, _, _ := tlv(h.varbinds)
	for i := 1; len(list) > 0; i++ {
		var vb, name []byte
		if tag, _, vb, list, err = tlv(list); err != nil || tag != tagSequence {
			return h, fmt.Errorf("variable binding %d is not a sequence", i)
		}
		if tag, _, name, vb, err = tlv(vb); err != nil || tag != byte(gosnmp.ObjectIdentifier) || len(name) == 0 {
			return h, fmt.Errorf("variable binding %d has no name", i)
		}
		if _, _, _, vb, err = tlv(vb); err != nil || len(vb) != 0 {
			return h, fmt.Errorf("variable binding %d has no single value", i)
		}
	}
	return h, nil
}

// informResponse is the Response to an InformRequest (RFC 3416 section
// 4.2.7): the same version, community, request-id and variable bindings as
// sent, error-status and error-index zero.
func informResponse(msg []byte) ([]byte, error) {
	h, err := parseHeader(msg)
	if err != nil {
		return nil, err
	}
	if h.pdu != gosnmp.InformRequest {
		return nil, fmt.Errorf("%s is not an InformRequest", h.pdu)
	}
	reqID, vbl := h.requestID, h.varbinds
	pdu := make([]byte, 0, len(reqID)+6+len(vbl))
	pdu = append(pdu, reqID...)
	pdu = append(pdu, tagInteger, 1, 0, tagInteger, 1, 0) // noError, index 0
	pdu = append(pdu, vbl...)
	inner := make([]byte, 0, len(h.versionTLV)+len(h.communityTLV)+len(pdu)+4)
	inner = append(inner, h.versionTLV...)
	inner = append(inner, h.communityTLV...)
	inner = appendTLV(inner, byte(gosnmp.GetResponse), pdu)
	return appendTLV(make([]byte, 0, len(inner)+4), tagSequence, inner), nil
}

// appendTLV appends an element with a definite length in the fewest octets.
func appendTLV(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	switch n := len(content); {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xff:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}

func versionName(v gosnmp.SnmpVersion) string {
	switch v {
	case gosnmp.Version1:
		return "v1"
	case gosnmp.Version2c:
		return "v2c"
	case gosnmp.Version3:
		return "v3"
	}
	return fmt.Sprintf("version %d", v)
}

package syslogmsg

// Format is the syslog message format Parse detected.
type Format uint8

// The formats Parse tells apart.
const (
	// Unknown is a message without a valid <PRI>.
	Unknown Format = iota
	// RFC3164 is the BSD format and its common deviations.
	RFC3164
	// RFC5424 is the IETF syslog protocol format, version 1.
	RFC5424
)

// String returns the format's name as filters and traces spell it.
func (f Format) String() string {
	switch f {
	case RFC3164:
		return "rfc3164"
	case RFC5424:
		return "rfc5424"
	default:
		return "unknown"
	}
}

// Header holds the parsed header of one message. Every byte slice is a
// sub-slice of the message given to Parse, nil when the field is absent or
// is the RFC 5424 nil value "-".
type Header struct {
	Format Format
	// PRI is the priority value; it, Facility and Severity are -1 when the
	// message has no valid <PRI>.
	PRI, Facility, Severity int

	Timestamp []byte
	Hostname  []byte
	AppName   []byte // the RFC 3164 TAG
	ProcID    []byte // the RFC 3164 pid in TAG[pid]
	MsgID     []byte // RFC 5424 only

	// StructuredData is the raw SD-ELEMENTs, RFC 5424 only.
	StructuredData []byte
	// Message is the free text (MSG), with a UTF-8 BOM stripped for RFC 5424.
	Message []byte
}

// Parse parses the header of msg, detecting the format per message, because
// one listener serves mixed senders. It never fails and never allocates: what
// it cannot recognise ends up in Message, and a message without a valid <PRI>
// is Unknown with Message the whole input.
func Parse(msg []byte) Header {
	pri, n := parsePRI(msg)
	if n == 0 {
		return Header{Format: Unknown, PRI: -1, Facility: -1, Severity: -1, Message: msg}
	}
	h := Header{PRI: pri, Facility: pri >> 3, Severity: pri & 7}
	rest := msg[n:]
	if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
		h.Format = RFC5424
		parse5424(&h, rest[2:])
		return h
	}
	h.Format = RFC3164
	parse3164(&h, rest)
	return h
}

// parsePRI parses "<PRI>" at the start of b, returning the value and the
// length of the PRI part, or 0 when there is none: 1 to 3 digits, at most 191.
func parsePRI(b []byte) (pri, n int) {
	if len(b) < 3 || b[0] != '<' {
		return 0, 0
	}
	for i := 1; i < len(b) && i <= 4; i++ {
		c := b[i]
		if c == '>' {
			if i == 1 || pri > 191 {
				return 0, 0
			}
			return pri, i + 1
		}
		if c < '0' || c > '9' || i == 4 {
			return 0, 0
		}
		pri = pri*10 + int(c-'0')
	}
	return 0, 0
}

// token splits b at its first space, returning the field and what follows
// the space (nil when there is no space).
func token(b []byte) (field, rest []byte) {
	for i, c := range b {
		if c == ' ' {
			return b[:i:i], b[i+1:]
		}
	}
	return b, nil
}

// nilValue maps the RFC 5424 nil value "-" and empty fields to nil.
func nilValue(b []byte) []byte {
	if len(b) == 0 || (len(b) == 1 && b[0] == '-') {
		return nil
	}
	return b
}

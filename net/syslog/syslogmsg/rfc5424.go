package syslogmsg

// parse5424 fills h from b, the part of an RFC 5424 message after "VERSION ":
// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]. It is lenient where
// senders are sloppy: a missing SD is taken for the start of MSG, and an
// unterminated SD keeps the rest of the message.
func parse5424(h *Header, b []byte) {
	fields := [...]*[]byte{&h.Timestamp, &h.Hostname, &h.AppName, &h.ProcID, &h.MsgID}
	for _, dst := range fields {
		if b == nil {
			return
		}
		var f []byte
		f, b = token(b)
		*dst = nilValue(f)
	}
	if len(b) == 0 {
		return
	}
	sd, msg := splitSD(b)
	h.StructuredData = sd
	if len(msg) >= 3 && msg[0] == 0xEF && msg[1] == 0xBB && msg[2] == 0xBF {
		msg = msg[3:]
	}
	if len(msg) > 0 {
		h.Message = msg
	}
}

// splitSD splits b, which starts with STRUCTURED-DATA, into the SD-ELEMENTs
// (nil for the nil value) and the MSG after the separating space.
func splitSD(b []byte) (sd, msg []byte) {
	switch b[0] {
	case '-':
		if len(b) == 1 {
			return nil, nil
		}
		if b[1] == ' ' {
			return nil, b[2:]
		}
		return nil, b
	case '[':
	default:
		return nil, b
	}
	end := sdEnd(b)
	if end < 0 {
		return b, nil
	}
	sd = b[:end:end]
	switch {
	case end == len(b):
		return sd, nil
	case b[end] == ' ':
		return sd, b[end+1:]
	default:
		return sd, b[end:]
	}
}

// sdEnd returns the length of the SD-ELEMENTs at the start of b, which
// starts with '[', or -1 when an element is not terminated. Inside a quoted
// PARAM-VALUE, '\' escapes the next byte and ']' does not end the element.
func sdEnd(b []byte) int {
	i := 0
	for i < len(b) && b[i] == '[' {
		quoted := false
		i++
		for ; i < len(b); i++ {
			c := b[i]
			if quoted {
				switch c {
				case '\\':
					i++
				case '"':
					quoted = false
				}
				continue
			}
			if c == '"' {
				quoted = true
			} else if c == ']' {
				break
			}
		}
		if i >= len(b) {
			return -1
		}
		i++ // past ']'
	}
	return i
}

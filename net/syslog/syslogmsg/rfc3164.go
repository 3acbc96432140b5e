package syslogmsg

// maxTagLen bounds the TAG search, so a message whose first word happens to
// end in a colon far away is not taken for a tag. RFC 3164 says 32; real
// tags (Cisco mnemonics, Java class names) run longer.
const maxTagLen = 64

// parse3164 fills h from b, the part of a BSD message after <PRI>:
// TIMESTAMP [HOSTNAME] [TAG[pid]:] MSG. Without a timestamp it cannot tell a
// hostname from text, so everything is the message.
func parse3164(h *Header, b []byte) {
	n := timestamp3164(b)
	if n == 0 {
		if len(b) > 0 {
			h.Message = b
		}
		return
	}
	ts := b[:n:n]
	if ts[n-1] == ':' { // Cisco ASA: "Jan 02 2024 10:11:12: %ASA-..."
		ts = ts[: n-1 : n-1]
	}
	h.Timestamp = ts
	b = b[n:]
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if len(b) == 0 {
		return
	}
	if app, pid, msg, ok := tag3164(b); ok {
		h.AppName, h.ProcID, h.Message = app, pid, nonEmpty(msg)
		return
	}
	host, rest := token(b)
	h.Hostname = nilValue(host)
	if len(rest) == 0 {
		return
	}
	if app, pid, msg, ok := tag3164(rest); ok {
		h.AppName, h.ProcID, h.Message = app, pid, nonEmpty(msg)
		return
	}
	h.Message = rest
}

// tag3164 parses "TAG: ", "TAG[pid]: " or "TAG[pid] " at the start of b and
// returns the message after it.
func tag3164(b []byte) (app, pid, msg []byte, ok bool) {
	for i := 0; i < len(b) && i <= maxTagLen; i++ {
		switch c := b[i]; {
		case c == ':':
			if i == 0 || !endsField(b, i+1) {
				return nil, nil, nil, false
			}
			return b[:i:i], nil, after(b, i+1), true
		case c == '[':
			j := i + 1
			for j < len(b) && b[j] != ']' && j-i <= maxTagLen {
				j++
			}
			if i == 0 || j >= len(b) || b[j] != ']' {
				return nil, nil, nil, false
			}
			k := j + 1
			if k < len(b) && b[k] == ':' {
				k++
			}
			if !endsField(b, k) {
				return nil, nil, nil, false
			}
			return b[:i:i], nilValue(b[i+1 : j : j]), after(b, k), true
		case c <= ' ' || c == 0x7f:
			return nil, nil, nil, false
		}
	}
	return nil, nil, nil, false
}

// endsField reports whether b ends at i or has a space there.
func endsField(b []byte, i int) bool { return i >= len(b) || b[i] == ' ' }

// after returns what follows the field ending at i and its one space.
func after(b []byte, i int) []byte {
	if i+1 >= len(b) {
		return nil
	}
	return b[i+1:]
}

// nonEmpty maps an empty slice to nil.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// timestamp3164 returns the length of the timestamp at the start of b, or 0.
// It takes "Mmm dd hh:mm:ss" with a space-padded, zero-padded or single-digit
// day, an optional year before the time, fractional seconds, a Cisco "*" or
// "." clock-state mark, a trailing colon; and RFC 3339 timestamps.
func timestamp3164(b []byte) int {
	if n := iso8601(b); n > 0 {
		return n
	}
	i := 0
	if len(b) > 0 && (b[0] == '*' || b[0] == '.') {
		i++
	}
	if len(b) < i+3 || !isMonth(b[i:i+3]) {
		return 0
	}
	i += 3
	if i >= len(b) || b[i] != ' ' {
		return 0
	}
	i++
	if i < len(b) && b[i] == ' ' {
		i++
	}
	d := digits(b[i:], 2)
	if d == 0 || i+d >= len(b) || b[i+d] != ' ' {
		return 0
	}
	i += d + 1
	if y := digits(b[i:], 4); y == 4 && i+4 < len(b) && b[i+4] == ' ' {
		i += 5
	}
	t := clock(b[i:])
	if t == 0 {
		return 0
	}
	i += t
	if i < len(b) && b[i] == ':' {
		i++
	}
	if !endsField(b, i) {
		return 0
	}
	return i
}

// iso8601 returns the length of an RFC 3339 style timestamp token
// (YYYY-MM-DDThh:mm...) at the start of b, or 0.
func iso8601(b []byte) int {
	if len(b) < 16 || digits(b, 4) != 4 || b[4] != '-' || digits(b[5:], 2) != 2 || b[7] != '-' ||
		digits(b[8:], 2) != 2 || (b[10] != 'T' && b[10] != 't') || clock(b[11:]) == 0 {
		return 0
	}
	for i := 11; i < len(b); i++ {
		if b[i] == ' ' {
			return i
		}
	}
	return len(b)
}

// clock returns the length of "hh:mm:ss" with optional fractional seconds
// at the start of b, or 0.
func clock(b []byte) int {
	if len(b) < 8 || digits(b, 2) != 2 || b[2] != ':' || digits(b[3:], 2) != 2 || b[5] != ':' || digits(b[6:], 2) != 2 {
		return 0
	}
	i := 8
	if i < len(b) && b[i] == '.' {
		if f := digits(b[i+1:], 9); f > 0 {
			i += 1 + f
		}
	}
	return i
}

// digits returns how many ASCII digits, at most limit, start b.
func digits(b []byte, limit int) int {
	n := 0
	for n < len(b) && n < limit && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

// isMonth reports whether b is an English month abbreviation.
func isMonth(b []byte) bool {
	for _, m := range months {
		if string(b) == m {
			return true
		}
	}
	return false
}

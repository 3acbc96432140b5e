package syslogmsg

// TrimDatagram returns b without its trailing LF, CR and NUL bytes, because a
// UDP packet holds exactly one message and many senders still terminate it as
// if it were a stream. It does not allocate: the result is a sub-slice of b.
func TrimDatagram(b []byte) []byte {
	n := len(b)
	for n > 0 {
		switch b[n-1] {
		case '\n', '\r', 0:
			n--
		default:
			return b[:n]
		}
	}
	return b[:0]
}

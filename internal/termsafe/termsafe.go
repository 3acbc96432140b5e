// Package termsafe makes text that came from users safe to show on an
// operator's terminal.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape replaces C0 controls, DEL, C1 controls and bytes that are not UTF-8
// with \xHH, so a value cannot move the cursor, recolour or retitle the
// operator's terminal. C1 counts: 0x9b is CSI on terminals that honour 8-bit
// controls, whether it arrives as U+009B or as a raw byte.
func Escape(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, IsControl) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// EscapeLines is Escape for text of several lines: its newlines stay.
func EscapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// IsControl reports whether r is a C0 control, DEL or a C1 control.
func IsControl(r rune) bool { return r < 0x20 || 0x7f <= r && r <= 0x9f }

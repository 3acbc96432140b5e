package termsafe

import "testing"

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"한국어 ok", "한국어 ok"},
		{"\x1b]0;owned\x07\x1b[2J", `\x1b]0;owned\x07\x1b[2J`},
		{"tab\there", `tab\x09here`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \x9b31m`},
		{"raw \x9b byte", `raw \x9b byte`},
		{"cr\r\nlf", `cr\x0d\x0alf`},
	}
	for _, tc := range tests {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := EscapeLines("a\x1b\nb"); got != "a\\x1b\nb" {
		t.Errorf("EscapeLines = %q", got)
	}
}

package units

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"65536", 65536, true},
		{"512B", 512, true},
		{"64KiB", 64 << 10, true},
		{"64MiB", 64 << 20, true},
		{"64mib", 64 << 20, true},
		{"10GiB", 10 << 30, true},
		{"1.5GiB", 3 << 29, true},
		{"2TiB", 2 << 40, true},
		{"1kB", 1000, true},
		{"10GB", 10e9, true},
		{" 8 MiB ", 8 << 20, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"64M", 0, false}, // ambiguous: 10^6 or 2^20
		{"64K", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false}, // half a byte
		{"1.2.3KiB", 0, false},
		{"9999999TiB", 0, false},
		{"0x10", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("ParseBytes(%q) = %d; want an error", tc.in, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1KiB"}, {64 << 20, "64MiB"}, {3 << 29, "1.5GiB"}, {10 << 30, "10GiB"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseBytes(tc.want); err != nil || back != tc.in {
			t.Errorf("ParseBytes(FormatBytes(%d)) = %d, %v", tc.in, back, err)
		}
	}
}

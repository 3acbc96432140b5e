// Package units reads and writes the quantities operators type: byte sizes
// with SI (kB, MB, GB) or IEC (KiB, MiB, GiB) units.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

var errBadSize = errors.New("not a byte size")

// multipliers by lower-cased unit; a bare number is bytes.
var multipliers = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseBytes reads "65536", "64KiB", "64MiB", "1.5GiB" or "10GB" (units are
// case-insensitive; a lone K, M or G is refused as ambiguous).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := multipliers[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("%q: %w", s, errBadSize)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, errBadSize)
	}
	n := v * mult
	if n > math.MaxInt64 || n != math.Trunc(n) {
		return 0, fmt.Errorf("%q: %w (whole bytes, at most 8 EiB)", s, errBadSize)
	}
	return int64(n), nil
}

// FormatBytes writes n with the largest IEC unit that keeps it readable ("64MiB", "1.5GiB", "512B").
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= unit
		if math.Abs(f) < unit || u == "PiB" {
			return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) + u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

package syslogmsg

import (
	"errors"
	"testing"
)

func TestFacilityNames(t *testing.T) {
	for f := range 24 {
		n := FacilityName(f)
		if n == "" {
			t.Fatalf("FacilityName(%d) is empty", f)
		}
		if got, err := ParseFacility(n); err != nil || got != f {
			t.Errorf("ParseFacility(%q) = %d, %v; want %d", n, got, err, f)
		}
	}
	for _, f := range []int{-1, 24, 191} {
		if n := FacilityName(f); n != "" {
			t.Errorf("FacilityName(%d) = %q, want empty", f, n)
		}
	}
	for in, want := range map[string]int{"KERN": 0, "Local7": 23, "security": 4, "authpriv": 10, "cron2": 15, "16": 16, "0": 0} {
		if got, err := ParseFacility(in); err != nil || got != want {
			t.Errorf("ParseFacility(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "local8", "24", "-1", "kernel"} {
		if _, err := ParseFacility(in); !errors.Is(err, ErrUnknownName) {
			t.Errorf("ParseFacility(%q) error %v, want ErrUnknownName", in, err)
		}
	}
}

func TestSeverityNames(t *testing.T) {
	want := []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
	for s, w := range want {
		if n := SeverityName(s); n != w {
			t.Errorf("SeverityName(%d) = %q, want %q", s, n, w)
		}
		if got, err := ParseSeverity(w); err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %d, %v; want %d", w, got, err, s)
		}
	}
	if n := SeverityName(8); n != "" {
		t.Errorf("SeverityName(8) = %q, want empty", n)
	}
	for in, want := range map[string]int{"PANIC": 0, "error": 3, "Warn": 4, "7": 7} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "8", "fatal"} {
		if _, err := ParseSeverity(in); !errors.Is(err, ErrUnknownName) {
			t.Errorf("ParseSeverity(%q) error %v, want ErrUnknownName", in, err)
		}
	}
}

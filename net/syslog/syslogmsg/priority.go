package syslogmsg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownName is wrapped by ParseFacility and ParseSeverity for a name
// they do not know, so a filter compiler can tell it from other errors.
var ErrUnknownName = errors.New("unknown name")

// facilityNames are the names of facilities 0..23 as syslog.conf and
// rsyslog spell them.
var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// facilityAliases are other names filters may use for a facility.
var facilityAliases = [...]struct {
	name string
	code int
}{{"security", 4}, {"logaudit", 13}, {"logalert", 14}, {"cron2", 15}}

// severityNames are the names of severities 0..7.
var severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// severityAliases are other names filters may use for a severity.
var severityAliases = [...]struct {
	name string
	code int
}{{"panic", 0}, {"emergency", 0}, {"critical", 2}, {"error", 3}, {"warn", 4}, {"informational", 6}}

// FacilityName returns the name of facility f (kern, user, ..., local7), or
// "" when f is outside 0..23.
func FacilityName(f int) string {
	if f < 0 || f >= len(facilityNames) {
		return ""
	}
	return facilityNames[f]
}

// SeverityName returns the name of severity s (emerg ... debug), or "" when
// s is outside 0..7.
func SeverityName(s int) string {
	if s < 0 || s >= len(severityNames) {
		return ""
	}
	return severityNames[s]
}

// ParseFacility returns the facility a filter names: a name FacilityName
// returns, a common alias (security, cron2, ...), or its number, all
// case-insensitive.
func ParseFacility(s string) (int, error) {
	for i, n := range facilityNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	for _, a := range facilityAliases {
		if strings.EqualFold(s, a.name) {
			return a.code, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(facilityNames) {
		return n, nil
	}
	return -1, fmt.Errorf("syslogmsg: facility %q: %w (want kern, user, ..., local7 or 0..23)", s, ErrUnknownName)
}

// ParseSeverity returns the severity a filter names: a name SeverityName
// returns, a common alias (panic, error, warn, ...), or its number, all
// case-insensitive.
func ParseSeverity(s string) (int, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	for _, a := range severityAliases {
		if strings.EqualFold(s, a.name) {
			return a.code, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(severityNames) {
		return n, nil
	}
	return -1, fmt.Errorf("syslogmsg: severity %q: %w (want emerg, alert, crit, err, warning, notice, info, debug or 0..7)", s, ErrUnknownName)
}

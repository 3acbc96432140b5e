package status

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-appliance/ferry/internal/termsafe"
)

// WriteText writes secs for a terminal: per section a header [id], then one
// line per field, "name{labels}:  value", aligned within the section, and a
// blank line between sections. A seconds gauge also reads as a duration.
// Control characters are escaped, since hostnames and labels come from users.
func WriteText(w io.Writer, secs []Section) error {
	var b strings.Builder
	for i, s := range secs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", escapeControl(s.ID()))
		keys := make([]string, len(s.Fields))
		width := 0
		for j, f := range s.Fields {
			keys[j] = escapeControl(f.Desc.name+f.Labels().String()) + ":"
			width = max(width, utf8.RuneCountInString(keys[j]))
		}
		for j, f := range s.Fields {
			b.WriteString(keys[j])
			if v := textValue(f); v != "" {
				b.WriteString(strings.Repeat(" ", width-utf8.RuneCountInString(keys[j])+2))
				b.WriteString(v)
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// maxSeconds is the largest value a time.Duration can show.
const maxSeconds = float64(math.MaxInt64 / int64(time.Second))

func textValue(f Field) string {
	if s, ok := f.Value.(string); ok {
		return escapeControl(s)
	}
	n, ok := number(f.Value)
	if !ok {
		return escapeControl(fmt.Sprint(f.Value)) // NaN, ±Inf
	}
	sec := f.Float()
	switch {
	case f.Desc.unit == "seconds" && strings.HasSuffix(f.Desc.name, "_timestamp_seconds"):
		// A point in time, as Prometheus names them: shown as a date (0 is never).
		if sec > 0 && sec < maxSeconds {
			n += " (" + time.Unix(int64(sec), 0).UTC().Format(time.RFC3339) + ")"
		}
	case f.Desc.unit == "seconds" && math.Abs(sec) < maxSeconds:
		n += " (" + time.Duration(sec*float64(time.Second)).String() + ")"
	}
	return n
}

// escapeControl keeps what came from users from driving the operator's terminal.
func escapeControl(s string) string { return termsafe.Escape(s) }

var isControl = termsafe.IsControl

// MarshalJSON writes the section with its fields and labels in their declared
// order, which a Go map would lose:
//
//	{"section":"shell","labels":{},"fields":[{"name":"logins_total","kind":"counter",
//	"help":"…","unit":"","labels":{"result":"ok"},"value":3}]}
//
// Numbers stay JSON numbers (integers as integers), an info value is a string,
// and NaN or ±Inf, which JSON cannot hold, is null.
func (s Section) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"section":`), jsonString(s.Name)...)
	b = append(b, `,"labels":`...)
	b = appendJSONLabels(b, s.Labels)
	b = append(b, `,"fields":[`...)
	for i, f := range s.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = append(b, jsonString(f.Desc.name)...)
		b = append(b, `,"kind":`...)
		b = append(b, jsonString(string(f.Desc.kind))...)
		b = append(b, `,"help":`...)
		b = append(b, jsonString(f.Desc.help)...)
		b = append(b, `,"unit":`...)
		b = append(b, jsonString(f.Desc.unit)...)
		b = append(b, `,"labels":`...)
		b = appendJSONLabels(b, f.Labels())
		b = append(b, `,"value":`...)
		b = appendJSONValue(b, f.Value)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

func appendJSONLabels(b []byte, l Labels) []byte {
	b = append(b, '{')
	for i, lb := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, jsonString(lb.Name)...)
		b = append(b, ':')
		b = append(b, jsonString(lb.Value)...)
	}
	return append(b, '}')
}

func appendJSONValue(b []byte, v any) []byte {
	if s, ok := v.(string); ok {
		return append(b, jsonString(s)...)
	}
	if n, ok := number(v); ok {
		return append(b, n...)
	}
	return append(b, "null"...)
}

// jsonString quotes s for JSON. encoding/json escapes C0 controls and
// replaces invalid UTF-8 but leaves DEL and C1 controls raw, which is valid
// JSON yet reaches the terminal of an operator running --json, so those are
// escaped here too. Marshalling a string cannot fail.
func jsonString(s string) []byte {
	q, _ := json.Marshal(s)
	if !strings.ContainsFunc(string(q), isControl) {
		return q
	}
	var b []byte
	for _, r := range string(q) {
		if isControl(r) {
			b = fmt.Appendf(b, `\u%04x`, r)
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

var (
	_ json.Marshaler = Section{}
	_ fmt.Stringer   = Labels{}
)

package status

import (
	"fmt"
	"strings"
)

// Label is one label name and value.
type Label struct{ Name, Value string }

// Labels is an ordered list of labels: the order given is the order shown.
type Labels []Label

// L builds Labels from name, value pairs. It panics on an odd count.
func L(kv ...string) Labels {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("status: L: odd number of arguments %q", kv))
	}
	l := make(Labels, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		l = append(l, Label{Name: kv[i], Value: kv[i+1]})
	}
	return l
}

// labelEscaper escapes a label value as the Prometheus text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// String returns the labels as Prometheus writes them, {a="1",b="2"}, or ""
// when there are none.
func (l Labels) String() string {
	if len(l) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, lb := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(lb.Name)
		b.WriteString(`="`)
		labelEscaper.WriteString(&b, lb.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func (l Labels) names() []string {
	n := make([]string, len(l))
	for i, lb := range l {
		n[i] = lb.Name
	}
	return n
}

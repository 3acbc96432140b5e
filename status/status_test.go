package status_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/status"
)

// panicMessage runs f and returns what it panicked with, or ok=false.
func panicMessage(f func()) (msg string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, ok = fmt.Sprint(r), true
		}
	}()
	f()
	return "", false
}

func ids(secs []status.Section) []string {
	var out []string
	for _, s := range secs {
		out = append(out, s.ID())
	}
	return out
}

func none() []status.Field { return nil }

func TestDescAccessors(t *testing.T) {
	tests := []struct {
		d                *status.Desc
		name, unit, help string
		kind             status.Kind
		labels           []string
	}{
		{status.NewCounter("logins_total", "Logins.", "result"), "logins_total", "", "Logins.", status.Counter, []string{"result"}},
		{status.NewGauge("uptime_seconds", "seconds", "Uptime."), "uptime_seconds", "seconds", "Uptime.", status.Gauge, nil},
		{status.NewGauge("sessions", "", "Open sessions.", "role", "_x9"), "sessions", "", "Open sessions.", status.Gauge, []string{"role", "_x9"}},
		{status.NewInfo("version", "Version."), "version", "", "Version.", status.Info, nil},
	}
	for _, tt := range tests {
		d := tt.d
		if d.Name() != tt.name || d.Unit() != tt.unit || d.Help() != tt.help || d.Kind() != tt.kind ||
			!slices.Equal(d.LabelNames(), tt.labels) {
			t.Errorf("%s: got name %q unit %q help %q kind %q labels %q", tt.name, d.Name(), d.Unit(), d.Help(), d.Kind(), d.LabelNames())
		}
	}
	d := tests[0].d
	d.LabelNames()[0] = "changed"
	if got := d.LabelNames(); got[0] != "result" {
		t.Errorf("LabelNames shares the Desc's slice: after a write it is %q", got)
	}
}

func TestDescPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string // part of the panic message
	}{
		{"empty name", func() { status.NewGauge("", "", "h") }, "must match"},
		{"upper case", func() { status.NewGauge("Sessions", "", "h") }, "must match"},
		{"leading digit", func() { status.NewGauge("1sessions", "", "h") }, "must match"},
		{"hyphen", func() { status.NewInfo("build-date", "h") }, "must match"},
		{"colon", func() { status.NewInfo("a:b", "h") }, "must match"},
		{"non-ASCII", func() { status.NewInfo("vérsion", "h") }, "must match"},
		{"counter without _total", func() { status.NewCounter("logins", "h") }, "must end in _total"},
		{"gauge with _total", func() { status.NewGauge("logins_total", "", "h") }, "must not end in _total"},
		{"info with _total", func() { status.NewInfo("logins_total", "h") }, "must not end in _total"},
		{"unit suffix missing", func() { status.NewGauge("uptime", "seconds", "h") }, "must end in _seconds"},
		{"unit without underscore", func() { status.NewGauge("uptimeseconds", "seconds", "h") }, "must end in _seconds"},
		{"other unit", func() { status.NewGauge("size_seconds", "bytes", "h") }, "must end in _bytes"},
		{"label upper case", func() { status.NewCounter("a_total", "h", "Result") }, "must match"},
		{"label empty", func() { status.NewCounter("a_total", "h", "") }, "must match"},
		{"label leading digit", func() { status.NewGauge("a", "", "h", "1x") }, "must match"},
		{"label duplicate", func() { status.NewCounter("a_total", "h", "result", "proto", "result") }, "twice"},
		{"label le", func() { status.NewGauge("a", "", "h", "le") }, "reserved"},
		{"label quantile", func() { status.NewGauge("a", "", "h", "quantile") }, "reserved"},
		{"label __name__", func() { status.NewGauge("a", "", "h", "__name__") }, "reserved"},
		{"label __x", func() { status.NewCounter("a_total", "h", "__x") }, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := panicMessage(tt.f)
			if !ok {
				t.Fatal("no panic")
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("panic %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}

func TestFieldChecks(t *testing.T) {
	counter := status.NewCounter("logins_total", "h", "result")
	plain := status.NewCounter("restarts_total", "h")
	gauge := status.NewGauge("queue_depth", "", "h")
	info := status.NewInfo("version", "h")
	tests := []struct {
		name      string
		d         *status.Desc
		v         any
		labels    []string
		wantPanic bool
	}{
		{"counter int", counter, 3, []string{"ok"}, false},
		{"counter int32", plain, int32(3), nil, false},
		{"counter int64", plain, int64(3), nil, false},
		{"counter uint32", plain, uint32(3), nil, false},
		{"counter uint64", plain, uint64(math.MaxUint64), nil, false},
		{"counter zero", plain, 0, nil, false},
		{"counter negative int", plain, -1, nil, true},
		{"counter negative int32", plain, int32(-1), nil, true},
		{"counter negative int64", plain, int64(-1), nil, true},
		{"counter float", plain, 1.0, nil, true},
		{"counter uint8", plain, uint8(1), nil, true},
		{"counter string", plain, "1", nil, true},
		{"counter bool", plain, true, nil, true},
		{"counter nil", plain, nil, nil, true},
		{"counter no label value", counter, 1, nil, true},
		{"counter two label values", counter, 1, []string{"ok", "x"}, true},
		{"counter label value not wanted", plain, 1, []string{"ok"}, true},
		{"gauge int", gauge, -3, nil, false},
		{"gauge int8", gauge, int8(-3), nil, false},
		{"gauge int16", gauge, int16(3), nil, false},
		{"gauge uint", gauge, uint(3), nil, false},
		{"gauge uint8", gauge, uint8(3), nil, false},
		{"gauge uint16", gauge, uint16(3), nil, false},
		{"gauge float32", gauge, float32(0.5), nil, false},
		{"gauge float64", gauge, -0.5, nil, false},
		{"gauge bool", gauge, true, nil, false},
		{"gauge string", gauge, "3", nil, true},
		{"gauge duration", gauge, time.Second, nil, true},
		{"gauge nil", gauge, nil, nil, true},
		{"gauge label value not wanted", gauge, 1, []string{"x"}, true},
		{"info string", info, "1.2.0", nil, false},
		{"info empty string", info, "", nil, false},
		{"info int", info, 1, nil, true},
		{"info bytes", info, []byte("1.2.0"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f status.Field
			msg, panicked := panicMessage(func() { f = tt.d.Field(tt.v, tt.labels...) })
			if panicked != tt.wantPanic {
				t.Fatalf("panicked = %v (%s), want %v", panicked, msg, tt.wantPanic)
			}
			if panicked {
				if !strings.Contains(msg, strconv.Quote(tt.d.Name())) {
					t.Errorf("panic %q does not name the field", msg)
				}
				return
			}
			if f.Desc != tt.d || f.Value != tt.v || !slices.Equal(f.LabelValues, tt.labels) {
				t.Errorf("Field = %+v", f)
			}
		})
	}
}

func TestFieldFloat(t *testing.T) {
	g := status.NewGauge("g", "", "h")
	tests := []struct {
		f    status.Field
		want float64
	}{
		{status.NewCounter("c_total", "h").Field(uint64(1 << 53)), 1 << 53},
		{g.Field(int8(-7)), -7},
		{g.Field(uint16(7)), 7},
		{g.Field(float32(0.5)), 0.5},
		{g.Field(2.25), 2.25},
		{g.Field(true), 1},
		{g.Field(false), 0},
		{status.NewInfo("version", "h").Field("1.2.0"), 1},
	}
	for _, tt := range tests {
		if got := tt.f.Float(); got != tt.want {
			t.Errorf("Float(%T %v) = %v, want %v", tt.f.Value, tt.f.Value, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name string
		l    status.Labels
		want string
	}{
		{"none", status.L(), ""},
		{"nil", nil, ""},
		{"order kept", status.L("proto", "udp", "listener", "udp1"), `{proto="udp",listener="udp1"}`},
		{"escaped", status.L("v", "a\\b\"c\nd"), `{v="a\\b\"c\nd"}`},
		{"empty value", status.L("v", ""), `{v=""}`},
		{"other controls left to the renderer", status.L("v", "\x1b\t"), "{v=\"\x1b\t\"}"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}

	if got, want := status.L("b", "2", "a", "1"), (status.Labels{{"b", "2"}, {"a", "1"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("L = %v, want %v", got, want)
	}
	if _, ok := panicMessage(func() { status.L("a", "1", "b") }); !ok {
		t.Error("L with an odd count did not panic")
	}

	d := status.NewCounter("messages_total", "h", "result", "proto")
	if got, want := d.Field(1, "ok", "udp").Labels(), status.L("result", "ok", "proto", "udp"); !reflect.DeepEqual(got, want) {
		t.Errorf("Field.Labels = %v, want %v", got, want)
	}
}

func TestSectionNames(t *testing.T) {
	logins := status.NewCounter("logins_total", "h", "result")
	tests := []struct {
		s          status.Section
		id, metric string
	}{
		{status.Section{Name: "shell"}, "shell", "ferry_shell_logins_total"},
		{status.Section{Name: "syslog", Labels: status.L("listener", "udp1")}, `syslog{listener="udp1"}`, "ferry_syslog_logins_total"},
	}
	for _, tt := range tests {
		if got := tt.s.ID(); got != tt.id {
			t.Errorf("ID() = %q, want %q", got, tt.id)
		}
		if got := tt.s.MetricName(logins.Field(1, "failed")); got != tt.metric {
			t.Errorf("%s: MetricName = %q, want %q", tt.id, got, tt.metric)
		}
	}
}

func TestRegisterRefusesDuplicate(t *testing.T) {
	tests := []struct {
		name         string
		first, again string
		l1, l2       status.Labels
		wantErr      string // "" when both may stand side by side
	}{
		{"same name no labels", "shell", "shell", nil, status.L(), `status section "shell": already registered`},
		{"same labels", "syslog", "syslog", status.L("listener", "udp1"), status.L("listener", "udp1"),
			`status section "syslog{listener=\"udp1\"}": already registered`},
		{"same labels other order", "syslog", "syslog", status.L("a", "1", "b", "2"), status.L("b", "2", "a", "1"),
			`status section "syslog{b=\"2\",a=\"1\"}": already registered`},
		{"other label value", "syslog", "syslog", status.L("listener", "udp1"), status.L("listener", "udp2"), ""},
		{"extra label", "syslog", "syslog", status.L("listener", "udp1"), status.L("listener", "udp1", "proto", "udp"), ""},
		{"labels against none", "syslog", "syslog", nil, status.L("listener", "udp1"), ""},
		{"other name same labels", "syslog", "snmptrap", status.L("listener", "udp1"), status.L("listener", "udp1"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := status.New()
			if _, err := m.Register(tt.first, tt.l1, none); err != nil {
				t.Fatal(err)
			}
			r, err := m.Register(tt.again, tt.l2, none)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("second Register: %v", err)
				}
				if got := len(m.Snapshot()); got != 2 {
					t.Errorf("%d sections, want both side by side", got)
				}
				return
			}
			if !errors.Is(err, status.ErrDuplicate) || err.Error() != tt.wantErr {
				t.Fatalf("second Register: %v, want %q wrapping ErrDuplicate", err, tt.wantErr)
			}
			if r != nil {
				t.Error("refused Register returned a Registration")
			}
			if got := len(m.Snapshot()); got != 1 {
				t.Errorf("%d sections after a refused Register, want 1", got)
			}
		})
	}
}

func TestRegisterInvalid(t *testing.T) {
	tests := []struct {
		name   string
		sec    string
		labels status.Labels
		p      status.Provider
		want   string
	}{
		{"empty name", "", nil, none, `status section "": name must match [a-z_][a-z0-9_]*`},
		{"dotted name", "net.syslog", nil, none, `status section "net.syslog": name must match`},
		{"upper case", "Shell", nil, none, "name must match"},
		{"nil provider", "shell", nil, nil, `status section "shell": nil provider`},
		{"bad label", "syslog", status.L("Listener", "udp1"), none, `label name "Listener" must match`},
		{"reserved label", "syslog", status.L("__name__", "x"), none, `label name "__name__" is reserved`},
		{"label twice", "syslog", status.L("a", "1", "a", "2"), none, `label name "a" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := status.New()
			r, err := m.Register(tt.sec, tt.labels, tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Register: %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, status.ErrDuplicate) || r != nil {
				t.Errorf("Register: r = %v, err %v wraps ErrDuplicate", r, err)
			}
			if got := m.Snapshot(); len(got) != 0 {
				t.Errorf("sections after a refused Register: %v", ids(got))
			}
		})
	}
}

func TestRemove(t *testing.T) {
	m := status.New()
	labels := status.L("listener", "udp1")
	a, _ := m.Register("a", nil, none)
	r, err := m.Register("syslog", labels, none)
	if err != nil {
		t.Fatal(err)
	}
	labels[0].Value = "changed" // Register must have kept its own copy
	b, _ := m.Register("b", nil, none)

	r.Remove()
	r.Remove()
	(*status.Registration)(nil).Remove()
	if got, want := ids(m.Snapshot()), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("after Remove: %v, want %v", got, want)
	}

	r2, err := m.Register("syslog", status.L("listener", "udp1"), none)
	if err != nil {
		t.Fatalf("Register after Remove: %v", err)
	}
	r.Remove() // the old registration must not take the new one with it
	if got, want := ids(m.Snapshot()), []string{"a", "b", `syslog{listener="udp1"}`}; !slices.Equal(got, want) {
		t.Fatalf("after re-register and a stale Remove: %v, want %v", got, want)
	}

	for _, x := range []*status.Registration{a, r2, b} {
		x.Remove()
	}
	if got := m.Snapshot(); len(got) != 0 {
		t.Errorf("after removing all: %v", ids(got))
	}
}

func TestSnapshotKeepsRegistrationOrder(t *testing.T) {
	m := status.New()
	g := status.NewGauge("index", "", "h")
	order := []string{"system", "shell", "confdb", "alpha", "zeta", "beta"}
	regs := map[string]*status.Registration{}
	for i, n := range order {
		regs[n], _ = m.Register(n, nil, func() []status.Field { return []status.Field{g.Field(i)} })
	}
	regs["confdb"].Remove()
	want := []string{"system", "shell", "alpha", "zeta", "beta"}
	snap := m.Snapshot()
	if got := ids(snap); !slices.Equal(got, want) {
		t.Fatalf("sections = %v, want %v", got, want)
	}
	for _, s := range snap {
		if got := s.Fields[0].Value; got != slices.Index(order, s.Name) {
			t.Errorf("section %s has value %v from another provider", s.Name, got)
		}
	}
}

func TestProviderCalledEachSnapshot(t *testing.T) {
	m := status.New()
	c := status.NewCounter("calls_total", "h")
	var calls atomic.Int64
	if _, err := m.Register("counter", nil, func() []status.Field {
		return []status.Field{c.Field(calls.Add(1))}
	}); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		snap := m.Snapshot()
		if len(snap) != 1 || len(snap[0].Fields) != 1 || snap[0].Fields[0].Value != want {
			t.Fatalf("snapshot %d = %+v, want calls_total %d", want, snap, want)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("provider called %d times for 3 snapshots", got)
	}
}

// A provider may register or remove (a component starting late, or one that
// notices it has closed): Snapshot must not hold the lock while calling it.
func TestProviderMayRegister(t *testing.T) {
	m := status.New()
	var self *status.Registration
	self, _ = m.Register("starter", nil, func() []status.Field {
		if _, err := m.Register("late", nil, none); err != nil {
			t.Errorf("Register from a provider: %v", err)
		}
		self.Remove()
		return nil
	})
	done := make(chan []status.Section, 1)
	go func() { done <- m.Snapshot() }()
	select {
	case first := <-done:
		if got := ids(first); !slices.Equal(got, []string{"starter"}) {
			t.Errorf("first snapshot = %v, want [starter]", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Snapshot deadlocked on a provider that registers")
	}
	if got := ids(m.Snapshot()); !slices.Equal(got, []string{"late"}) {
		t.Errorf("second snapshot = %v, want [late]", got)
	}
}

func TestConcurrentRegisterRemoveSnapshot(t *testing.T) {
	m := status.New()
	g := status.NewGauge("g", "", "h")
	const workers, rounds = 4, 100
	var wg sync.WaitGroup
	var won atomic.Int64
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Every worker races for the same section: exactly one may win.
			if _, err := m.Register("race", nil, none); err == nil {
				won.Add(1)
			} else if !errors.Is(err, status.ErrDuplicate) {
				t.Errorf("race: %v", err)
			}
			for i := range rounds {
				r, err := m.Register("conc", status.L("w", strconv.Itoa(w), "i", strconv.Itoa(i)),
					func() []status.Field { return []status.Field{g.Field(i)} })
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					r.Remove()
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				snap := m.Snapshot()
				seen := map[string]bool{}
				for _, id := range ids(snap) {
					if seen[id] {
						t.Errorf("section %s twice in one snapshot", id)
					}
					seen[id] = true
				}
			}
		}()
	}
	wg.Wait()
	if got := won.Load(); got != 1 {
		t.Errorf("%d workers registered the same section", got)
	}
	if got, want := len(m.Snapshot()), 1+workers*rounds/2; got != want {
		t.Errorf("%d sections at the end, want %d", got, want)
	}
}

func sampleSnapshot() []status.Section {
	version := status.NewInfo("version", "Ferry version.")
	hostname := status.NewInfo("hostname", "Host name.")
	uptime := status.NewGauge("uptime_seconds", "seconds", "Time since ferryd started.")
	size := status.NewGauge("confdb_size_bytes", "bytes", "Size of the confdb file.")
	messages := status.NewCounter("messages_total", "Messages received, by result.", "result")
	fill := status.NewGauge("queue_fill_ratio", "", "How full the input queue is.")
	connected := status.NewGauge("connected", "", "Whether the peer is connected.")
	age := status.NewGauge("last_message_age_seconds", "seconds", "Time since the last message.")
	return []status.Section{
		{Name: "system", Fields: []status.Field{
			version.Field("1.2.0"),
			hostname.Field("ferry\x1b]0;pwned\a\x7f\u009b\xff-01"),
			uptime.Field(int64(3723)),
			size.Field(uint64(32768)),
		}},
		{Name: "syslog", Labels: status.L("listener", "udp1", "proto", "udp"), Fields: []status.Field{
			messages.Field(uint64(10), "ok"),
			messages.Field(2, "dropped"),
			fill.Field(float32(0.1)),
			connected.Field(true),
			age.Field(1.5),
		}},
	}
}

func TestWriteText(t *testing.T) {
	want := `[system]
version:            1.2.0
hostname:           ferry\x1b]0;pwned\x07\x7f\x9b\xff-01
uptime_seconds:     3723 (1h2m3s)
confdb_size_bytes:  32768

[syslog{listener="udp1",proto="udp"}]
messages_total{result="ok"}:       10
messages_total{result="dropped"}:  2
queue_fill_ratio:                  0.1
connected:                         1
last_message_age_seconds:          1.5 (1.5s)
`
	var b strings.Builder
	if err := status.WriteText(&b, sampleSnapshot()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTextEscapesKeysAndHeaders(t *testing.T) {
	d := status.NewGauge("g", "", "h", "peer")
	secs := []status.Section{{Name: "relay", Labels: status.L("peer", "a\x1bb\nc"),
		Fields: []status.Field{d.Field(math.NaN(), "\u0085x"), d.Field(math.Inf(-1), "")}}}
	want := `[relay{peer="a\x1bb\nc"}]
g{peer="\x85x"}:  NaN
g{peer=""}:       -Inf
`
	var b strings.Builder
	if err := status.WriteText(&b, secs); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteTextReturnsWriteError(t *testing.T) {
	if err := status.WriteText(failWriter{}, sampleSnapshot()); err == nil || err.Error() != "broken pipe" {
		t.Errorf("WriteText to a broken writer: %v", err)
	}
}

func TestMarshalJSON(t *testing.T) {
	nan := status.NewGauge("skew_seconds", "seconds", "Clock skew.")
	secs := append(sampleSnapshot(),
		status.Section{Name: "empty"},
		status.Section{Name: "clock", Fields: []status.Field{nan.Field(math.NaN())}})
	want := `[` +
		`{"section":"system","labels":{},"fields":[` +
		`{"name":"version","kind":"info","help":"Ferry version.","unit":"","labels":{},"value":"1.2.0"},` +
		`{"name":"hostname","kind":"info","help":"Host name.","unit":"","labels":{},"value":"ferry\u001b]0;pwned\u0007\u007f\u009b\ufffd-01"},` +
		`{"name":"uptime_seconds","kind":"gauge","help":"Time since ferryd started.","unit":"seconds","labels":{},"value":3723},` +
		`{"name":"confdb_size_bytes","kind":"gauge","help":"Size of the confdb file.","unit":"bytes","labels":{},"value":32768}]},` +
		`{"section":"syslog","labels":{"listener":"udp1","proto":"udp"},"fields":[` +
		`{"name":"messages_total","kind":"counter","help":"Messages received, by result.","unit":"","labels":{"result":"ok"},"value":10},` +
		`{"name":"messages_total","kind":"counter","help":"Messages received, by result.","unit":"","labels":{"result":"dropped"},"value":2},` +
		`{"name":"queue_fill_ratio","kind":"gauge","help":"How full the input queue is.","unit":"","labels":{},"value":0.1},` +
		`{"name":"connected","kind":"gauge","help":"Whether the peer is connected.","unit":"","labels":{},"value":1},` +
		`{"name":"last_message_age_seconds","kind":"gauge","help":"Time since the last message.","unit":"seconds","labels":{},"value":1.5}]},` +
		`{"section":"empty","labels":{},"fields":[]},` +
		`{"section":"clock","labels":{},"fields":[` +
		`{"name":"skew_seconds","kind":"gauge","help":"Clock skew.","unit":"seconds","labels":{},"value":null}]}` +
		`]`
	got, err := json.Marshal(secs)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("json.Marshal:\n%s\nwant:\n%s", got, want)
	}

	// Read it back: the hand-written JSON must be valid and mean the same.
	var back []struct {
		Section string
		Labels  map[string]string
		Fields  []struct {
			Name, Kind, Help, Unit string
			Labels                 map[string]string
			Value                  any
		}
	}
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if len(back) != len(secs) {
		t.Fatalf("read back %d sections, want %d", len(back), len(secs))
	}
	for i, s := range secs {
		b := back[i]
		if b.Section != s.Name || len(b.Labels) != len(s.Labels) || len(b.Fields) != len(s.Fields) {
			t.Errorf("section %d read back as %+v", i, b)
			continue
		}
		for _, l := range s.Labels {
			if b.Labels[l.Name] != l.Value {
				t.Errorf("%s: label %s read back as %q", s.ID(), l.Name, b.Labels[l.Name])
			}
		}
		for j, f := range s.Fields {
			bf := b.Fields[j]
			if bf.Name != f.Desc.Name() || bf.Kind != string(f.Desc.Kind()) || bf.Help != f.Desc.Help() || bf.Unit != f.Desc.Unit() {
				t.Errorf("%s: field %d read back as %+v", s.ID(), j, bf)
			}
			switch v := bf.Value.(type) {
			case string:
				if f.Desc.Kind() != status.Info {
					t.Errorf("%s: %s is a string in JSON", s.ID(), bf.Name)
				}
			case float64:
				if math.Abs(v-f.Float()) > 1e-6 {
					t.Errorf("%s: %s read back as %v, want %v", s.ID(), bf.Name, v, f.Float())
				}
			case nil:
				if !math.IsNaN(f.Float()) {
					t.Errorf("%s: %s is null, want %v", s.ID(), bf.Name, f.Float())
				}
			}
		}
	}
}

// A point in time (a _timestamp_seconds gauge) reads as a date, not as a duration.
func TestWriteTextTimestamps(t *testing.T) {
	expiry := status.NewGauge("expiry_timestamp_seconds", "seconds", "When it expires", "alias")
	snap := []status.Section{{Name: "certificate", Fields: []status.Field{
		expiry.Field(int64(1900000000), "ferry-web"), expiry.Field(int64(0), "never")}}}
	var b strings.Builder
	if err := status.WriteText(&b, snap); err != nil {
		t.Fatal(err)
	}
	want := "[certificate]\n" +
		`expiry_timestamp_seconds{alias="ferry-web"}:  1900000000 (2030-03-17T17:46:40Z)` + "\n" +
		`expiry_timestamp_seconds{alias="never"}:      0` + "\n"
	if got := b.String(); got != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", got, want)
	}
}

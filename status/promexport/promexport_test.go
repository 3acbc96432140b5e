package promexport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-appliance/ferry/status"
)

var (
	logins    = status.NewCounter("logins_total", "SSH logins by result.", "result")
	uptime    = status.NewGauge("uptime_seconds", "seconds", "Time since the service started.")
	version   = status.NewInfo("version", "Ferry version.")
	build     = status.NewInfo("build_info", "Build commit.")
	ratio     = status.NewGauge("ratio", "", "A float that may be NaN or infinite.")
	listening = status.NewGauge("listening", "", "1 while the listener accepts connections.")
	expiry    = status.NewGauge("expiry_timestamp_seconds", "seconds", "When the certificate expires.", "alias")
	received  = status.NewCounter("received_total", "Messages received.")
	rejected  = status.NewCounter("rejected_total", "Messages rejected by reason.", "reason")
	locked    = status.NewGauge("locked_addresses", "", "Addresses locked out now.")
	up        = status.NewGauge("up", "", "1 if up.")
	upPort    = status.NewGauge("up", "", "1 if up, by port.", "port")
	// Names that only collide once a section prefixes them.
	cTotal    = status.NewCounter("c_total", "c.")
	bCTotal   = status.NewCounter("b_c_total", "b c.")
	loginsNow = status.NewGauge("logins", "", "Sessions open now.")
	dropped   = status.NewCounter("dropped_series_total", "Shadows the exporter's counter.")
)

// flat is a metric family reduced to what the tests compare.
type flat struct {
	Type   string
	Help   string
	Series map[string]string // {a="1",b="2"} (sorted) -> value
}

// ferryFamilies keeps the ferry_ families of fams, so the Go and process
// collectors' figures do not get in the way of exact comparisons.
func ferryFamilies(fams map[string]*dto.MetricFamily) map[string]flat {
	out := map[string]flat{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "ferry_") {
			continue
		}
		ff := flat{Type: f.GetType().String(), Help: f.GetHelp(), Series: map[string]string{}}
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			slices.Sort(pairs)
			v := m.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			k := "{" + strings.Join(pairs, ",") + "}"
			if _, dup := ff.Series[k]; dup {
				k += " (again)"
			}
			ff.Series[k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		out[name] = ff
	}
	return out
}

// scrape GETs /metrics with accept, checks the body parses in the format the
// server says it sent, and returns the families and the body.
func scrape(t *testing.T, url, accept string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v: %s", resp.StatusCode, err, body)
	}
	format := expfmt.ResponseFormat(resp.Header)
	if format.FormatType() == expfmt.TypeTextPlain {
		// The strict way: TextParser fails on a second HELP or TYPE line,
		// a type mismatch or a malformed line.
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("text exposition does not parse: %v\n%s", err, body)
		}
		checkNoDuplicates(t, fams)
		return fams, string(body)
	}
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s exposition does not decode: %v", format, err)
		}
		if fams[f.GetName()] != nil {
			t.Fatalf("family %s sent twice", f.GetName())
		}
		fams[f.GetName()] = f
	}
	checkNoDuplicates(t, fams)
	return fams, string(body)
}

// checkNoDuplicates fails on two series with the same labels, which the
// parsers accept but Prometheus rejects.
func checkNoDuplicates(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range ferryFamilies(fams) {
		for k := range f.Series {
			if strings.HasSuffix(k, " (again)") {
				t.Errorf("%s%s is exposed twice", name, strings.TrimSuffix(k, " (again)"))
			}
		}
	}
}

func scrapeFerry(t *testing.T, url, accept string) map[string]flat {
	t.Helper()
	fams, _ := scrape(t, url, accept)
	return ferryFamilies(fams)
}

func serve(t *testing.T, src Snapshotter) (url string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	srv := httptest.NewServer(Handler(src, slog.New(slog.NewTextHandler(logs, nil))))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics", logs
}

// syncBuffer is a log sink for concurrent scrapes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func register(t *testing.T, m *status.Model, name string, labels status.Labels, fields ...status.Field) *status.Registration {
	t.Helper()
	r, err := m.Register(name, labels, func() []status.Field { return fields })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHandlerExportsTheModel(t *testing.T) {
	m := status.New()
	register(t, m, "shell", nil, logins.Field(3, "ok"), logins.Field(uint64(2), "failed"), uptime.Field(int64(42)))
	register(t, m, "system", nil, version.Field("0.2.0"), build.Field("abc123"),
		ratio.Field(math.NaN()), listening.Field(true))
	register(t, m, "certificate", nil, expiry.Field(int64(1900000000), "ferry-web"), expiry.Field(1.8e9, "ferry-ca"))
	register(t, m, "syslog", status.L("listener", "udp1"), received.Field(10), rejected.Field(1, "too_long"), listening.Field(true))
	register(t, m, "syslog", status.L("listener", "tcp2"), received.Field(20), rejected.Field(2, "too_long"), listening.Field(false))
	register(t, m, "lockout", nil, locked.Field(0), ratio.Field(math.Inf(-1)))
	url, logs := serve(t, m)
	fams, body := scrape(t, url, "")

	want := map[string]flat{
		"ferry_shell_logins_total": {"COUNTER", "SSH logins by result.",
			map[string]string{`{result="ok"}`: "3", `{result="failed"}`: "2"}},
		"ferry_shell_uptime_seconds": {"GAUGE", "Time since the service started.", map[string]string{`{}`: "42"}},
		"ferry_system_version_info":  {"GAUGE", "Ferry version.", map[string]string{`{version="0.2.0"}`: "1"}},
		"ferry_system_build_info":    {"GAUGE", "Build commit.", map[string]string{`{build="abc123"}`: "1"}},
		"ferry_system_ratio":         {"GAUGE", "A float that may be NaN or infinite.", map[string]string{`{}`: "NaN"}},
		"ferry_system_listening":     {"GAUGE", "1 while the listener accepts connections.", map[string]string{`{}`: "1"}},
		"ferry_certificate_expiry_timestamp_seconds": {"GAUGE", "When the certificate expires.",
			map[string]string{`{alias="ferry-web"}`: "1.9e+09", `{alias="ferry-ca"}`: "1.8e+09"}},
		"ferry_syslog_received_total": {"COUNTER", "Messages received.",
			map[string]string{`{listener="udp1"}`: "10", `{listener="tcp2"}`: "20"}},
		"ferry_syslog_rejected_total": {"COUNTER", "Messages rejected by reason.",
			map[string]string{`{listener="udp1",reason="too_long"}`: "1", `{listener="tcp2",reason="too_long"}`: "2"}},
		"ferry_syslog_listening": {"GAUGE", "1 while the listener accepts connections.",
			map[string]string{`{listener="udp1"}`: "1", `{listener="tcp2"}`: "0"}},
		"ferry_lockout_locked_addresses": {"GAUGE", "Addresses locked out now.", map[string]string{`{}`: "0"}},
		"ferry_lockout_ratio":            {"GAUGE", "A float that may be NaN or infinite.", map[string]string{`{}`: "-Inf"}},
		droppedName:                      {"COUNTER", droppedHelp(), map[string]string{`{}`: "0"}},
	}
	if got := ferryFamilies(fams); !reflect.DeepEqual(got, want) {
		t.Errorf("families differ\n got %v\nwant %v\n%s", got, want, body)
	}
	// The section's labels come first, then the field's.
	if !strings.Contains(body, `ferry_syslog_rejected_total{listener="udp1",reason="too_long"} 1`+"\n") {
		t.Errorf("label order or format:\n%s", body)
	}
	for name := range want {
		for _, meta := range []string{"# HELP " + name + " ", "# TYPE " + name + " "} {
			if n := strings.Count(body, meta); n != 1 {
				t.Errorf("%q appears %d times, want once", meta, n)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("%s missing: the Go or process collector is not registered", name)
		}
	}
	if logs.String() != "" {
		t.Errorf("a clean model logged:\n%s", logs)
	}
}

func droppedHelp() string {
	// Read back from the Desc, so the test does not restate the sentence.
	s := droppedDesc.String()
	_, rest, _ := strings.Cut(s, `help: "`)
	h, _, _ := strings.Cut(rest, `"`)
	return h
}

// snapshot is a Snapshotter of fixed sections, for fields the model's
// constructors refuse to build.
type snapshot []status.Section

func (s snapshot) Snapshot() []status.Section { return s }

// Each case has a series the exposition cannot hold beside the first one: it
// is left out and counted, the first one stays, the output still parses and
// each metric name is logged once however many scrapes.
func TestConflictsDroppedAndCounted(t *testing.T) {
	sec := func(name string, labels status.Labels, fields ...status.Field) status.Section {
		return status.Section{Name: name, Labels: labels, Fields: fields}
	}
	tests := []struct {
		name    string
		secs    snapshot
		metric  string            // the family that must keep its first series
		want    map[string]string // its series
		dropped int               // per scrape
	}{
		{"other label names",
			snapshot{sec("httpd", nil, up.Field(true)), sec("httpd", status.L("listener", "x"), upPort.Field(true, "8443"))},
			"ferry_httpd_up", map[string]string{`{}`: "1"}, 1},
		{"other label names, other order of sections",
			snapshot{sec("httpd", status.L("listener", "x"), upPort.Field(false, "8443")), sec("httpd", nil, up.Field(true))},
			"ferry_httpd_up", map[string]string{`{listener="x",port="8443"}`: "0"}, 1},
		{"two sections make the same series",
			snapshot{sec("a_b", nil, cTotal.Field(1)), sec("a", nil, bCTotal.Field(2))},
			"ferry_a_b_c_total", map[string]string{`{}`: "1"}, 1},
		{"one provider gives a series twice",
			snapshot{sec("shell", nil, logins.Field(1, "ok"), logins.Field(5, "ok"), logins.Field(2, "failed"))},
			"ferry_shell_logins_total", map[string]string{`{result="ok"}`: "1", `{result="failed"}`: "2"}, 1},
		{"a field label named like the section's",
			snapshot{sec("shell", nil, logins.Field(1, "ok")), sec("shell", status.L("result", "x"), logins.Field(2, "ok"))},
			"ferry_shell_logins_total", map[string]string{`{result="ok"}`: "1"}, 1},
		{"an info label named like the section's",
			snapshot{sec("system", status.L("version", "x"), version.Field("0.2.0"), uptime.Field(1))},
			"ferry_system_uptime_seconds", map[string]string{`{version="x"}`: "1"}, 1},
		{"a gauge and a counter of one OpenMetrics family",
			snapshot{sec("shell", nil, logins.Field(4, "ok"), loginsNow.Field(1))},
			"ferry_shell_logins_total", map[string]string{`{result="ok"}`: "4"}, 1},
		{"a section shadows the exporter's counter",
			snapshot{sec("exporter", nil, dropped.Field(99))},
			droppedName, nil, 1},
		{"a NaN, negative or infinite counter",
			snapshot{sec("shell", nil,
				status.Field{Desc: logins, LabelValues: []string{"ok"}, Value: math.NaN()},
				status.Field{Desc: logins, LabelValues: []string{"failed"}, Value: -1},
				status.Field{Desc: logins, LabelValues: []string{"locked"}, Value: math.Inf(1)},
				logins.Field(7, "other"))},
			"ferry_shell_logins_total", map[string]string{`{result="other"}`: "7"}, 3},
		{"an info that is not a string, a field without Desc",
			snapshot{sec("system", nil, status.Field{Desc: version, Value: 3}, status.Field{Value: 1}, uptime.Field(9))},
			"ferry_system_uptime_seconds", map[string]string{`{}`: "9"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, logs := serve(t, tc.secs)
			var fams map[string]*dto.MetricFamily
			var body string
			for range 3 {
				fams, body = scrape(t, url, "")
			}
			got := ferryFamilies(fams)
			if tc.want != nil && !reflect.DeepEqual(got[tc.metric].Series, tc.want) {
				t.Errorf("%s = %v, want %v\n%s", tc.metric, got[tc.metric].Series, tc.want, body)
			}
			// Counted on every scrape: three so far.
			if n := got[droppedName].Series[`{}`]; n != strconv.Itoa(3*tc.dropped) {
				t.Errorf("%s = %s, want %d\n%s", droppedName, n, 3*tc.dropped, body)
			}
			names := map[string]bool{}
			for line := range strings.Lines(logs.String()) {
				if !strings.Contains(line, "series left out") {
					t.Errorf("unexpected log line %q", line)
					continue
				}
				_, rest, _ := strings.Cut(line, "metric=")
				name, _, _ := strings.Cut(rest, " ")
				if names[name] {
					t.Errorf("%s logged twice:\n%s", name, logs)
				}
				names[name] = true
			}
			if len(names) == 0 {
				t.Error("nothing logged")
			}
		})
	}
}

func TestSectionsComeAndGo(t *testing.T) {
	m := status.New()
	register(t, m, "syslog", status.L("listener", "udp1"), received.Field(1))
	tcp := register(t, m, "syslog", status.L("listener", "tcp2"), received.Field(2))
	gone := register(t, m, "lockout", nil, locked.Field(3))
	url, _ := serve(t, m)

	fams, _ := scrape(t, url, "")
	if got := ferryFamilies(fams); len(got["ferry_syslog_received_total"].Series) != 2 || got["ferry_lockout_locked_addresses"].Series == nil {
		t.Fatalf("before Remove: %v", got)
	}
	tcp.Remove()
	gone.Remove()
	register(t, m, "shell", nil, logins.Field(1, "ok"))
	got := scrapeFerry(t, url, "")
	if s := got["ferry_syslog_received_total"].Series; !reflect.DeepEqual(s, map[string]string{`{listener="udp1"}`: "1"}) {
		t.Errorf("after Remove, received = %v", s)
	}
	if _, ok := got["ferry_lockout_locked_addresses"]; ok {
		t.Error("a removed section's family is still exported")
	}
	if _, ok := got["ferry_shell_logins_total"]; !ok {
		t.Error("a section registered after the first scrape is missing")
	}
}

// Sections of one name registered with their labels in another order are one
// family, each value under its own label.
func TestLabelOrderAndValues(t *testing.T) {
	m := status.New()
	register(t, m, "syslog", status.L("listener", "a", "proto", "udp"), received.Field(1))
	register(t, m, "syslog", status.L("proto", "tcp", "listener", "b"), received.Field(2))
	register(t, m, "host", status.L("name", "bad\xffutf8 \"quoted\"\nline"), locked.Field(1))
	url, logs := serve(t, m)
	got := scrapeFerry(t, url, "")
	want := map[string]string{`{listener="a",proto="udp"}`: "1", `{listener="b",proto="tcp"}`: "2"}
	if s := got["ferry_syslog_received_total"].Series; !reflect.DeepEqual(s, want) {
		t.Errorf("received = %v, want %v", s, want)
	}
	want = map[string]string{"{name=" + strconv.Quote("bad\ufffdutf8 \"quoted\"\nline") + "}": "1"}
	if s := got["ferry_host_locked_addresses"].Series; !reflect.DeepEqual(s, want) {
		t.Errorf("escaped label = %v, want %v", s, want)
	}
	if logs.String() != "" {
		t.Errorf("logged:\n%s", logs)
	}
}

// Whatever the scraper asks for, the answer decodes and holds the same
// figures: OpenMetrics is negotiated down to text (see Handler), protobuf is
// served as protobuf.
func TestContentNegotiation(t *testing.T) {
	m := status.New()
	register(t, m, "shell", nil, logins.Field(3, "ok"), uptime.Field(1.5))
	register(t, m, "system", nil, version.Field("0.2.0"), ratio.Field(math.NaN()))
	register(t, m, "certificate", nil, expiry.Field(int64(1900000000), "ferry-web"))
	url, _ := serve(t, m)
	plain := scrapeFerry(t, url, "")
	if len(plain) != 6 {
		t.Fatalf("text: %d families, want 6: %v", len(plain), plain)
	}
	for _, accept := range []string{
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"application/openmetrics-text; version=1.0.0",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"text/plain;version=1.0.0;escaping=allow-utf-8",
	} {
		t.Run(accept, func(t *testing.T) {
			if got := scrapeFerry(t, url, accept); !reflect.DeepEqual(got, plain) {
				t.Errorf("got %v\nwant %v", got, plain)
			}
		})
	}
}

func TestCollectAndCompare(t *testing.T) {
	m := status.New()
	register(t, m, "shell", nil, logins.Field(2, "failed"), logins.Field(5, "ok"))
	register(t, m, "certificate", status.L("store", "web"), expiry.Field(int64(1900000000), "ferry-web"))
	register(t, m, "system", nil, version.Field("0.2.0"))
	c := NewCollector(m)
	want := `
# HELP ferry_certificate_expiry_timestamp_seconds When the certificate expires.
# TYPE ferry_certificate_expiry_timestamp_seconds gauge
ferry_certificate_expiry_timestamp_seconds{alias="ferry-web",store="web"} 1.9e+09
# HELP ferry_exporter_dropped_series_total ` + droppedHelp() + `
# TYPE ferry_exporter_dropped_series_total counter
ferry_exporter_dropped_series_total 0
# HELP ferry_shell_logins_total SSH logins by result.
# TYPE ferry_shell_logins_total counter
ferry_shell_logins_total{result="failed"} 2
ferry_shell_logins_total{result="ok"} 5
# HELP ferry_system_version_info Ferry version.
# TYPE ferry_system_version_info gauge
ferry_system_version_info{version="0.2.0"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// The pedantic registry also checks what an unchecked collector sends.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Errorf("pedantic Gather: %v", err)
	}
}

// Scrapes race with sections registering and leaving; run with -race.
func TestConcurrentScrapes(t *testing.T) {
	m := status.New()
	register(t, m, "shell", nil, logins.Field(1, "ok"))
	url, _ := serve(t, m)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := m.Register("syslog", status.L("listener", strconv.Itoa(i%4)), func() []status.Field {
				return []status.Field{received.Field(i)}
			})
			if err == nil && i%2 == 0 {
				r.Remove()
			}
		}
	})
	var scrapers sync.WaitGroup
	for range 4 {
		scrapers.Go(func() {
			for range 10 {
				fams, _ := scrape(t, url, "")
				if fams["ferry_shell_logins_total"] == nil {
					t.Error("a stable section went missing")
				}
			}
		})
	}
	scrapers.Wait()
	close(stop)
	wg.Wait()
	if got := slices.Collect(maps.Keys(scrapeFerry(t, url, ""))); !slices.Contains(got, "ferry_syslog_received_total") {
		t.Errorf("families %v", got)
	}
}

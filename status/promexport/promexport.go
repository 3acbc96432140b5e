// Package promexport serves the status model as Prometheus metrics, so
// /metrics shows the same figures as the shell and the web console, named
// ferry_<section>_<field>, with client_golang doing the exposition (the text
// format, or protobuf when the scraper asks for it).
//
// The mapping:
//
//   - a counter field is a counter, a gauge field a gauge (a bool reads 0 or
//     1; NaN and ±Inf pass through);
//   - an info field is a gauge of value 1 named ferry_<section>_<field>_info
//     (no second _info when the field's name already ends in it) whose string
//     is in a label named after the field without _info, for example
//     ferry_system_version_info{version="0.2.0"} 1;
//   - the labels are the section's followed by the field's, and HELP is the
//     field's help.
//
// The exposition must stay valid whatever the sections report, since one bad
// series would otherwise fail the whole scrape. A series is left out, counted
// in ferry_exporter_dropped_series_total and logged once per metric name, when
// its metric name was already given other label names, another type or the
// same label values by a section earlier in the snapshot, when a counter and a
// gauge would share an OpenMetrics family name (ferry_x_total and ferry_x), or
// when its own labels or value are invalid (a label twice, a NaN counter).
package promexport

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-appliance/ferry/status"
)

// Snapshotter is the read side of the status model (*status.Model satisfies
// it). An interface, so the exporter can be tested without components.
type Snapshotter interface{ Snapshot() []status.Section }

// droppedName is the exporter's own counter of left-out series.
const droppedName = "ferry_exporter_dropped_series_total"

var droppedDesc = prometheus.NewDesc(droppedName,
	"Series left out of the metrics because another section gave their name other labels or another type or the same labels, or their labels or value were invalid.",
	nil, nil)

// NewCollector returns a collector of src's sections for a prometheus
// registry. It is unchecked (Describe sends nothing) because sections come
// and go as listeners open and close; each Collect takes one Snapshot, so a
// scrape is consistent. Left-out series are logged to slog.Default.
func NewCollector(src Snapshotter) prometheus.Collector {
	return newCollector(src, slog.Default())
}

func newCollector(src Snapshotter, log *slog.Logger) *collector {
	return &collector{src: src, log: log, logged: map[string]bool{}}
}

// collector is safe for concurrent scrapes: each Collect builds its own
// families; only the drop count and the set of logged names are shared.
type collector struct {
	src     Snapshotter
	log     *slog.Logger
	dropped atomic.Uint64

	mu     sync.Mutex
	logged map[string]bool // metric names whose drop was logged
}

// Describe sends nothing: the collector is unchecked.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// series is one field as a Prometheus sample.
type series struct {
	name          string
	counter       bool
	help, unit    string
	names, values []string
	value         float64
}

// family is what the first series of a metric name fixed; later series of
// the name must agree with it.
type family struct {
	counter bool
	names   []string         // label names in the first series' order
	set     string           // the names sorted, comma-joined
	desc    *prometheus.Desc // one Desc per family: one HELP and TYPE
	seen    map[string]bool  // label values (in names order) already sent
}

// Collect takes one snapshot and sends one metric per field it can export,
// then the drop counter.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	fams := map[string]*family{
		// Reserved, so a section cannot shadow the exporter's own counter.
		droppedName: {counter: true, seen: map[string]bool{"": true}},
	}
	bases := map[string]string{omBase(droppedName, true): droppedName}
	for _, sec := range c.src.Snapshot() {
		for _, f := range sec.Fields {
			s, err := toSeries(sec, f)
			if err == nil {
				var m prometheus.Metric
				if m, err = add(fams, bases, s); err == nil {
					ch <- m
					continue
				}
			}
			c.drop(s.name, sec.ID(), err)
		}
	}
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.dropped.Load()))
}

// toSeries maps f of sec to a sample. s.name is set even on error, for the log.
func toSeries(sec status.Section, f status.Field) (s series, err error) {
	if f.Desc == nil {
		return series{name: "ferry_" + sec.Name + "_?"}, errors.New("field has no Desc")
	}
	d := f.Desc
	s = series{name: sec.MetricName(f), counter: d.Kind() == status.Counter, help: d.Help(), unit: d.Unit(), value: f.Float()}
	labels := slices.Concat(sec.Labels, f.Labels())
	switch d.Kind() {
	case status.Counter:
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) || s.value < 0 {
			return s, fmt.Errorf("counter value %v is not a finite non-negative number", f.Value)
		}
	case status.Info:
		v, ok := f.Value.(string)
		if !ok {
			return s, fmt.Errorf("info value is a %T, not a string", f.Value)
		}
		label, hasSuffix := strings.CutSuffix(d.Name(), "_info")
		if !hasSuffix {
			s.name += "_info"
		}
		if label == "" { // a field named just "_info"
			label = "info"
		}
		labels = append(labels, status.Label{Name: label, Value: v})
	}
	s.names = make([]string, len(labels))
	s.values = make([]string, len(labels))
	for i, l := range labels {
		if slices.Contains(s.names[:i], l.Name) {
			return s, fmt.Errorf("label %q given twice", l.Name)
		}
		// A label value must be UTF-8, and hostnames come from users.
		s.names[i], s.values[i] = l.Name, strings.ToValidUTF8(l.Value, "\uFFFD")
	}
	return s, nil
}

// add checks s against the families of this scrape and returns its metric.
func add(fams map[string]*family, bases map[string]string, s series) (prometheus.Metric, error) {
	vt := prometheus.GaugeValue
	if s.counter {
		vt = prometheus.CounterValue
	}
	set := strings.Join(slices.Sorted(slices.Values(s.names)), ",")
	fam := fams[s.name]
	if fam == nil {
		// OpenMetrics names a counter's family without _total: a gauge
		// ferry_x and a counter ferry_x_total would be two families ferry_x.
		base := omBase(s.name, s.counter)
		if other, ok := bases[base]; ok {
			return nil, fmt.Errorf("shares the OpenMetrics family name %q with %s", base, other)
		}
		desc := prometheus.V2.NewDesc(s.name, s.help, prometheus.UnconstrainedLabels(s.names), nil, prometheus.WithUnit(s.unit))
		m, err := prometheus.NewConstMetric(desc, vt, s.value, s.values...)
		if err != nil {
			return nil, err
		}
		fams[s.name] = &family{counter: s.counter, names: s.names, set: set, desc: desc, seen: map[string]bool{key(s.values): true}}
		bases[base] = s.name
		return m, nil
	}
	switch {
	case fam.counter != s.counter:
		return nil, fmt.Errorf("a %s, but an earlier section made it a %s", kindName(s.counter), kindName(fam.counter))
	case fam.set != set:
		return nil, fmt.Errorf("labels %q, but an earlier section gave it %q", s.names, fam.names)
	}
	// The same label names in another order (sections registered with their
	// labels in another order): put the values in the family's order.
	values := s.values
	if !slices.Equal(fam.names, s.names) {
		values = make([]string, len(fam.names))
		for i, n := range fam.names {
			values[i] = s.values[slices.Index(s.names, n)]
		}
	}
	k := key(values)
	if fam.seen[k] {
		return nil, errors.New("the same label values as an earlier series")
	}
	m, err := prometheus.NewConstMetric(fam.desc, vt, s.value, values...)
	if err != nil {
		return nil, err
	}
	fam.seen[k] = true
	return m, nil
}

// omBase is the OpenMetrics family name of a metric.
func omBase(name string, counter bool) string {
	if counter {
		return strings.TrimSuffix(name, "_total")
	}
	return name
}

// key joins label values with a byte UTF-8 text cannot hold.
func key(values []string) string { return strings.Join(values, "\xff") }

func kindName(counter bool) string {
	if counter {
		return "counter"
	}
	return "gauge"
}

// drop counts a left-out series and logs the first one of each metric name:
// names come from code, so the set stays small, and a scrape every few
// seconds must not flood the log with the same complaint.
func (c *collector) drop(name, section string, err error) {
	c.dropped.Add(1)
	c.mu.Lock()
	first := !c.logged[name]
	c.logged[name] = true
	c.mu.Unlock()
	if first {
		c.log.Warn("metrics: series left out (logged once per metric)",
			"metric", name, "section", section, "err", err)
	}
}

// Handler serves src's metrics, with the Go runtime's and the process's, at
// whatever path it is mounted on, from a private registry so nothing else in
// the process can add to or break the exposition. Errors are logged to log
// (nil: slog.Default) and the rest is still served; they are also counted in
// promhttp_metric_handler_errors_total.
func Handler(src Snapshotter, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	// Cannot fail: a fresh registry and collectors of distinct names.
	reg.MustRegister(newCollector(src, log),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// OpenMetrics stays off: the Go collector's go_memstats_alloc_bytes gauge
	// and go_memstats_alloc_bytes_total counter are one family there, which
	// is invalid (prometheus/client_golang#829). A scraper asking for it gets
	// the text format.
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
}

// errorLog is promhttp's error log on slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) {
	e.log.Error("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// Package status is the one status model of the appliance: the shell, the web
// console and (later) /metrics all read the same snapshot.
//
// Each component declares the fields it reports once, as package-level *Desc
// variables built with NewCounter, NewGauge or NewInfo. Each instance of the
// component (a listener, a destination) registers one section whose labels tell
// it apart from its siblings, and its Provider returns one Field per Desc and
// label values. When the instance closes it calls Remove on its Registration,
// so a closed receiver stops showing up.
//
//	var loginsTotal = status.NewCounter("logins_total", "SSH logins by result.", "result")
//
//	reg, err := model.Register("shell", nil, func() []status.Field {
//		st := srv.Stats()
//		return []status.Field{
//			loginsTotal.Field(st.LoginsOK, "ok"),
//			loginsTotal.Field(st.LoginsFailed, "failed"),
//		}
//	})
//	...
//	reg.Remove() // when srv closes
//
// Names follow the Prometheus conventions, so an exporter needs no mapping:
// section, field and label names match [a-z_][a-z0-9_]*, counters end in
// _total, gauges with a unit end in it (_seconds, _bytes), and the metric is
// ferry_<section>_<field> carrying the section's and the field's labels, for
// example ferry_shell_logins_total{result="failed"}. A field's label names
// must differ from its section's.
package status

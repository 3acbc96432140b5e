package lockout

import (
	"slices"

	"github.com/ferry-appliance/ferry/status"
)

// The lockout's fields (ferry_lockout_*). Every login path (service="ssh",
// later "web") reports into the same counters.
var (
	lockedSources = status.NewGauge("locked_sources", "", "Source addresses locked out now")
	locksTotal    = status.NewCounter("locks_total", "Lockouts imposed since start")
	failuresTotal = status.NewCounter("failures_total", "Failed password checks, by login service", "service")
	refusedTotal  = status.NewCounter("refused_total", "Attempts refused because the source was locked out, by login service", "service")
)

// Report registers the lockout's section in model; Remove it when the lockout is
// no longer used. The services named show from the start, at zero.
func (l *Lockout) Report(model *status.Model, services ...string) (*status.Registration, error) {
	return model.Register("lockout", nil, func() []status.Field {
		st := l.Stats()
		fields := []status.Field{lockedSources.Field(st.Locked), locksTotal.Field(st.Locks)}
		names := slices.Clone(services)
		for name := range st.Services {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			fields = append(fields, failuresTotal.Field(st.Services[name].Failed, name))
		}
		for _, name := range names {
			fields = append(fields, refusedTotal.Field(st.Services[name].Refused, name))
		}
		return fields
	})
}

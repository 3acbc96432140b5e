package outputs

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/store"
)

// SentryPrefix begins a sentry base's destination name: "sentry:control" is
// sentry.addBase control, apart from a forwarder base or pair "control".
const SentryPrefix = "sentry:"

// RelayDeps is what base and pair destinations need.
type RelayDeps struct {
	Keys relay.Keys
	// Identity is this node in hello (forwarder.setGuid); Sentry is the
	// identity its own log is sent as (sentry.setGuid).
	Identity, Sentry func() relay.Identity
}

// relayEndpoint is a base or a pair: a relay client the spool ships through.
type relayEndpoint struct{ *relay.Client }

// isRelay reports whether rec is a base or a pair.
func isRelay(rec store.Output) bool { return rec.Type == "base" || rec.Type == "pair" }

// buildRelay makes the client of a base or a pair (validation only).
func (m *Manager) buildRelay(rec store.Output) (endpoint, error) {
	deps := m.cfg.Relay
	if deps.Keys == nil || deps.Identity == nil {
		return nil, fmt.Errorf("output %q: this node has no keystores for the relay", rec.Name)
	}
	var members []relay.Member
	switch rec.Type {
	case "base":
		if err := checkAddr(rec.Target); err != nil {
			return nil, fmt.Errorf("base %q: %w", rec.Name, err)
		}
		if rec.Key == "" || rec.Trust == "" {
			return nil, fmt.Errorf("base %q: needs a key alias and a trust alias", rec.Name)
		}
		if len(rec.Members) > 0 {
			return nil, fmt.Errorf("base %q: a base has no members", rec.Name)
		}
		members = []relay.Member{{Name: rec.Name, Addr: rec.Target, Key: rec.Key, Trust: rec.Trust}}
	case "pair":
		if len(rec.Members) != 2 {
			return nil, fmt.Errorf("pair %q: needs two bases (the same one twice for a single server)", rec.Name)
		}
		if rec.Sentry {
			return nil, fmt.Errorf("pair %q: sentry bases are not paired", rec.Name)
		}
		for i, name := range rec.Members {
			if i == 1 && name == rec.Members[0] {
				break // the guide's single-server form
			}
			o := m.outs[name]
			switch {
			case o == nil:
				return nil, fmt.Errorf("pair %q: base %q: not found (forwarder.bases lists them)", rec.Name, name)
			case o.rec.Type != "base" || o.rec.Sentry:
				return nil, fmt.Errorf("pair %q: %q is not a forwarder base", rec.Name, name)
			case o.member != "" && o.member != rec.Name:
				return nil, fmt.Errorf("pair %q: base %q is already in pair %q", rec.Name, name, o.member)
			}
			members = append(members, relay.Member{Name: name, Addr: o.rec.Target, Key: o.rec.Key, Trust: o.rec.Trust})
		}
	}
	id := deps.Identity
	if rec.Sentry && deps.Sentry != nil {
		id = deps.Sentry
	}
	stream := ""
	if !rec.Memory {
		stream = filepath.Join(m.cfg.SpoolDir, rec.Name, "relay-stream")
	}
	c, err := relay.NewClient(relay.ClientConfig{Name: rec.Name, Members: members, Keys: deps.Keys, Identity: id,
		StreamFile: stream, Unsynced: rec.Sync == "never", Log: m.cfg.Log})
	if err != nil {
		return nil, err
	}
	return relayEndpoint{c}, nil
}

func checkAddr(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return fmt.Errorf("address %q: use HOST PORT", hostport)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: must be 1-65535", port)
	}
	return nil
}

// pairing checks what adding rec (a pair, or a base) means for pairs. Under mu.
func (m *Manager) pairing(rec store.Output) error {
	if old := m.outs[rec.Name]; old != nil && old.member != "" {
		return fmt.Errorf("base %q is in pair %q: forwarder.removeBasePair it first", rec.Name, old.member)
	}
	if old := m.outs[rec.Name]; old != nil && old.rec.Type != rec.Type && (isRelay(old.rec) || isRelay(rec)) {
		return fmt.Errorf("output %q: is a %s; remove it first to make it a %s", rec.Name, old.rec.Type, rec.Type)
	}
	if rec.Type != "pair" {
		return nil
	}
	for _, name := range rec.Members {
		o := m.outs[name]
		if o == nil || o.member == rec.Name {
			continue
		}
		for _, r := range m.routes {
			if r.Destination == name {
				return fmt.Errorf("pair %q: route %s -> %s sends to the base alone; route.remove it first", rec.Name, r.Input, name)
			}
		}
		if sp, ok := o.d.(*spooled); ok {
			if q := sp.spoolInfo().Queued; q > 0 {
				return fmt.Errorf("pair %q: base %q still has %d events spooled for it alone; let them drain first", rec.Name, name, q)
			}
		}
	}
	return nil
}

// joinPair stops the members' own destinations: the pair carries them. Under mu.
func (m *Manager) joinPair(ctx context.Context, pair store.Output) {
	for _, name := range pair.Members {
		o := m.outs[name]
		if o == nil || o.member == pair.Name {
			continue
		}
		if o.d != nil {
			abandon(o.d)
			d := o.d
			o.d, o.err, o.member = nil, nil, pair.Name
			m.publish()
			d.Shutdown(ctx)
		}
		o.member = pair.Name
	}
}

// leavePair starts again, on their own, the bases of pair that are not in keep. Under mu.
func (m *Manager) leavePair(ctx context.Context, pair string, keep []string) {
	for _, o := range m.outs {
		if o.member != pair || slices.Contains(keep, o.rec.Name) {
			continue
		}
		o.member = ""
		if o.d, o.err = m.start(ctx, o.rec); o.err != nil {
			m.log.Error("base failed", "output", o.rec.Name, "err", o.err)
		}
	}
}

// defaultRoutes are the destinations of inputs with no route when the
// operator set no "*" route: every forwarder base and pair. Under mu.
func (m *Manager) defaultRoutes() []*output {
	var out []*output
	for _, o := range m.outs {
		if isRelay(o.rec) && !o.rec.Sentry && o.d != nil {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *output) int { return strings.Compare(a.rec.Name, b.rec.Name) })
	return out
}

// Sentry hands a batch of this node's own log to every sentry base
// (sentry.addBase). The batch stays the caller's.
func (m *Manager) Sentry(b *event.Batch) {
	if sentries := m.sentries.Load(); sentries != nil {
		for _, d := range *sentries {
			d.Accept(b)
		}
	}
}

// Connections lists the live relay connections, by destination.
func (m *Manager) Connections() []relay.Connection {
	var out []relay.Connection
	for _, in := range m.Outputs() {
		if in.client == nil {
			continue
		}
		kind := in.Type
		if in.Sentry {
			kind = "sentry"
		}
		for _, c := range in.client.Connections() {
			c.Kind, c.Destination = kind, in.Name
			c.Base = strings.TrimPrefix(c.Base, SentryPrefix) // type=sentry says which namespace
			out = append(out, c)
		}
	}
	return out
}

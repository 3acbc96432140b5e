package outputs

import (
	"fmt"
	"regexp"

	"github.com/ferry-appliance/ferry/net/relay"
	"github.com/ferry-appliance/ferry/store"
)

// Settings is where the node's identity is kept (store.Store).
type Settings interface {
	Setting(name string) (string, error)
	SetSetting(name, value string) error
}

// Node is this node's relay identity (forwarder.setGuid, sentry.setGuid)
// and its live connections: commands.RelayService.
type Node struct {
	Settings Settings
	Host     string
	Dests    *Manager // set once built
}

var guidPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

func setting(sentry bool) string {
	if sentry {
		return store.SettingSentryGUID
	}
	return store.SettingForwarderGUID
}

// GUID is the identity set; unset, the forwarder's is the host name and
// the sentry's the forwarder's.
func (n *Node) GUID(sentry bool) string {
	if v, err := n.Settings.Setting(setting(sentry)); err == nil && v != "" {
		return v
	}
	if sentry {
		return n.GUID(false)
	}
	return n.Host
}

// SetGUID stores an identity; the next connection says it.
func (n *Node) SetGUID(sentry bool, id string) error {
	if !guidPattern.MatchString(id) {
		return fmt.Errorf("guid %q: use 1-128 letters, digits, '.', '_', ':' or '-'", id)
	}
	return n.Settings.SetSetting(setting(sentry), id)
}

// Connections lists the live relay connections.
func (n *Node) Connections() []relay.Connection {
	if n.Dests == nil {
		return nil
	}
	return n.Dests.Connections()
}

// Identity and SentryIdentity are what hello says.
func (n *Node) Identity() relay.Identity { return relay.Identity{GUID: n.GUID(false), Name: n.Host} }
func (n *Node) SentryIdentity() relay.Identity {
	return relay.Identity{GUID: n.GUID(true), Name: n.Host}
}

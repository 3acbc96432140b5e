package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/lifecycle"
	"github.com/ferry-appliance/ferry/internal/secretbox"
	"github.com/ferry-appliance/ferry/net/httpd"
	"github.com/ferry-appliance/ferry/net/httpd/console"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/status/promexport"
	"github.com/ferry-appliance/ferry/store"
)

// buildWeb makes the console and the HTTP bindings that serve it. The console
// reads the same status model and registries the shell does.
func buildWeb(st *store.Store, acc *accounts.Service, logins *lockout.Lockout, model *status.Model,
	sessions *shell.Sessions, keystores *certs.Registry, col collector, log *slog.Logger, hostname string) (*httpd.Server, lifecycle.Component, error) {
	var web *httpd.Server
	con, err := console.New(console.Config{
		Accounts: acc, Lockout: logins, Metrics: promexport.Handler(model, log), Log: log,
		Version: version, Hostname: hostname,
		Views: []console.View{
			{Name: "status", Get: func() (any, error) { return model.Snapshot(), nil }},
			{Name: "keystores", Get: func() (any, error) {
				list := keystores.List()
				for i := range list {
					list[i].UsedBy = web.UsersOf(list[i].Alias)
				}
				return list, nil
			}},
			{Name: "bindings", Get: func() (any, error) { return web.List(), nil }},
			{Name: "sessions", Get: func() (any, error) { return sessions.List(), nil }},
			{Name: "inputs", Get: func() (any, error) { return col.inputs.List(), nil }},
			{Name: "outputs", Get: func() (any, error) {
				return outputsView{Outputs: col.outputs.Outputs(), Routes: col.outputs.Routes(), Filters: col.outputs.Filters()}, nil
			}},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	web, err = httpd.New(httpd.Config{Records: st.Bindings(), Keys: keystores, Contexts: webContexts{con}, Status: model, Log: log})
	if err != nil {
		return nil, nil, err
	}
	// A binding that failed for want of an alias opens once it is registered.
	keystores.OnChange(web.Retry)
	// A new password or a removed account ends the account's web sessions.
	endSessions := func(name string) { con.EndSessions(name) }
	acc.OnPasswordChange(endSessions)
	acc.OnRemove(endSessions)
	return web, lifecycle.Hooks{OnShutdown: func(context.Context) error { con.Close(); return nil }}, nil
}

// collector is what the console shows of the engine: the receivers, and the
// destinations with their routes and filters.
type collector struct {
	inputs  *inputs.Manager
	outputs *outputs.Manager
}

// outputsView is /api/outputs.
type outputsView struct {
	Outputs []outputs.Info       `json:"outputs"`
	Routes  []outputs.Route      `json:"routes"`
	Filters []outputs.FilterInfo `json:"filters"`
}

// webContexts gives the bindings the console's contexts.
type webContexts struct{ c *console.Console }

func (w webContexts) Handler(name string) (http.Handler, error) { return w.c.Handler(name) }

func (w webContexts) Describe() []httpd.ContextInfo {
	var out []httpd.ContextInfo
	for _, ci := range console.Contexts() {
		out = append(out, httpd.ContextInfo{Name: ci.Name, Description: ci.Description})
	}
	return out
}

// secretKey is <data-dir>/secret.key as a part: it is read (or created) at
// start, after the store, before the keystores unseal their passwords.
type secretKey struct {
	path string
	box  *secretbox.Box
}

func (k *secretKey) Start(context.Context) error {
	box, _, err := secretbox.Open(k.path)
	if err != nil {
		return err
	}
	k.box = box
	return nil
}

func (k *secretKey) Shutdown(context.Context) error { return nil }

func (k *secretKey) SealFor(ctx string, plaintext []byte) (string, error) {
	if k.box == nil {
		return "", fmt.Errorf("secret key %s: not opened", k.path)
	}
	return k.box.SealFor(ctx, plaintext)
}

func (k *secretKey) OpenFor(ctx, sealed string) ([]byte, error) {
	if k.box == nil {
		return nil, fmt.Errorf("secret key %s: not opened", k.path)
	}
	return k.box.OpenFor(ctx, sealed)
}

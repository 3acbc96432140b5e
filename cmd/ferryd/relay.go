package main

import (
	"sync/atomic"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/outputs"
)

// sentryHook hands the daemon's own log to the sentry bases once the
// destinations exist (the log starts before them).
type sentryHook struct {
	dests atomic.Pointer[outputs.Manager]
}

func (h *sentryHook) deliver(b *event.Batch) {
	if d := h.dests.Load(); d != nil {
		d.Sentry(b)
	}
}

// Package lifecycle is the one contract every running part of the appliance
// keeps, and the sequence that starts the parts in a declared order and stops
// them in reverse.
//
// The contract:
//   - Constructing a component validates its configuration only: no sockets,
//     no goroutines, nothing to undo.
//   - Start binds what it serves and returns the error. ctx bounds the start
//     itself, not the component's life. The goroutines Start launches belong to
//     the component, and it runs until Shutdown.
//   - Shutdown stops intake, hands in-flight work downstream, and waits for its
//     own goroutines. When ctx ends first it closes what is left at once. It is
//     idempotent, safe after a failed or missing Start, and returns real errors
//     (a close that failed, work abandoned at the deadline), never just nil.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Component is a running part of the appliance.
type Component interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Addressed is a component that listens. Its addresses, by a name such as
// "ssh", go into the ready file once every part has started.
type Addressed interface {
	Addrs() map[string]string
}

// Part is one entry of the start list.
type Part struct {
	Name      string
	Component Component
}

// Hooks makes a component of two functions, for steps that own no goroutines
// (provisioning the first admin, the first-boot batch). Either may be nil.
type Hooks struct {
	OnStart    func(ctx context.Context) error
	OnShutdown func(ctx context.Context) error
}

// Start runs OnStart.
func (h Hooks) Start(ctx context.Context) error {
	if h.OnStart == nil {
		return nil
	}
	return h.OnStart(ctx)
}

// Shutdown runs OnShutdown.
func (h Hooks) Shutdown(ctx context.Context) error {
	if h.OnShutdown == nil {
		return nil
	}
	return h.OnShutdown(ctx)
}

// RollbackTimeout bounds the shutdown of the parts already started when a later
// part fails to start.
const RollbackTimeout = 5 * time.Second

// Sequence starts its parts in order and stops the started ones in reverse.
type Sequence struct {
	log   *slog.Logger
	parts []Part

	mu       sync.Mutex
	started  int  // parts[:started] are running
	starting bool // Start was called
	stopped  bool
	stopErr  error
}

// New checks the list: every part named once, none nil.
func New(log *slog.Logger, parts ...Part) (*Sequence, error) {
	if log == nil {
		log = slog.Default()
	}
	seen := map[string]bool{}
	for i, p := range parts {
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("lifecycle: part %d has no name", i)
		case p.Component == nil:
			return nil, fmt.Errorf("lifecycle: part %q: no component", p.Name)
		case seen[p.Name]:
			return nil, fmt.Errorf("lifecycle: part %q: listed twice", p.Name)
		}
		seen[p.Name] = true
	}
	return &Sequence{log: log, parts: parts}, nil
}

// Names lists the parts in start order.
func (s *Sequence) Names() []string {
	out := make([]string, len(s.parts))
	for i, p := range s.parts {
		out[i] = p.Name
	}
	return out
}

// Start starts every part in order. When one fails, the parts already started
// are shut down in reverse (each within RollbackTimeout in all) and the error
// names the part that failed. A Sequence starts once.
func (s *Sequence) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starting || s.stopped {
		return errors.New("lifecycle: a sequence starts once")
	}
	s.starting = true
	for _, p := range s.parts {
		if err := ctx.Err(); err != nil {
			return s.rollback(fmt.Errorf("start %s: %w", p.Name, err))
		}
		began := time.Now()
		if err := p.Component.Start(ctx); err != nil {
			return s.rollback(fmt.Errorf("start %s: %w", p.Name, err))
		}
		s.started++
		s.log.Debug("part started", "part", p.Name, "took", time.Since(began))
	}
	return nil
}

// rollback shuts down what started and returns cause with any shutdown errors. s.mu is held.
func (s *Sequence) rollback(cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), RollbackTimeout)
	defer cancel()
	return errors.Join(cause, s.shutdownLocked(ctx))
}

// Shutdown stops the started parts in reverse order, each with ctx (so a part
// that reaches the deadline hard-closes, and the parts after it still close).
// It returns every part's error, each naming its part. Later calls return the
// first call's result.
func (s *Sequence) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	return s.shutdownLocked(ctx)
}

func (s *Sequence) shutdownLocked(ctx context.Context) error {
	var errs []error
	for i := s.started - 1; i >= 0; i-- {
		p := s.parts[i]
		if err := p.Component.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.Name, err))
		}
		s.log.Debug("part stopped", "part", p.Name)
	}
	s.started = 0
	s.stopped = true
	s.stopErr = errors.Join(errs...)
	return s.stopErr
}

// Addrs merges the addresses of the started parts that listen.
func (s *Sequence) Addrs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, p := range s.parts[:s.started] {
		if a, ok := p.Component.(Addressed); ok {
			for k, v := range a.Addrs() {
				out[k] = v
			}
		}
	}
	return out
}

package shell

import (
	"context"
	"slices"
	"sync"
	"time"
)

// SessionInfo describes one open shell session.
type SessionInfo struct {
	ID      int       `json:"id"`
	Account string    `json:"account"`
	Remote  string    `json:"remote"`
	Mode    Mode      `json:"mode"`
	Started time.Time `json:"started"`
}

// Sessions tracks open sessions so status commands can list them and shutdown can reach them.
type Sessions struct {
	mu   sync.Mutex
	next int
	open map[int]*tracked
}

type tracked struct {
	info   SessionInfo
	notify func(msg string)
	cancel func()
}

// NewSessions returns an empty tracker.
func NewSessions() *Sessions { return &Sessions{open: map[int]*tracked{}} }

func (s *Sessions) add(info SessionInfo, notify func(string), cancel func()) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	info.ID = s.next
	s.open[info.ID] = &tracked{info: info, notify: notify, cancel: cancel}
	return info.ID
}

func (s *Sessions) remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, id)
}

// List returns the open sessions, oldest first.
func (s *Sessions) List() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.open))
	for _, t := range s.open {
		out = append(out, t.info)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.ID - b.ID })
	return out
}

// Count is the number of open sessions.
func (s *Sessions) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// waitEmpty returns when no session is open, or with ctx's error.
func (s *Sessions) waitEmpty(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.Count() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// closeAll tells every session msg and ends it. Each session gets its own goroutine:
// a client that stops reading blocks only its own notice, which ends when the server
// closes the connection.
func (s *Sessions) closeAll(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.open {
		go func() {
			told := make(chan struct{})
			go func() {
				t.notify(msg)
				close(told)
			}()
			select {
			case <-told:
			case <-time.After(time.Second):
			}
			t.cancel()
		}()
	}
}

package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// Session limits. The table is bounded so that logins, even valid ones,
// cannot grow memory without end; expiry is checked when a session is used
// and when the table is full, so no goroutine sweeps.
const (
	maxSessions = 1024
	idleTimeout = 30 * time.Minute
	maxLifetime = 12 * time.Hour
)

// tokenLen is the length of a token: 32 random bytes (256 bits), base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(32)

// newToken returns a fresh random token.
func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand aborts the process instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokenKey is what the table stores of a token: its hash, so the map lookup
// works on values an attacker cannot choose, and a memory dump holds no
// usable cookie.
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

// session is one signed-in browser.
type session struct {
	account string
	csrf    string // sent back as X-CSRF-Token on every non-GET request
	created time.Time
	seen    time.Time // last request the user made (background refreshes do not count)
}

func (s *session) live(now time.Time) bool {
	return now.Sub(s.seen) < idleTimeout && now.Sub(s.created) < maxLifetime
}

// sessionTable holds the sessions. It is safe for concurrent use.
type sessionTable struct {
	max int

	mu      sync.Mutex
	byKey   map[tokenKey]*session
	evicted uint64
}

func newSessionTable(max int) *sessionTable {
	return &sessionTable{max: max, byKey: map[tokenKey]*session{}}
}

// add stores a new session for account and returns its token. A full table
// first drops expired sessions, then the least recently used one; it reports
// the account of the one evicted, if any.
func (t *sessionTable) add(account string, now time.Time) (token string, s session, evicted string) {
	token = newToken()
	s = session{account: account, csrf: newToken(), created: now, seen: now}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byKey) >= t.max {
		for k, old := range t.byKey {
			if !old.live(now) {
				delete(t.byKey, k)
			}
		}
	}
	if len(t.byKey) >= t.max {
		var oldest tokenKey
		var found *session
		for k, old := range t.byKey {
			if found == nil || old.seen.Before(found.seen) {
				oldest, found = k, old
			}
		}
		delete(t.byKey, oldest)
		t.evicted++
		evicted = found.account
	}
	t.byKey[keyOf(token)] = &s
	return token, s, evicted
}

// get returns the live session of token. An expired one is removed. touch
// counts the request as the user's activity, which extends the idle timeout.
func (t *sessionTable) get(token string, now time.Time, touch bool) (session, bool) {
	if len(token) != tokenLen {
		return session{}, false
	}
	k := keyOf(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byKey[k]
	if !ok {
		return session{}, false
	}
	if !s.live(now) {
		delete(t.byKey, k)
		return session{}, false
	}
	if touch && now.After(s.seen) {
		s.seen = now
	}
	return *s, true
}

// remove ends the session of token, if there is one.
func (t *sessionTable) remove(token string) {
	k := keyOf(token)
	t.mu.Lock()
	delete(t.byKey, k)
	t.mu.Unlock()
}

// removeAccount ends every session of account and reports how many there were.
func (t *sessionTable) removeAccount(account string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, s := range t.byKey {
		if s.account == account {
			delete(t.byKey, k)
			n++
		}
	}
	return n
}

func (t *sessionTable) clear() {
	t.mu.Lock()
	clear(t.byKey)
	t.mu.Unlock()
}

func (t *sessionTable) stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Sessions: len(t.byKey), Evicted: t.evicted}
}

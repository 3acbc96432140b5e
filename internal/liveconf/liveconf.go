// Package liveconf is the one way a command changes configuration: the record
// is desired state in the confdb, and the subsystem that owns it brings its
// running part to that state.
//
// A change goes: validate (by the caller, before Commit: what fails changes
// nothing), write the whole record, apply it (the subsystem starts the new part
// before it stops the old one), and if applying fails, write the old record
// back, so the confdb never describes what is not running. Boot is the same
// apply with no old record. A later candidate configuration (config.diff,
// config.commit with rollback unless confirmed) slots in here: it writes to a
// candidate table and applies the whole set at commit, without touching the
// commands.
package liveconf

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferry-appliance/ferry/store"
)

// Table is one kind of record in the confdb (store.Table satisfies it).
type Table[R any] interface {
	Get(key string) (R, bool, error)
	Put(key string, r R) error
	Delete(key string) error
}

// Apply brings a running part from old to new; nil means absent (nil old: a
// new part; nil new: stop it). It must leave the old part running when it
// fails.
type Apply[R any] func(old, new *R) error

// Commit writes next under key (nil deletes it), then applies the change from
// the current record. If applying fails, the current record is written back
// and the apply error returned; if even that write fails, both are returned and
// logged, since the confdb then describes what is not running. It returns the
// record it replaced (nil if none). Callers serialise their commits.
func Commit[R any](t Table[R], log *slog.Logger, key string, next *R, apply Apply[R]) (*R, error) {
	cur, ok, err := t.Get(key)
	if errors.Is(err, store.ErrCorrupt) {
		// A damaged record describes nothing that runs: replace or remove it.
		log.Warn("configuration record damaged; replacing it", "key", key, "err", err)
		ok, err = false, nil
	}
	if err != nil {
		return nil, err
	}
	var old *R
	if ok {
		old = &cur
	}
	if err := write(t, key, next); err != nil {
		return old, err
	}
	if err := apply(old, next); err != nil {
		if rerr := write(t, key, old); rerr != nil {
			rerr = fmt.Errorf("roll back %q: %w", key, rerr)
			log.Error("configuration record not rolled back: the confdb describes a part that is not running", "key", key, "err", rerr)
			return old, errors.Join(err, rerr)
		}
		return old, err
	}
	return old, nil
}

func write[R any](t Table[R], key string, r *R) error {
	if r == nil {
		return t.Delete(key)
	}
	return t.Put(key, *r)
}

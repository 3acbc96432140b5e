package liveconf

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/ferry-appliance/ferry/store"
)

// memTable is an in-memory Table that can be told to fail writes.
type memTable struct {
	m        map[string]string
	failPuts int // fail this many Puts from now
}

func (t *memTable) Get(k string) (string, bool, error) {
	v, ok := t.m[k]
	if v == "corrupt" {
		return "", false, fmt.Errorf("%q: %w", k, store.ErrCorrupt)
	}
	return v, ok, nil
}
func (t *memTable) Put(k, v string) error {
	if t.failPuts > 0 {
		t.failPuts--
		return errors.New("disk full")
	}
	t.m[k] = v
	return nil
}
func (t *memTable) Delete(k string) error { delete(t.m, k); return nil }

func ptr(s string) *string { return &s }

func TestCommit(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	errApply := errors.New("port in use")
	tests := []struct {
		name      string
		start     map[string]string
		next      *string
		applyErr  error
		failPuts  int
		wantErr   bool
		wantTable map[string]string
		wantOld   *string
		wantCalls int
	}{
		{name: "new record applied", start: map[string]string{}, next: ptr("b"), wantTable: map[string]string{"k": "b"}, wantCalls: 1},
		{name: "replace applied", start: map[string]string{"k": "a"}, next: ptr("b"), wantTable: map[string]string{"k": "b"}, wantOld: ptr("a"), wantCalls: 1},
		{name: "delete applied", start: map[string]string{"k": "a"}, next: nil, wantTable: map[string]string{}, wantOld: ptr("a"), wantCalls: 1},
		{name: "failed apply rolls back a replace", start: map[string]string{"k": "a"}, next: ptr("b"), applyErr: errApply, wantErr: true, wantTable: map[string]string{"k": "a"}, wantOld: ptr("a"), wantCalls: 1},
		{name: "failed apply rolls back a new record", start: map[string]string{}, next: ptr("b"), applyErr: errApply, wantErr: true, wantTable: map[string]string{}, wantCalls: 1},
		{name: "failed apply rolls back a delete", start: map[string]string{"k": "a"}, next: nil, applyErr: errApply, wantErr: true, wantTable: map[string]string{"k": "a"}, wantOld: ptr("a"), wantCalls: 1},
		{name: "failed write applies nothing", start: map[string]string{"k": "a"}, next: ptr("b"), failPuts: 1, wantErr: true, wantTable: map[string]string{"k": "a"}, wantOld: ptr("a"), wantCalls: 0},
		{name: "a damaged record is replaced", start: map[string]string{"k": "corrupt"}, next: ptr("b"), wantTable: map[string]string{"k": "b"}, wantCalls: 1},
		{name: "a damaged record is removed", start: map[string]string{"k": "corrupt"}, next: nil, wantTable: map[string]string{}, wantCalls: 1},
		{name: "failed rollback reports both", start: map[string]string{"k": "a"}, next: ptr("b"), applyErr: errApply, failPuts: 0, wantErr: true, wantTable: map[string]string{"k": "b"}, wantOld: ptr("a"), wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := &memTable{m: tc.start, failPuts: tc.failPuts}
			calls := 0
			apply := func(old, next *string) error {
				calls++
				if (old == nil) != (tc.wantOld == nil) || (old != nil && *old != *tc.wantOld) {
					t.Errorf("apply old = %v, want %v", old, tc.wantOld)
				}
				if tc.name == "failed rollback reports both" {
					tab.failPuts = 1
				}
				return tc.applyErr
			}
			old, err := Commit[string](tab, quiet, "k", tc.next, apply)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.applyErr != nil && !errors.Is(err, tc.applyErr) {
				t.Errorf("err = %v, does not wrap the apply error", err)
			}
			if calls != tc.wantCalls {
				t.Errorf("apply called %d times, want %d", calls, tc.wantCalls)
			}
			if (old == nil) != (tc.wantOld == nil) || (old != nil && *old != *tc.wantOld) {
				t.Errorf("old = %v, want %v", old, tc.wantOld)
			}
			if len(tab.m) != len(tc.wantTable) {
				t.Fatalf("table = %v, want %v", tab.m, tc.wantTable)
			}
			for k, v := range tc.wantTable {
				if tab.m[k] != v {
					t.Errorf("table = %v, want %v", tab.m, tc.wantTable)
				}
			}
		})
	}
}

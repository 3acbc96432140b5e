package status_test

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/status"
)

func fields(kv ...any) []status.Field {
	var out []status.Field
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, status.Field{Key: kv[i].(string), Value: kv[i+1]})
	}
	return out
}

func names(sections []status.Section) []string {
	var out []string
	for _, s := range sections {
		out = append(out, s.Name)
	}
	return out
}

func TestEmptyModel(t *testing.T) {
	if got := status.New().Snapshot(); len(got) != 0 {
		t.Errorf("Snapshot of an empty model = %+v, want none", got)
	}
}

func TestSnapshotKeepsRegistrationOrder(t *testing.T) {
	m := status.New()
	order := []string{"system", "shell", "confdb", "alpha", "zeta"}
	for i, n := range order {
		m.Register(n, func() []status.Field { return fields("index", i) })
	}
	snap := m.Snapshot()
	if got := names(snap); !reflect.DeepEqual(got, order) {
		t.Fatalf("sections = %v, want registration order %v", got, order)
	}
	for i, s := range snap {
		if want := fields("index", i); !reflect.DeepEqual(s.Fields, want) {
			t.Errorf("section %s fields = %+v, want %+v", s.Name, s.Fields, want)
		}
	}
}

func TestRegisterReplacesInPlace(t *testing.T) {
	m := status.New()
	m.Register("a", func() []status.Field { return fields("v", "a1") })
	m.Register("b", func() []status.Field { return fields("v", "b1") })
	m.Register("c", func() []status.Field { return fields("v", "c1") })
	m.Register("a", func() []status.Field { return fields("v", "a2") })

	snap := m.Snapshot()
	if got, want := names(snap), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sections = %v, want %v (replaced, not duplicated or moved)", got, want)
	}
	if want := fields("v", "a2"); !reflect.DeepEqual(snap[0].Fields, want) {
		t.Errorf("section a = %+v, want the replacement provider's %+v", snap[0].Fields, want)
	}
}

func TestSnapshotCallsProvidersEachTime(t *testing.T) {
	m := status.New()
	var calls atomic.Int64
	m.Register("counter", func() []status.Field {
		return fields("calls", calls.Add(1))
	})
	m.Register("nil", func() []status.Field { return nil })
	for want := int64(1); want <= 3; want++ {
		snap := m.Snapshot()
		if len(snap) != 2 {
			t.Fatalf("Snapshot = %+v, want 2 sections", snap)
		}
		if got := snap[0].Fields; !reflect.DeepEqual(got, fields("calls", want)) {
			t.Errorf("snapshot %d: counter fields = %+v, want calls=%d", want, got, want)
		}
		if snap[1].Name != "nil" || snap[1].Fields != nil {
			t.Errorf("snapshot %d: nil section = %+v", want, snap[1])
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("provider called %d times for 3 snapshots", got)
	}
}

// A provider may itself register (e.g. a subsystem starting late): Snapshot
// must not hold the lock while calling providers.
func TestProviderMayRegister(t *testing.T) {
	m := status.New()
	m.Register("late-starter", func() []status.Field {
		m.Register("late", func() []status.Field { return fields("ok", true) })
		return nil
	})
	done := make(chan []status.Section, 1)
	go func() { done <- m.Snapshot() }()
	var first []status.Section
	select {
	case first = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Snapshot deadlocked on a provider that registers")
	}
	if got := names(first); !reflect.DeepEqual(got, []string{"late-starter"}) {
		t.Errorf("first snapshot = %v", got)
	}
	if got := names(m.Snapshot()); !reflect.DeepEqual(got, []string{"late-starter", "late"}) {
		t.Errorf("second snapshot = %v, want the late section appended", got)
	}
}

func TestConcurrentRegisterAndSnapshot(t *testing.T) {
	m := status.New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				m.Register(fmt.Sprintf("s%d", i%10), func() []status.Field { return fields("g", g) })
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				m.Snapshot()
			}
		}()
	}
	wg.Wait()
	if got := len(m.Snapshot()); got != 10 {
		t.Errorf("after concurrent registration: %d sections, want 10", got)
	}
}

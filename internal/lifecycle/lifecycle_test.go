package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// recorder is a component that logs its calls into a shared journal.
type recorder struct {
	name     string
	journal  *[]string
	startErr error
	stopErr  error
	addrs    map[string]string
	sawCtx   context.Context
}

func (r *recorder) Start(ctx context.Context) error {
	*r.journal = append(*r.journal, "start "+r.name)
	return r.startErr
}

func (r *recorder) Shutdown(ctx context.Context) error {
	*r.journal = append(*r.journal, "stop "+r.name)
	r.sawCtx = ctx
	return r.stopErr
}

type addressed struct {
	recorder
}

func (a *addressed) Addrs() map[string]string { return a.addrs }

func parts(journal *[]string, rs ...*recorder) []Part {
	out := make([]Part, len(rs))
	for i, r := range rs {
		r.journal = journal
		out[i] = Part{Name: r.name, Component: r}
	}
	return out
}

func TestStartInOrderStopInReverse(t *testing.T) {
	var j []string
	seq, err := New(slog.New(slog.DiscardHandler), parts(&j, &recorder{name: "store"}, &recorder{name: "pipeline"}, &recorder{name: "shell"})...)
	if err != nil {
		t.Fatal(err)
	}
	if got := seq.Names(); !reflect.DeepEqual(got, []string{"store", "pipeline", "shell"}) {
		t.Errorf("Names = %q", got)
	}
	if err := seq.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := seq.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start store", "start pipeline", "start shell", "stop shell", "stop pipeline", "stop store"}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("journal %q, want %q", j, want)
	}
	// Idempotent: nothing is stopped twice.
	if err := seq.Shutdown(context.Background()); err != nil || len(j) != len(want) {
		t.Errorf("second Shutdown = %v, journal %q", err, j)
	}
	if err := seq.Start(context.Background()); err == nil {
		t.Errorf("a stopped sequence started again")
	}
}

func TestFailedStartRollsBackWhatStarted(t *testing.T) {
	var j []string
	bind := errors.New("address already in use")
	cleanup := errors.New("close failed")
	seq, err := New(nil, parts(&j,
		&recorder{name: "store"}, &recorder{name: "keystores", stopErr: cleanup},
		&recorder{name: "receivers", startErr: bind}, &recorder{name: "shell"})...)
	if err != nil {
		t.Fatal(err)
	}
	err = seq.Start(context.Background())
	if !errors.Is(err, bind) || !strings.Contains(err.Error(), "start receivers: address already in use") {
		t.Fatalf("Start = %v; want the receivers' error, named", err)
	}
	if !errors.Is(err, cleanup) || !strings.Contains(err.Error(), "stop keystores: close failed") {
		t.Errorf("Start = %v; want the rollback's error too", err)
	}
	// The failed part is not stopped (its Start undoes itself); later parts never start.
	want := []string{"start store", "start keystores", "start receivers", "stop keystores", "stop store"}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("journal %q, want %q", j, want)
	}
	// Shutdown after a failed start is safe and does nothing more.
	if err := seq.Shutdown(context.Background()); len(j) != len(want) {
		t.Errorf("Shutdown after failed start: %v, journal %q", err, j)
	}
}

func TestStartHonoursItsContext(t *testing.T) {
	var j []string
	seq, _ := New(nil, parts(&j, &recorder{name: "a"}, &recorder{name: "b"})...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := seq.Start(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "start a") {
		t.Fatalf("Start(cancelled) = %v", err)
	}
	if len(j) != 0 {
		t.Errorf("parts started under a cancelled context: %q", j)
	}
}

func TestShutdownReportsEveryErrorAndReachesEveryPart(t *testing.T) {
	var j []string
	e1, e2 := errors.New("flush failed"), errors.New("close failed")
	rs := []*recorder{{name: "store", stopErr: e1}, {name: "spool"}, {name: "shell", stopErr: e2}}
	seq, _ := New(nil, parts(&j, rs...)...)
	if err := seq.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An expired deadline: every part is still asked, with that context, to hard-close.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := seq.Shutdown(ctx)
	if !errors.Is(err, e1) || !errors.Is(err, e2) || !strings.Contains(err.Error(), "stop shell: close failed") ||
		!strings.Contains(err.Error(), "stop store: flush failed") {
		t.Fatalf("Shutdown = %v", err)
	}
	for _, r := range rs {
		if r.sawCtx != ctx {
			t.Errorf("%s was not shut down with the caller's context", r.name)
		}
	}
	if again := seq.Shutdown(context.Background()); again == nil || again.Error() != err.Error() {
		t.Errorf("second Shutdown = %v; want the first result", again)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	var j []string
	seq, _ := New(nil, parts(&j, &recorder{name: "a"})...)
	if err := seq.Shutdown(context.Background()); err != nil || len(j) != 0 {
		t.Errorf("Shutdown before Start = %v, journal %q", err, j)
	}
}

func TestNewRejectsBadLists(t *testing.T) {
	r := &recorder{name: "x"}
	tests := []struct {
		name  string
		parts []Part
		want  string
	}{
		{"no name", []Part{{Component: r}}, "part 0 has no name"},
		{"no component", []Part{{Name: "x"}}, `part "x": no component`},
		{"duplicate", []Part{{Name: "x", Component: r}, {Name: "x", Component: r}}, `part "x": listed twice`},
	}
	for _, tc := range tests {
		if _, err := New(nil, tc.parts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestHooksAndAddrs(t *testing.T) {
	var j []string
	web := &addressed{recorder{name: "web", addrs: map[string]string{"httpd:8443": "127.0.0.1:8443"}}}
	web.journal = &j
	ran := false
	seq, _ := New(nil,
		Part{Name: "step", Component: Hooks{OnStart: func(context.Context) error { ran = true; return nil }}},
		Part{Name: "web", Component: web},
		Part{Name: "nothing", Component: Hooks{}},
	)
	if got := seq.Addrs(); len(got) != 0 {
		t.Errorf("Addrs before start = %v", got)
	}
	if err := seq.Start(context.Background()); err != nil || !ran {
		t.Fatalf("Start = %v, hook ran %v", err, ran)
	}
	if got := seq.Addrs(); !reflect.DeepEqual(got, map[string]string{"httpd:8443": "127.0.0.1:8443"}) {
		t.Errorf("Addrs = %v", got)
	}
	if err := seq.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

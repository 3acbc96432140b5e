package relay

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStateIntents: a pending batch counts as stored exactly when the
// intake reached its end; a torn newest slot leaves the older one.
func TestStateIntents(t *testing.T) {
	dir := t.TempDir()
	ss := stateStore{dir: dir}
	st, err := ss.load()
	if err != nil || len(st.high) != 0 {
		t.Fatalf("empty dir: %v %v", st, err)
	}
	st.high["s/a"] = 10
	st.pending = []intent{{"s/a", 20, 100}, {"s/b", 5, 110}}
	if err := ss.save(st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		next    uint64
		a, b    uint64
		comment string
	}{
		{100, 10, 0, "neither appended"},
		{101, 20, 0, "the first appended"},
		{111, 20, 5, "both"},
	} {
		got, err := ss.load()
		if err != nil {
			t.Fatal(err)
		}
		got.resolve(tc.next)
		if got.high["s/a"] != tc.a || got.high["s/b"] != tc.b || got.pending != nil {
			t.Errorf("%s: high %v pending %v", tc.comment, got.high, got.pending)
		}
	}
	// A newer save torn: the older slot is the state.
	st.pending = nil
	st.high["s/a"] = 30
	if err := ss.save(st); err != nil {
		t.Fatal(err)
	}
	newest := ss.path(st.gen)
	b, _ := os.ReadFile(newest)
	os.WriteFile(newest, b[:len(b)-3], 0o600)
	got, err := ss.load()
	if err != nil {
		t.Fatal(err)
	}
	if got.high["s/a"] != 10 || len(got.pending) != 2 {
		t.Fatalf("after a torn save: %+v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dedup.0")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi, err)
	}
}

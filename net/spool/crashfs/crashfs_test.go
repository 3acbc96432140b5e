package crashfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestRecover(t *testing.T) {
	f := New()
	f.MkdirAll("/d")
	a, _ := f.Create("/d/a")
	a.WriteAt([]byte("synced"), 0)
	a.Sync()
	f.SyncDir("/d")
	a.WriteAt([]byte(" and not"), 6)
	b, _ := f.Create("/d/b") // never synced, nor its directory entry
	b.WriteAt([]byte("lost"), 0)
	b.Sync()

	after := f.Recover(nil, DropAll)
	if got, _ := after.ReadFile("/d/a"); string(got) != "synced" {
		t.Fatalf("a = %q", got)
	}
	if _, err := after.ReadFile("/d/b"); err == nil {
		t.Fatal("b survived though its directory entry was never synced")
	}
	kept := f.Recover(nil, ProcessCrash)
	if got, _ := kept.ReadFile("/d/a"); string(got) != "synced and not" {
		t.Fatalf("process crash: a = %q", got)
	}
	if got, _ := kept.ReadFile("/d/b"); string(got) != "lost" {
		t.Fatalf("process crash: b = %q", got)
	}
	// Power loss: a is the synced content plus some version of the rest.
	for seed := range uint64(50) {
		p := f.Recover(rand.New(rand.NewPCG(seed, 1)), PowerLoss)
		got, _ := p.ReadFile("/d/a")
		if !bytes.HasPrefix(got, []byte("synced")) || len(got) > len("synced and not") {
			t.Fatalf("power loss: a = %q", got)
		}
	}
}

func TestCrashAfter(t *testing.T) {
	f := New()
	f.MkdirAll("/d")
	f.CrashAfter(2)
	a, err := f.Create("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("third operation: %v, want ErrCrashed", err)
	}
	if _, err := a.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("read after the crash: %v", err)
	}
	if ok, op := f.Crashed(); !ok || op != "fsync a" {
		t.Fatalf("crashed %v at %q", ok, op)
	}
}

func TestSpace(t *testing.T) {
	f := New()
	f.MkdirAll("/d")
	f.SetSpace(5)
	a, _ := f.Create("/d/a")
	n, err := a.WriteAt([]byte("abcdefgh"), 0)
	if n != 5 || err == nil {
		t.Fatalf("wrote %d, %v; want 5 and ENOSPC", n, err)
	}
	a.Truncate(2)
	if n, err := a.WriteAt([]byte("xyz"), 2); n != 3 || err != nil {
		t.Fatalf("after freeing: %d %v", n, err)
	}
}

package selflog

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/status"
)

// TestFeed: records written before and after Start arrive, as RFC 5424
// lines with their severity; Shutdown delivers what is buffered.
func TestFeed(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var inputs []string
	f := New("edge-1", func(b *event.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for i := range b.Len() {
			got = append(got, string(b.Raw(i)))
			inputs = append(inputs, b.Input)
		}
	})
	log := slog.New(slog.NewTextHandler(f, nil))
	log.Info("before start", "k", 1)
	f.Start(context.Background())
	log.Error("it failed", "err", "boom")
	log.Warn("careful")
	time.Sleep(10 * time.Millisecond)
	f.Shutdown(context.Background())
	f.Shutdown(context.Background())
	if len(got) != 3 {
		t.Fatalf("%d lines: %q", len(got), got)
	}
	for i, want := range []string{"<14>1 ", "<11>1 ", "<12>1 "} {
		if !strings.HasPrefix(got[i], want) || !strings.Contains(got[i], " edge-1 ferryd - - - time=") || inputs[i] != Input {
			t.Errorf("line %d: %q (input %q)", i, got[i], inputs[i])
		}
	}
	if !strings.Contains(got[1], `msg="it failed" err=boom`) {
		t.Errorf("the record's text is not kept: %q", got[1])
	}
	if d, dr := f.Stats(); d != 3 || dr != 0 {
		t.Fatalf("delivered %d dropped %d", d, dr)
	}
}

// TestFeedFull: a logger never waits for the feed; what does not fit is
// counted, by reason, in the status model's sentry section.
func TestFeedFull(t *testing.T) {
	f := New("h", func(*event.Batch) {})
	m := status.New()
	f.Report(m)
	for range cap(f.lines) + 10 {
		f.Write([]byte("x\n"))
	}
	if _, dropped := f.Stats(); dropped != 10 {
		t.Fatalf("dropped %d, want 10", dropped)
	}
	f.Start(context.Background())
	defer f.Shutdown(context.Background())
	var got any
	for _, sec := range m.Snapshot() {
		for _, fl := range sec.Fields {
			if sec.Name == "sentry" && fl.Desc.Name() == "log_dropped_total" && slices.Equal(fl.LabelValues, []string{"buffer_full"}) {
				got = fl.Value
			}
		}
	}
	if got != uint64(10) {
		t.Fatalf("the status model shows %v dropped, want 10", got)
	}
}

package spool

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// The crash model: random workloads (append, big appends, reads, acks
// whole and partial, rewinds, syncs, mid-run Stats/Verify; tiny to roomy
// segments, tight to loose bounds, every sync and full policy) on a
// simulated disk, crashed either at a random operation or right after a
// random sync of a random kind (segment, cursor, directory), three times a
// seed. The disk keeps what was synced and keeps, drops or tears the rest
// (power loss), keeps everything (a killed process: SyncNever's promise)
// or drops all of it; the spool reopens on what survived and must hold:
//  1. every batch Append reported durable (SyncAlways: it returned nil;
//     SyncInterval: and a Sync completed after) and not acknowledged is
//     there, once, in order;
//  2. nothing that was never appended, and no garbage (payloads decoded
//     and compared);
//  3. nothing acknowledged by a durable cursor comes back;
//  4. Events and Records are right for what is there;
//  5. Open does not fail;
//  6. recovery finds no sign of broken ordering: no cursor ahead of the
//     data, no sequence numbers missing (Verify is clean, too).

var seedsFlag = flag.Int("spool.seeds", 0, "crash-model seeds (default 1500 under -race, 5000 without, a tenth with -short; or SPOOL_SEEDS)")

func crashSeeds() int {
	if *seedsFlag > 0 {
		return *seedsFlag
	}
	if n, err := strconv.Atoi(os.Getenv("SPOOL_SEEDS")); err == nil && n > 0 {
		return n
	}
	n := 5000
	if raceEnabled {
		n = 1500 // the race detector makes zstd ~10x slower
	}
	if testing.Short() {
		n /= 10
	}
	return n
}

// position is the spool's in-memory view of where things are.
type position struct{ next, acked, written, durable uint64 }

func (s *Spool) position() position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return position{s.next, s.acked, s.written, s.durable}
}

// mrec is a record the model knows was (or may have been) appended.
type mrec struct {
	first   uint64
	k, n    int          // mkBatch(k, n)
	b       *event.Batch // that batch, kept to compare with
	durable bool         // must survive a crash until acknowledged
	maybe   bool         // the Append failed in the crash: it may or may not be there
}

func (m mrec) last() uint64 { return m.first + uint64(m.n) - 1 }

type step int

const (
	stepAppend step = iota
	stepAppendBig
	stepNext
	stepAck
	stepRewind
	stepSync
	stepCheck  // Stats and Verify in the middle of the run
	stepAckAll // acknowledge everything delivered
)

var stepNames = [...]string{"append", "append-big", "next", "ack", "rewind", "sync", "check", "ack-all"}

func (st step) String() string { return stepNames[st] }

// crashRun is one seed's run: a spool, its disk, and the model.
type crashRun struct {
	rng    *rand.Rand
	disk   *crashfs.FS
	opts   Options
	mode   crashfs.Mode
	s      *Spool
	recs   []mrec // in sequence order
	k      int    // next batch number
	lastIn uint64 // last sequence number Next delivered
	sent   []mrec // delivered since the last rewind
	known  uint64 // acknowledged by a cursor the spool says is durable
	trace  []string
}

func newCrashRun(seed uint64, fault fault, cd *codec) *crashRun {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &crashRun{rng: rng, disk: crashfs.New()}
	o := simOpts(c.disk)
	// Tiny segments (rolls and removals all the time) to roomy ones (a
	// long unsynced tail), tight bounds (drops) to loose ones.
	o.SegmentSize = int64(minSegmentSize + rng.IntN([]int{800, 4000}[rng.IntN(2)]))
	o.MaxBytes = int64(3000 + rng.IntN([]int{6000, 40000}[rng.IntN(2)]))
	o.Sync = []SyncPolicy{SyncAlways, SyncInterval, SyncInterval, SyncNever}[rng.IntN(4)]
	if rng.IntN(5) == 0 {
		o.WhenFull = Block
	}
	clk := newClock()
	o.Now = func() time.Time { clk.add(time.Millisecond); return clk.now() }
	o.fault, o.codec = fault, cd
	c.opts = o
	c.mode = crashfs.PowerLoss
	if o.Sync == SyncNever {
		c.mode = crashfs.ProcessCrash // its promise: survive a killed process
	} else if rng.IntN(8) == 0 {
		c.mode = crashfs.DropAll
	}
	return c
}

func (c *crashRun) logf(format string, args ...any) {
	c.trace = append(c.trace, fmt.Sprintf(format, args...))
}

func (c *crashRun) crashed() bool { ok, _ := c.disk.Crashed(); return ok }

// do runs one step of the workload and updates the model. An error is a
// violation; a crash is not an error.
func (c *crashRun) do(st step) error {
	s := c.s
	pos := s.position()
	switch st {
	case stepAppend, stepAppendBig:
		n := 1 + c.rng.IntN(4)
		if st == stepAppendBig {
			n = 20 + c.rng.IntN(40)
		}
		k := c.k
		c.k++
		b := mkBatchFrom(modelPool, k, n)
		err := s.Append(ctxDone, b)
		c.logf("append k=%d n=%d first=%d: %v", k, n, pos.next, err)
		switch {
		case err == nil:
			durable := c.opts.Sync == SyncAlways || c.mode == crashfs.ProcessCrash
			c.recs = append(c.recs, mrec{first: pos.next, k: k, n: n, b: b, durable: durable})
		case c.crashed():
			c.recs = append(c.recs, mrec{first: pos.next, k: k, n: n, b: b, maybe: true})
		case errors.Is(err, ErrFull) || errors.Is(err, ErrTooLarge):
		default:
			return fmt.Errorf("append: %w", err)
		}
	case stepNext: // a sender keeps up: read up to four
		for range 1 + c.rng.IntN(4) {
			r, err := s.Next(ctxDone)
			if err == context.Canceled || c.crashed() {
				return nil
			}
			if err != nil {
				return fmt.Errorf("next: %w", err)
			}
			c.logf("next %d-%d", r.FirstSeq, r.LastSeq())
			m, err := c.match(r)
			if err != nil {
				return fmt.Errorf("next: %w", err)
			}
			// After a rewind the first record may be one partly acknowledged.
			if r.LastSeq() <= c.lastIn || (len(c.sent) > 0 && r.FirstSeq <= c.lastIn) {
				return fmt.Errorf("next: record %d-%d after %d: out of order", r.FirstSeq, r.LastSeq(), c.lastIn)
			}
			c.lastIn = r.LastSeq()
			c.sent = append(c.sent, m)
		}
	case stepAckAll:
		if c.lastIn <= pos.acked {
			return nil
		}
		err := s.Ack(c.lastIn)
		c.logf("ack %d: %v", c.lastIn, err)
		if err != nil && !c.crashed() {
			return fmt.Errorf("ack: %w", err)
		}
	case stepAck:
		var open []mrec
		for _, m := range c.sent {
			if m.last() > pos.acked {
				open = append(open, m)
			}
		}
		if len(open) == 0 {
			return nil
		}
		m := open[c.rng.IntN(len(open))]
		through := m.last()
		if c.rng.IntN(4) == 0 {
			through = m.first + uint64(c.rng.IntN(m.n)) // part of a record
		}
		err := s.Ack(through)
		c.logf("ack %d: %v", through, err)
		if err != nil && !c.crashed() {
			return fmt.Errorf("ack: %w", err)
		}
	case stepRewind:
		s.Rewind()
		c.logf("rewind")
		c.lastIn, c.sent = pos.acked, nil
	case stepSync:
		err := s.Sync()
		c.logf("sync: %v", err)
		if err == nil {
			for i := range c.recs {
				c.recs[i].durable = true
			}
		} else if !c.crashed() {
			return fmt.Errorf("sync: %w", err)
		}
	case stepCheck:
		st := s.Stats()
		rep, err := s.Verify()
		if c.crashed() {
			return nil
		}
		if err != nil || len(rep.Bad) > 0 {
			return fmt.Errorf("verify in the middle of the run: %v %v", rep.Bad, err)
		}
		if err := c.checkFigures(st, s.position().acked, c.recs); err != nil {
			return fmt.Errorf("in the middle of the run: %w", err)
		}
	}
	p := s.position()
	if c.mode == crashfs.ProcessCrash {
		c.known = max(c.known, p.written)
	} else {
		c.known = max(c.known, p.durable)
	}
	return nil
}

// match finds the model record r is and checks its content.
func (c *crashRun) match(r Record) (mrec, error) {
	for _, m := range c.recs {
		if m.first != r.FirstSeq {
			continue
		}
		if m.n != r.Count {
			return m, fmt.Errorf("record at %d has %d events, batch %d had %d", r.FirstSeq, r.Count, m.k, m.n)
		}
		got, err := r.Decode(modelPool)
		if err != nil {
			return m, fmt.Errorf("record at %d: %w", r.FirstSeq, err)
		}
		d := sameBatch(got, m.b)
		got.Release()
		if d != "" {
			return m, fmt.Errorf("record at %d is not batch %d: %s", r.FirstSeq, m.k, d)
		}
		return m, nil
	}
	return mrec{}, fmt.Errorf("record %d-%d was never appended", r.FirstSeq, r.LastSeq())
}

// checkFigures checks Events and Records against the records present.
func (c *crashRun) checkFigures(st Stats, acked uint64, present []mrec) error {
	var events, records uint64
	for _, m := range present {
		if m.maybe || m.last() <= acked {
			continue
		}
		events += m.last() - max(m.first-1, acked)
		records++
	}
	if st.Events != events || st.Records != records {
		return fmt.Errorf("stats say %d events in %d records, %d in %d are there (acked %d)", st.Events, st.Records, events, records, acked)
	}
	return nil
}

// crash ends the run on the current disk and reopens the spool on what a
// crash leaves, checking the properties.
func (c *crashRun) crash() error {
	c.disk.Crash()
	at := c.s.position()
	c.s.Close()
	_, op := c.disk.Crashed()
	c.logf("crash at %q (acked %d, known durable %d)", op, at.acked, c.known)
	disk := c.disk.Recover(c.rng, c.mode)
	o := c.opts
	o.FS = simFS{disk}
	s, err := Open(o)
	if err != nil {
		return fmt.Errorf("property 5: open after the crash: %w", err)
	}
	c.s, c.disk = s, disk
	st := s.Stats()
	if st.Recovery.CursorAhead != 0 || st.Recovery.Missing != 0 {
		return fmt.Errorf("property 6: recovery found the cursor %d events ahead of the data and %d events missing",
			st.Recovery.CursorAhead, st.Recovery.Missing)
	}
	var present []mrec
	var last uint64
	for {
		r, err := s.Next(ctxDone)
		if err == context.Canceled {
			break
		}
		if err != nil {
			return fmt.Errorf("next after the crash: %w", err)
		}
		m, err := c.match(r)
		if err != nil {
			return fmt.Errorf("property 2: %w", err)
		}
		if r.FirstSeq <= last {
			return fmt.Errorf("property 1: record %d-%d after %d: out of order or twice", r.FirstSeq, r.LastSeq(), last)
		}
		if r.LastSeq() <= c.known {
			return fmt.Errorf("property 3: record %d-%d came back, acknowledged through %d by a durable cursor", r.FirstSeq, r.LastSeq(), c.known)
		}
		last = r.LastSeq()
		m.maybe, m.durable = false, true // recovery synced it
		present = append(present, m)
	}
	seen := map[uint64]bool{}
	for _, m := range present {
		seen[m.first] = true
	}
	for _, m := range c.recs {
		if m.durable && m.last() > at.acked && !seen[m.first] {
			return fmt.Errorf("property 1: batch %d (%d-%d), durable and not acknowledged (acked %d), is gone", m.k, m.first, m.last(), at.acked)
		}
	}
	acked := s.position().acked
	if err := c.checkFigures(st, acked, present); err != nil {
		return fmt.Errorf("property 4: %w", err)
	}
	if rep, err := s.Verify(); err != nil || len(rep.Bad) > 0 {
		return fmt.Errorf("property 6: verify after recovery: %v %v", rep.Bad, err)
	}
	c.recs, c.sent, c.lastIn, c.known = present, nil, acked, acked
	return nil
}

// runSeed runs a random workload of a few crash cycles.
func runSeed(seed uint64, fault fault, cd *codec) (err error) {
	c := newCrashRun(seed, fault, cd)
	defer func() {
		if c.s != nil {
			c.s.Close()
		}
		if err != nil {
			err = fmt.Errorf("seed %d (%v, %v, segment %d, max %d, %v): %w", seed, c.opts.Sync, c.opts.WhenFull,
				c.opts.SegmentSize, c.opts.MaxBytes, c.mode, err)
		}
	}()
	if c.s, err = Open(c.opts); err != nil {
		return err
	}
	weights := []int{stepAppend: 30, stepAppendBig: 4, stepNext: 25, stepAck: 12, stepRewind: 4, stepSync: 10, stepCheck: 3, stepAckAll: 4}
	total := 0
	for _, w := range weights {
		total += w
	}
	for cycle := range 3 {
		steps := 20 + c.rng.IntN(60)
		if c.rng.IntN(2) == 0 {
			c.disk.CrashAfter(1 + c.rng.IntN(steps*3)) // at any operation
		} else { // right after a sync, of each kind as often
			kind := []string{"fsync 0", "fsync cursor", "syncdir"}[c.rng.IntN(3)]
			c.disk.CrashAfterSyncs(1+c.rng.IntN(steps/8+1), kind)
		}
		for range steps {
			x, st := c.rng.IntN(total), step(0)
			for ; x >= weights[st]; st++ {
				x -= weights[st]
			}
			if err := c.do(st); err != nil {
				return fmt.Errorf("cycle %d: %w\n%s", cycle, err, c.tail())
			}
			if c.crashed() {
				break
			}
		}
		if err := c.crash(); err != nil {
			return fmt.Errorf("cycle %d: %w\n%s", cycle, err, c.tail())
		}
		c.trace = c.trace[:0]
	}
	return nil
}

func (c *crashRun) tail() string {
	t := c.trace
	if len(t) > 40 {
		t = t[len(t)-40:]
	}
	out := ""
	for _, l := range t {
		out += "  " + l + "\n"
	}
	return out
}

// runSeeds runs seeds [1, n] on the CPUs; it returns the first failure
// by seed number (0 if none).
func runSeeds(n int, fault fault, stopAtFirst bool) (uint64, error) {
	var next atomic.Uint64
	var mu sync.Mutex
	var firstSeed uint64
	var firstErr error
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cd, _ := newCodec()
			for {
				seed := next.Add(1)
				if seed > uint64(n) {
					return
				}
				mu.Lock()
				stop := stopAtFirst && firstErr != nil && seed > firstSeed
				mu.Unlock()
				if stop {
					return
				}
				if err := runSeed(seed, fault, cd); err != nil {
					mu.Lock()
					if firstErr == nil || seed < firstSeed {
						firstSeed, firstErr = seed, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return firstSeed, firstErr
}

func TestCrashModel(t *testing.T) {
	n := crashSeeds()
	start := time.Now()
	if _, err := runSeeds(n, noFault, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d seeds, 3 crashes each, in %v", n, time.Since(start).Round(time.Millisecond))
}

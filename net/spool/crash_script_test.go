package spool

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// script is a short scenario that appends across segment rolls,
// acknowledges, syncs and removes segments; the tests crash it at every
// single disk operation.
var script = []step{
	stepAppend, stepAppend, // the second rolls (tiny segments)
	stepNext, stepNext, stepAckAll, stepSync, // the first segment goes
	stepAppend, stepNext, stepAckAll, stepSync,
	stepAppend, stepAppend, stepNext, stepSync,
}

func newScriptRun(policy SyncPolicy, f fault, cd *codec) *crashRun {
	c := &crashRun{rng: rand.New(rand.NewPCG(1, 2)), disk: crashfs.New()}
	c.disk.LogOps()
	o := simOpts(c.disk)
	o.SegmentSize, o.MaxBytes, o.Sync, o.fault, o.codec = minSegmentSize, 1<<20, policy, f, cd
	c.opts, c.mode = o, crashfs.PowerLoss
	return c
}

// runScript runs the script crashing after crashAt disk operations (-1:
// not at all) and checks what recovery finds. It returns the number of
// operations the script ran and the operation the crash hit.
func runScript(policy SyncPolicy, f fault, cd *codec, crashAt int, mode crashfs.Mode, tear uint64) (ops int, hit string, err error) {
	c := newScriptRun(policy, f, cd)
	if c.s, err = Open(c.opts); err != nil {
		return 0, "", err
	}
	defer func() { c.s.Close() }()
	if crashAt >= 0 {
		c.disk.CrashAfter(crashAt - c.disk.Ops())
	}
	for _, st := range script {
		if err := c.do(st); err != nil {
			return 0, "", err
		}
		if c.crashed() {
			break
		}
	}
	ops = c.disk.Ops()
	_, hit = c.disk.Crashed()
	c.rng, c.mode = rand.New(rand.NewPCG(tear, 7)), mode
	if err := c.crash(); err != nil {
		return ops, hit, fmt.Errorf("%w\n%s", err, c.tail())
	}
	return ops, hit, nil
}

var crashModes = []struct {
	mode crashfs.Mode
	tear uint64
}{{crashfs.DropAll, 0}, {crashfs.ProcessCrash, 0}, {crashfs.PowerLoss, 1}, {crashfs.PowerLoss, 2}, {crashfs.PowerLoss, 3}}

// everyStep crashes the script at each of its disk operations under each
// crash mode; it returns the first violation.
func everyStep(policy SyncPolicy, f fault, cd *codec) (string, error) {
	total, _, err := runScript(policy, f, cd, -1, crashfs.DropAll, 0)
	if err != nil {
		return "no crash", err
	}
	for k := 1; k <= total+1; k++ {
		for _, m := range crashModes {
			if _, hit, err := runScript(policy, f, cd, k, m.mode, m.tear); err != nil {
				return fmt.Sprintf("%v: crash at operation %d of %d (%s), %v (tear seed %d)", policy, k, total, hit, m.mode, m.tear), err
			}
		}
	}
	return "", nil
}

func TestCrashEveryStep(t *testing.T) {
	cd, _ := newCodec()
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		if where, err := everyStep(policy, noFault, cd); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
}

// TestCrashModelCatchesBrokenOrdering breaks the spool's ordering rules on
// purpose and asserts the crash model sees it: the every-step script and
// random workloads both find a violation.
func TestCrashModelCatchesBrokenOrdering(t *testing.T) {
	const maxSeeds = 3000
	for _, tc := range []struct {
		name   string
		fault  fault
		policy SyncPolicy
	}{
		{"cursor synced before data", faultCursorBeforeData, SyncInterval},
		{"segment removed before the cursor is durable", faultRemoveBeforeCursor, SyncAlways},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cd, _ := newCodec()
			where, err := everyStep(tc.policy, tc.fault, cd)
			if err == nil {
				t.Fatalf("the every-step script found no violation")
			}
			t.Logf("every step: %s: %s", where, firstLine(err))
			seed, err := runSeeds(maxSeeds, tc.fault, true)
			if err == nil {
				t.Fatalf("%d random seeds found no violation", maxSeeds)
			}
			t.Logf("random workloads: first failing seed %d: %s", seed, firstLine(err))
		})
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

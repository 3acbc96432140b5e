package benchutil

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Abs is a binary's absolute path: a bare name is looked up in $PATH first.
func Abs(p string) string {
	if p == "" || !strings.ContainsRune(p, '/') {
		if lp, err := exec.LookPath(p); err == nil {
			p = lp
		}
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// PinChoice is the sender's CPU for taskset from a --pin flag: "auto" (the
// last CPU, if taskset is there and there are 2+), a number, or "none" (and
// "") for no pinning, which it returns as "".
func PinChoice(pin string) (string, error) {
	switch pin {
	case "none", "":
		return "", nil
	case "auto":
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			return "", nil
		}
		return strconv.Itoa(runtime.NumCPU() - 1), nil
	}
	if _, err := strconv.Atoi(pin); err != nil {
		return "", fmt.Errorf("--pin %q: a CPU number, auto or none", pin)
	}
	return pin, nil
}

// ParseRates parses a comma-separated list of messages/s, each a number with
// an optional k (thousands): "300000,400k,1.5K".
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(f), "k"), 64)
		if err != nil {
			return nil, fmt.Errorf("rate %q: %v", f, err)
		}
		if strings.HasSuffix(strings.ToLower(f), "k") {
			v *= 1000
		}
		out = append(out, v)
	}
	return out, nil
}

// WorkDir is the scratch directory dir made absolute or, if dir is "", a new
// temporary one (os.MkdirTemp("", pattern)), which the bench removes at the
// end (temp).
func WorkDir(dir, pattern string) (abs string, temp bool, err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", pattern); err != nil {
			return "", false, err
		}
		temp = true
	}
	return Abs(dir), temp, nil
}

// OnSignal makes SIGINT, SIGTERM and SIGHUP say so on stderr (as prog), run
// stop (which kills what the bench started) and exit with status 130.
func OnSignal(prog string, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "%s: %s: stopping every process it started\n", prog, s)
		stop()
		os.Exit(130)
	}()
}

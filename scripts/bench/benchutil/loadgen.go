package benchutil

import (
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// SendReport is the JSON line `ferry-loadgen send` prints at the end.
type SendReport struct {
	Sent    uint64  `json:"sent"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	Errors  uint64  `json:"errors"`
}

// Send runs a `ferry-loadgen send` command line (argv) as the process
// "sender", under `taskset -c pin` unless pin is "", waits up to limit for it
// to finish and returns its report and the CPU seconds it used (rusage).
func Send(pin string, limit time.Duration, argv ...string) (SendReport, float64, error) {
	var rep SendReport
	if pin != "" {
		argv = append([]string{"taskset", "-c", pin}, argv...)
	}
	p, err := procs.Start("sender", argv)
	if err != nil {
		return rep, 0, err
	}
	if err := p.Wait(limit); err != nil {
		return rep, 0, fmt.Errorf("sender: %v\n%s", err, p.Stderr.String())
	}
	var cpu float64
	if ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if err := json.Unmarshal([]byte(p.Stdout.LastLine()), &rep); err != nil {
		return rep, cpu, fmt.Errorf("sender output %q: %v", p.Stdout.String(), err)
	}
	return rep, cpu, nil
}

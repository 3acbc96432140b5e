package benchutil

import (
	"os"
	"os/exec"
	"strings"
)

// RunOut runs a command and returns its output (stdout and stderr), trimmed.
func RunOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// ReadTrim is a (/proc) file's content without surrounding white space; ""
// if it cannot be read.
func ReadTrim(path string) string {
	raw, _ := os.ReadFile(path)
	return strings.TrimSpace(string(raw))
}

// CPUModel is the first "model name" in /proc/cpuinfo ("" if none).
func CPUModel() string {
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// KernelRelease is the running kernel's release (uname -r).
func KernelRelease() string { return ReadTrim("/proc/sys/kernel/osrelease") }

// RsyslogdVersion is the first line of `rsyslogd -v` without its "compiled
// with:" tail ("" if bin does not run).
func RsyslogdVersion(bin string) string {
	out, err := RunOut(bin, "-v")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(strings.TrimSuffix(strings.SplitN(out, "\n", 2)[0], " compiled with:")), " ")
}

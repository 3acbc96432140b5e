package benchutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// Rsyslogd is one rsyslogd in the foreground with a directory of its own:
// rsyslog.conf, its work directory (work/), its pid file and the impstats
// file the benches read its counters from.
type Rsyslogd struct {
	Proc  *procs.Proc
	Dir   string
	Conf  string // the whole configuration
	Stats string // the impstats file (JSON lines)
}

// rsyslogGlobal is what every bench rsyslogd's configuration starts with: its
// own work directory, no DNS (nothing is ever looked up) and impstats every
// second into a file, which is how the benches read its counters.
func rsyslogGlobal(dir, stats string) string {
	return fmt.Sprintf("global(workDirectory=%q net.enableDNS=\"off\")\n", filepath.Join(dir, "work")) +
		fmt.Sprintf("module(load=\"impstats\" interval=\"1\" format=\"json\" log.syslog=\"off\" log.file=%q resetCounters=\"off\")\n", stats)
}

// StartRsyslogd writes dir/rsyslog.conf, the shared global() and impstats
// lines followed by body, has bin check it (-N1) and starts bin on it in the
// foreground as the process name.
func StartRsyslogd(bin, name, dir, body string) (*Rsyslogd, error) {
	r := &Rsyslogd{Dir: dir, Stats: filepath.Join(dir, "stats.json")}
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o700); err != nil {
		return nil, err
	}
	r.Conf = rsyslogGlobal(dir, r.Stats) + body
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(r.Conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := RunOut(bin, "-N1", "-f", confFile); err != nil {
		return nil, fmt.Errorf("rsyslogd -N1 -f %s: %v\n%s\n%s", confFile, err, out, r.Conf)
	}
	var err error
	r.Proc, err = procs.Start(name, []string{bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid")})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Stop stops rsyslogd with SIGTERM, killing it after 20 s.
func (r *Rsyslogd) Stop() error { return r.Proc.Stop(syscall.SIGTERM, 20*time.Second) }

// Describe is the configuration without the lines every bench rsyslogd shares
// (global() and impstats) and with the scratch directory left out, on one
// line.
func (r *Rsyslogd) Describe() string {
	var keep []string
	for l := range strings.SplitSeq(strings.TrimSpace(r.Conf), "\n") {
		if !strings.HasPrefix(l, "global(") && !strings.Contains(l, "impstats") {
			keep = append(keep, strings.ReplaceAll(l, r.Dir+"/", ""))
		}
	}
	return strings.Join(keep, "; ")
}

// ImpstatsRecord is one counter set of an impstats emission (one JSON line).
type ImpstatsRecord map[string]any

// Name is the record's "name" ("main Q", "imudp(127.0.0.1:...)", ...).
func (m ImpstatsRecord) Name() string { s, _ := m["name"].(string); return s }

// Origin is the record's "origin" ("imudp", "core.action", ...).
func (m ImpstatsRecord) Origin() string { s, _ := m["origin"].(string); return s }

// Num is the counter k (0 if there is none).
func (m ImpstatsRecord) Num(k string) uint64 { v, _ := m[k].(float64); return uint64(v) }

// Has reports whether the record has the counter k.
func (m ImpstatsRecord) Has(k string) bool { return m[k] != nil }

// ReadStats calls each for every record in the impstats file, oldest first,
// so that the last call for a counter set has its latest figures. Before the
// first emission there is no file and no call; a line still being written is
// passed over.
func (r *Rsyslogd) ReadStats(each func(ImpstatsRecord)) error {
	raw, err := os.ReadFile(r.Stats)
	if os.IsNotExist(err) {
		return nil // no emission yet
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		var m ImpstatsRecord
		if json.Unmarshal([]byte(line[i:]), &m) != nil {
			continue // a line still being written
		}
		each(m)
	}
	return nil
}

package benchutil

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

// FerrydOptions says how StartFerryd starts one ferryd.
type FerrydOptions struct {
	Bin  string // the ferryd binary
	Name string // the process's name, and the daemon's in messages ("ferryd", "ferryd edge")
	// Dir is its scratch directory: bootstrap.ferry, ready.json and the
	// data dir, Dir/data.
	Dir string
	// Boot is the first-boot batch (--bootstrap), written to
	// Dir/bootstrap.ferry on the first start.
	Boot string
	// Restart starts it again on the data dir of an earlier start: no
	// bootstrap is written and no password changed (the confdb has it all).
	Restart   bool
	LogLevel  string        // --log-level
	ReadyWait time.Duration // how long it may take to write its ready file
	// InitialPassword is root's first password (FERRY_INITIAL_PASSWORD), which
	// the first login must change to Password.
	InitialPassword, Password string
	// Started, if set, learns of the process as soon as it is started.
	Started func(*procs.Proc)
}

// Ferryd is a ferryd that is ready, with an SSH connection as root kept open
// (for its counters).
type Ferryd struct {
	Proc    *procs.Proc
	Client  *gossh.Client
	SSHAddr string
	Version string // from its ready file
}

// StartFerryd starts ferryd on o.Dir/data with its SSH listener on a free
// loopback port, waits for its ready file (which appears once every part,
// the bootstrap's receivers and listeners included, has started), changes
// root's password on the first start and logs in. On error the process is
// killed.
func StartFerryd(o FerrydOptions) (*Ferryd, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	bootFile, readyFile := filepath.Join(o.Dir, "bootstrap.ferry"), filepath.Join(o.Dir, "ready.json")
	if !o.Restart {
		if err := os.WriteFile(bootFile, []byte(o.Boot), 0o600); err != nil {
			return nil, err
		}
	}
	os.Remove(readyFile)
	p, err := procs.Start(o.Name, []string{o.Bin, "--data-dir", filepath.Join(o.Dir, "data"), "--ssh-addr", "127.0.0.1:0",
		"--ready-file", readyFile, "--bootstrap", bootFile, "--log-level", o.LogLevel}, "FERRY_INITIAL_PASSWORD="+o.InitialPassword)
	if err != nil {
		return nil, err
	}
	if o.Started != nil {
		o.Started(p)
	}
	ok := false
	defer func() {
		if !ok {
			p.Kill()
		}
	}()
	var ready struct {
		PID       int               `json:"pid"`
		Version   string            `json:"version"`
		Listeners map[string]string `json:"listeners"`
	}
	for deadline := time.Now().Add(o.ReadyWait); ; time.Sleep(10 * time.Millisecond) {
		if raw, err := os.ReadFile(readyFile); err == nil && json.Unmarshal(raw, &ready) == nil {
			break
		}
		if p.Exited() {
			return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", o.Name, p.ExitErr(), p.Stderr.String())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready within %.0f s\n%s", o.Name, o.ReadyWait.Seconds(), p.Stderr.String())
		}
	}
	if ready.PID != p.PID() || ready.Listeners["ssh"] == "" {
		return nil, fmt.Errorf("ready file %+v is not this %s's (pid %d)", ready, o.Name, p.PID())
	}
	f := &Ferryd{Proc: p, SSHAddr: ready.Listeners["ssh"], Version: ready.Version}
	if !o.Restart {
		// First login: the forced password change (exec and batch sessions
		// accept only passwd until then).
		if err := ExecPassword(f.SSHAddr, o.InitialPassword, "passwd", o.Password+"\n"+o.Password+"\n"); err != nil {
			return nil, fmt.Errorf("%s passwd: %w", o.Name, err)
		}
	}
	if f.Client, err = dialRoot(f.SSHAddr, o.Password); err != nil {
		return nil, fmt.Errorf("%s ssh: %w", o.Name, err)
	}
	ok = true
	return f, nil
}

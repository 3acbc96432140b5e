package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
	"github.com/ferry-appliance/ferry/scripts/bench/benchutil/procs"
)

const (
	ferryInitialPassword = "Bench-Pass-0001x"
	ferryPassword        = "Bench-Changed-0002"
	relayPassword        = "Relay-Bench-0003"
)

// node is one ferryd: a data dir of its own, an SSH connection kept open for
// the counters.
type node struct {
	name    string
	dir     string // the node's scratch dir: bootstrap, ready file, data/
	data    string // --data-dir
	p       *procs.Proc
	cli     *gossh.Client
	version string
}

// startNode starts ferryd on dir/data. On the first start, boot is the
// first-boot batch (--bootstrap) and root's forced password change follows;
// a restart (first false) finds its records in the confdb.
func (b *bench) startNode(name, boot string, first bool) (*node, error) {
	n := &node{name: name, dir: filepath.Join(b.work, name)}
	n.data = filepath.Join(n.dir, "data")
	fd, err := benchutil.StartFerryd(benchutil.FerrydOptions{Bin: b.ferryd, Name: "ferryd " + name, Dir: n.dir, Boot: boot, Restart: !first,
		LogLevel: b.logLevel, ReadyWait: 60 * time.Second, InitialPassword: ferryInitialPassword, Password: ferryPassword, Started: b.startHook})
	if err != nil {
		return nil, err
	}
	n.p, n.cli, n.version = fd.Proc, fd.Client, fd.Version
	return n, nil
}

// exec runs one exec command line (commands separated by ;) and returns its stdout.
func (n *node) exec(command string) ([]byte, error) {
	sess, err := n.cli.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ferryd %s ssh session: %w", n.name, err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errOut
	if err := sess.Run(command); err != nil {
		return out.Bytes(), fmt.Errorf("ferryd %s: %q: %v: %s%s", n.name, command, err, out.String(), errOut.String())
	}
	return out.Bytes(), nil
}

// batch runs a batch (`ssh -T host < batch`: no command, no PTY): one command
// a line, a secret on the line after the command that asks it.
func (n *node) batch(lines string) (string, error) {
	sess, err := n.cli.NewSession()
	if err != nil {
		return "", fmt.Errorf("ferryd %s ssh session: %w", n.name, err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader(lines), &out, &errOut
	if err := sess.Shell(); err != nil {
		return "", fmt.Errorf("ferryd %s batch: %w", n.name, err)
	}
	if err := sess.Wait(); err != nil {
		return out.String(), fmt.Errorf("ferryd %s batch: %v: %s%s", n.name, err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// decodeAll decodes one JSON document per value in vs from raw, in order.
func decodeAll(raw []byte, vs ...any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var errs []error
	for _, v := range vs {
		errs = append(errs, dec.Decode(v))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%v in %q", err, raw)
	}
	return nil
}

// stop stops the node with SIGTERM (a clean stop: spools closed) and waits.
func (n *node) stop() error {
	if n.cli != nil {
		n.cli.Close()
	}
	return n.p.Stop(syscall.SIGTERM, 30*time.Second)
}

// logTail is the last lines of the node's log files (DATA/log/), for a report.
func (n *node) logTail(lines int) string {
	files, _ := filepath.Glob(filepath.Join(n.data, "log", "*"))
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		ls := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		if len(ls) > lines {
			ls = ls[len(ls)-lines:]
		}
		fmt.Fprintf(&b, "---- %s (last %d lines)\n%s\n", f, len(ls), strings.Join(ls, "\n"))
	}
	if b.Len() == 0 {
		return fmt.Sprintf("(no log files under %s/log; stderr:)\n%s", n.data, n.p.Stderr.String())
	}
	return b.String()
}

// ---- what the nodes report ----

type inputInfo struct {
	Name        string `json:"name"`
	State       string `json:"state"`
	Proto       string `json:"proto"`
	RcvBuf      int    `json:"rx_buf_size"`
	Readers     int    `json:"readers"`
	Received    uint64 `json:"received"`
	QueueDrops  uint64 `json:"dropped_queue"`
	Malformed   uint64 `json:"dropped_malformed"`
	KernelDrops uint64 `json:"dropped_kernel"`
	Truncated   uint64 `json:"truncated"`
	Relay       *struct {
		Connections  int    `json:"connections"`
		Batches      uint64 `json:"batches"`
		Events       uint64 `json:"events"`
		Stored       uint64 `json:"stored"`
		Routed       uint64 `json:"routed"`
		DupEvents    uint64 `json:"duplicates_suppressed"`
		Replayed     uint64 `json:"replayed_at_start"`
		IntakeBytes  int64  `json:"intake_bytes"`
		IntakeQueued uint64 `json:"intake_queued"`
		Corrupt      uint64 `json:"corrupt"`
		Refused      uint64 `json:"refused"`
		LastError    string `json:"last_error"`
	} `json:"relay"`
}

type outputInfo struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	State     string `json:"state"`
	EventsIn  uint64 `json:"events_in"`
	Written   uint64 `json:"events_written"`
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error"`
	Spool     *struct {
		Bytes    int64   `json:"bytes"`
		Limit    int64   `json:"limit"`
		Queued   uint64  `json:"events_queued"`
		OutRate  float64 `json:"out_per_second"`
		DropFull uint64  `json:"dropped_full"`
		DropAge  uint64  `json:"dropped_age"`
		DropDisk uint64  `json:"dropped_disk_full"`
		DropCorr uint64  `json:"dropped_corrupt"`
		Replayed uint64  `json:"replayed_at_start"`
	} `json:"spool"`
	Relay *struct {
		Members []struct {
			Name      string `json:"name"`
			State     string `json:"state"`
			LastError string `json:"last_error"`
			Sent      uint64 `json:"sent"`
			Acked     uint64 `json:"acknowledged"`
			Conns     uint64 `json:"connections_made"`
		} `json:"members"`
		Resent uint64 `json:"resent"`
		Acked  uint64 `json:"acknowledged"`
	} `json:"relay"`
}

// edgeState is the edge's counters at one moment.
type edgeState struct {
	udp, tcp inputInfo
	base     outputInfo
}

func (s edgeState) queued() uint64 {
	if s.base.Spool == nil {
		return 0
	}
	return s.base.Spool.Queued
}

func (s edgeState) spoolBytes() int64 {
	if s.base.Spool == nil {
		return 0
	}
	return s.base.Spool.Bytes
}

func (s edgeState) acked() uint64 {
	if s.base.Relay == nil {
		return 0
	}
	return s.base.Relay.Acked
}

func (s edgeState) resent() uint64 {
	if s.base.Relay == nil {
		return 0
	}
	return s.base.Relay.Resent
}

func (s edgeState) spoolDrops() uint64 {
	if sp := s.base.Spool; sp != nil {
		return sp.DropFull + sp.DropAge + sp.DropDisk + sp.DropCorr
	}
	return 0
}

// up: the base's connection is up.
func (s edgeState) up() bool {
	if s.base.Relay == nil {
		return false
	}
	for _, m := range s.base.Relay.Members {
		if strings.HasPrefix(m.State, "up") {
			return true
		}
	}
	return false
}

func (s edgeState) baseDescr() string {
	line := "state=" + s.base.State
	if r := s.base.Relay; r != nil {
		for _, m := range r.Members {
			line += fmt.Sprintf(", %s=%s (last error: %s)", m.Name, m.State, m.LastError)
		}
	}
	return line
}

func (b *bench) edgeStatus(n *node) (edgeState, error) {
	var s edgeState
	raw, err := n.exec("syslog.servers --json; forwarder.bases --json")
	if err != nil {
		return s, err
	}
	var ins []inputInfo
	var bases []outputInfo
	if err := decodeAll(raw, &ins, &bases); err != nil {
		return s, fmt.Errorf("edge status: %w", err)
	}
	for _, i := range ins {
		switch i.Name {
		case "udp1":
			s.udp = i
		case "tcp1":
			s.tcp = i
		}
	}
	for _, o := range bases {
		if o.Name == "core" {
			s.base = o
		}
	}
	if s.udp.Name == "" || s.tcp.Name == "" || s.base.Name == "" {
		return s, fmt.Errorf("edge status lacks udp1, tcp1 or base core: %s", raw)
	}
	return s, nil
}

// coreState is the core's counters at one moment.
type coreState struct {
	sink     outputInfo
	listener inputInfo
}

func (s coreState) dups() uint64 {
	if s.listener.Relay == nil {
		return 0
	}
	return s.listener.Relay.DupEvents
}

func (s coreState) intakeQueued() uint64 {
	if s.listener.Relay == nil {
		return 0
	}
	return s.listener.Relay.IntakeQueued
}

func (b *bench) coreStatus(n *node) (coreState, error) {
	var s coreState
	raw, err := n.exec("forwarder.outputs --json; forwarder.listeners --json")
	if err != nil {
		return s, err
	}
	var outs []outputInfo
	var ls []inputInfo
	if err := decodeAll(raw, &outs, &ls); err != nil {
		return s, fmt.Errorf("core status: %w", err)
	}
	for _, o := range outs {
		if o.Name == "sink" {
			s.sink = o
		}
	}
	if len(ls) > 0 {
		s.listener = ls[0]
	}
	if s.sink.Name == "" || s.listener.Name == "" {
		return s, fmt.Errorf("core status lacks output sink or the relay listener: %s", raw)
	}
	return s, nil
}

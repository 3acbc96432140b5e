package main

import (
	"path/filepath"
	"strings"

	"github.com/ferry-appliance/ferry/scripts/bench/benchutil"
)

// rsyslogd is one rsyslogd of the rsyslog path, in the foreground with its
// own directory (b.work/name), work directory and impstats file.
type rsyslogd struct {
	*benchutil.Rsyslogd
}

// startRsyslogd starts an rsyslogd whose configuration is the shared lines
// (see benchutil.StartRsyslogd) and then body.
func (b *bench) startRsyslogd(name, body string) (*rsyslogd, error) {
	r, err := benchutil.StartRsyslogd(b.rsyslogd, "rsyslogd "+name, filepath.Join(b.work, name), body)
	if err != nil {
		return nil, err
	}
	return &rsyslogd{r}, nil
}

// rsStats is the latest impstats emission of the figures the bench needs.
type rsStats struct {
	imudp, imtcp    uint64 // messages submitted by the inputs
	enqueued, qsize uint64 // main queue
	discarded       uint64 // main queue discarded.full + discarded.nf
	fwdProcessed    uint64 // omfwd action processed
	fwdFailed       uint64
	fwdSuspended    uint64
	emissions       int
	imtcpName       string
}

func (r *rsyslogd) readStats() (rsStats, error) {
	var s rsStats
	err := r.ReadStats(func(m benchutil.ImpstatsRecord) {
		name, origin := m.Name(), m.Origin()
		switch {
		case origin == "imudp" && strings.HasPrefix(name, "imudp(127.0.0.1"):
			s.imudp = m.Num("submitted")
		case origin == "imtcp" && strings.HasPrefix(name, "imtcp(") && m.Has("submitted"):
			s.imtcp, s.imtcpName = m.Num("submitted"), name
		case name == "main Q":
			s.enqueued, s.qsize = m.Num("enqueued"), m.Num("size")
			s.discarded = m.Num("discarded.full") + m.Num("discarded.nf")
			s.emissions++
		case strings.HasSuffix(name, "builtin:omfwd") && origin == "core.action":
			s.fwdProcessed, s.fwdFailed, s.fwdSuspended = m.Num("processed"), m.Num("failed"), m.Num("suspended")
		}
	})
	return s, err
}

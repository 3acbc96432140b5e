package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/store"
)

// bootstrap runs the first-boot batch once, through the live registry, after
// every subsystem has started (so its commands apply as an operator's would)
// and before the shell opens. A failure stops ferryd; the batch runs again at
// the next start.
type bootstrap struct {
	path  string // "" for the embedded file
	st    *store.Store
	reg   *shell.Registry
	log   *slog.Logger
	first *firstBoot
}

func (b *bootstrap) Start(ctx context.Context) error {
	done, err := b.st.Bootstrapped()
	if err != nil {
		return err
	}
	if !done.IsZero() {
		b.first.settle()
		return nil
	}
	src, closeSrc, err := bootstrapSource(b.path)
	if err != nil {
		return err
	}
	defer closeSrc()
	// The appliance itself runs it, with admin rights; the audit log names it "bootstrap".
	self := accounts.Identity{Name: "bootstrap", Role: accounts.Admin}
	var out bytes.Buffer
	// A receiver or binding that validates but cannot bind yet (no privilege
	// for 514, a port taken) is kept as failed: <reason>, and ferryd runs on.
	if err := b.reg.RunBatch(liveconf.KeepFailed(ctx), b.log, self, src, &out); err != nil {
		return fmt.Errorf("bootstrap %s: %s", bootstrapName(b.path), shell.Message(err))
	}
	b.log.Info("bootstrap applied", "source", bootstrapName(b.path))
	if err := b.st.MarkBootstrapped(time.Now()); err != nil {
		return err
	}
	b.first.settle()
	return nil
}

// Shutdown has nothing to stop: what the batch configured belongs to its subsystems.
func (b *bootstrap) Shutdown(context.Context) error { return nil }

// bootstrapSource returns the first-boot batch named by --bootstrap.
func bootstrapSource(path string) (io.Reader, func(), error) {
	if path == "" {
		return bytes.NewReader(defaultBootstrap), func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--bootstrap: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func bootstrapName(path string) string {
	if path == "" {
		return "(embedded)"
	}
	return path
}

// readyInfo is what --ready-file holds once every part has started: tests and
// scripts learn the bound addresses from it, never from a log sentence.
type readyInfo struct {
	PID       int               `json:"pid"`
	Version   string            `json:"version"`
	Listeners map[string]string `json:"listeners"`
}

// writeReady writes the ready file atomically (temp file, then rename), mode 0600.
func (a *app) writeReady() error {
	if a.readyFile == "" {
		return nil
	}
	raw, err := json.Marshal(readyInfo{PID: os.Getpid(), Version: version, Listeners: a.parts.Addrs()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.readyFile), ".ferry-ready-*")
	if err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("--ready-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), a.readyFile); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}

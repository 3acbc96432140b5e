package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/commands"
	"github.com/ferry-appliance/ferry/internal/lifecycle"
	"github.com/ferry-appliance/ferry/logfile"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/inputs"
	"github.com/ferry-appliance/ferry/net/outputs"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/net/selflog"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

const (
	adminAccount        = "root"
	initialPasswordFile = "initial-password"
	initialPasswordEnv  = "FERRY_INITIAL_PASSWORD"
	confdbFile          = "confdb.db"
	// secretKeyFile seals the keystore passwords in the confdb: back it up with the confdb, apart from it.
	secretKeyFile = "secret.key"
	// lockTimeout is how long a second ferryd waits for the confdb lock before giving up.
	lockTimeout = time.Second
)

// app is the running appliance: its log and the sequence of its parts.
type app struct {
	log       *slog.Logger
	logOut    *logfile.Writer
	parts     *lifecycle.Sequence
	readyFile string
}

// start builds every part (validation only), then starts them in the declared order.
func start(o options, level slog.Level, stderr io.Writer) (_ *app, err error) {
	// Absolute from here on: paths the shell shows and compares must not depend on the cwd.
	if o.dataDir, err = filepath.Abs(o.dataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if o.readyFile != "" {
		// A stale file from an earlier run must never be taken for this one's.
		if err := os.Remove(o.readyFile); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("--ready-file: %w", err)
		}
	}
	a := &app{readyFile: o.readyFile}
	if a.logOut, err = logfile.Open(filepath.Join(o.dataDir, "log")); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.logOut.Close()
		}
	}()
	var out *logfile.Output
	hostname, _ := os.Hostname()
	hook := &sentryHook{}
	feed := selflog.New(hostname, hook.deliver)
	a.log, out = newLog(a.logOut, stderr, level, feed) // the file first; stderr may close (logsetup.go)
	slog.SetDefault(a.log)

	if a.parts, err = build(o, a.log, out, a.logOut.Path(), feed, hook); err != nil {
		return nil, err
	}
	if err := a.parts.Start(context.Background()); err != nil {
		return nil, err
	}
	if err := a.writeReady(); err != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		a.parts.Shutdown(shutdownCtx)
		return nil, err
	}
	return a, nil
}

// build constructs the parts and declares their order. Later issues insert
// their parts into this one list; the appliance stops it in reverse.
// out is the log's output, which reports what it could not write (nil: none).
// feed is the self-log (sentry.addBase); hook gets the destinations.
func build(o options, log *slog.Logger, out *logfile.Output, logPath string, feed *selflog.Feed, hook *sentryHook) (*lifecycle.Sequence, error) {
	hostname, _ := os.Hostname()
	st, err := store.New(filepath.Join(o.dataDir, confdbFile), lockTimeout)
	if err != nil {
		return nil, err
	}
	acc := accounts.New(st)
	hostKeys, err := certs.NewHostKeySet(st, log)
	if err != nil {
		return nil, err
	}
	logins := lockout.New(lockout.Default, log, nil)
	model := status.New()
	sessions := shell.NewSessions()
	first := &firstBoot{dataDir: o.dataDir, st: st, acc: acc, log: log}
	secrets := &secretKey{path: filepath.Join(o.dataDir, secretKeyFile)}
	keystores, err := certs.NewRegistry(certs.RegistryConfig{
		Records: st.Keystores(), Secrets: secrets, Flags: st, Status: model, Log: log,
		CADir: filepath.Join(o.dataDir, "ca", "certs"), Hostname: hostname,
	})
	if err != nil {
		return nil, err
	}
	pipe := pipeline.New(0, log)
	self := &outputs.Node{Settings: st, Host: hostname}
	if feed == nil {
		feed = selflog.New(hostname, func(*event.Batch) {})
	}
	feed.Report(model)
	dests, err := outputs.New(outputs.Config{Outputs: st.Outputs(), Routes: st.Routes(), Filters: st.Filters(), Router: pipe,
		SpoolDir: filepath.Join(o.dataDir, "spool"), Status: model, Log: log,
		Relay: outputs.RelayDeps{Keys: keystores, Identity: self.Identity, Sentry: self.SentryIdentity}})
	if err != nil {
		return nil, err
	}
	self.Dests = dests
	if hook != nil {
		hook.dests.Store(dests)
	}
	receivers, err := inputs.New(inputs.Config{Records: st.Inputs(), Keys: keystores, Sink: pipe, Pool: event.NewPool(0, 0), Status: model, Log: log,
		Router: pipe, RelayDir: filepath.Join(o.dataDir, "relay"), Identity: self.Identity})
	if err != nil {
		return nil, err
	}
	web, con, err := buildWeb(st, acc, logins, model, sessions, keystores, collector{receivers, dests}, log, hostname)
	if err != nil {
		return nil, err
	}
	reg, err := commands.Build(commands.Services{
		Accounts: acc, Lockouts: logins, Confdb: st.Operations(), Status: model, Sessions: sessions, HostKeys: hostKeys, LogPath: logPath,
		Keystores: keystores, Bindings: web, Inputs: receivers, Trace: pipe, Outputs: dests, Filters: dests, Spools: dests, Relay: self,
	})
	if err != nil {
		return nil, err
	}
	sh, err := shell.New(shell.Config{
		Addr: o.sshAddr, HostKeys: hostKeys, Accounts: acc, Registry: reg, Sessions: sessions,
		Lockout: logins, Status: model, Logger: log, Version: version, BuildDate: buildDate, Hostname: hostname,
	})
	if err != nil {
		return nil, err
	}
	return lifecycle.New(log,
		lifecycle.Part{Name: "store", Component: st},
		lifecycle.Part{Name: "status", Component: systemStatus(model, st, logins, out, o.dataDir, hostname)},
		lifecycle.Part{Name: "hostkeys", Component: hostKeys},
		lifecycle.Part{Name: "first-boot", Component: first},
		lifecycle.Part{Name: "secrets", Component: secrets},
		lifecycle.Part{Name: "keystores", Component: keystores},
		// Destinations connect in the background and never block boot.
		// Stopping runs the list backwards: admin surfaces, receivers,
		// pipeline (drains), destinations (flush, and later wait for
		// acknowledgements until the deadline), store.
		lifecycle.Part{Name: "destinations", Component: dests},
		// The daemon's own log to the sentry bases: after the destinations, so it stops before them.
		lifecycle.Part{Name: "sentry-feed", Component: feed},
		lifecycle.Part{Name: "pipeline", Component: pipelineStatus(pipe, model)},
		lifecycle.Part{Name: "receivers", Component: receivers},
		lifecycle.Part{Name: "console", Component: con},
		lifecycle.Part{Name: "web", Component: web},
		lifecycle.Part{Name: "bootstrap", Component: &bootstrap{path: o.bootstrap, st: st, reg: reg, log: log, first: first}},
		lifecycle.Part{Name: "shell", Component: sh},
	)
}

// stop shuts the parts down in reverse start order, then closes the log.
func (a *app) stop(ctx context.Context) error {
	err := a.parts.Shutdown(ctx)
	if a.readyFile != "" {
		os.Remove(a.readyFile)
	}
	if err != nil {
		a.log.Error("shutdown", "err", err)
	}
	a.log.Info("stopped")
	if cerr := a.logOut.Close(); err == nil {
		err = cerr
	}
	return err
}

// firstBoot creates root while no account exists, and undoes a first boot that
// did not finish: the next start is then a first boot again, not half of one.
type firstBoot struct {
	dataDir string
	st      *store.Store
	acc     *accounts.Service
	log     *slog.Logger

	wrote   string // the initial-password file it wrote, if any
	settled bool   // the first boot completed (the bootstrap ran)
}

// Start is ensureAdmin: FERRY_INITIAL_PASSWORD, or a random password written to
// <data-dir>/initial-password (0600). The password is never logged. Once any
// account exists it never acts again: an admin who removed root must not see it
// come back with a known password.
func (f *firstBoot) Start(ctx context.Context) (err error) {
	// Once root has a password of its own, the file holds a dead one: remove it.
	f.acc.OnPasswordChange(func(name string) {
		if name != adminAccount {
			return
		}
		path := filepath.Join(f.dataDir, initialPasswordFile)
		if rerr := os.Remove(path); rerr == nil {
			f.log.Info("initial password file removed: root's password has been changed", "path", path)
		} else if !os.IsNotExist(rerr) {
			f.log.Warn("initial password file not removed", "path", path, "err", rerr)
		}
	})
	if all, err := f.acc.List(); err != nil || len(all) > 0 {
		return err
	}
	// A part whose Start fails undoes itself: the sequence stops only the parts that started.
	defer func() {
		if err != nil {
			f.Shutdown(ctx)
		}
	}()
	pw, fromEnv := os.LookupEnv(initialPasswordEnv)
	if fromEnv && pw != "" {
		if err := accounts.CheckPolicy("", pw); err != nil {
			return fmt.Errorf("%s: %w", initialPasswordEnv, err)
		}
	}
	if !fromEnv || pw == "" {
		pw = randomPassword()
		f.wrote = filepath.Join(f.dataDir, initialPasswordFile)
		if err := os.WriteFile(f.wrote, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("write initial password: %w", err)
		}
		defer f.log.Info("initial password for root written", "path", f.wrote)
	} else {
		defer f.log.Info("initial password for root taken from " + initialPasswordEnv)
	}
	_, err = f.acc.EnsureInitialAdmin(adminAccount, pw)
	return err
}

// settle marks the first boot complete.
func (f *firstBoot) settle() { f.settled = true }

// Shutdown removes what an unfinished first boot created. It runs before the
// store closes, so the files go while the confdb lock is held and a second
// ferryd waiting for the lock never opens a file that is about to vanish.
func (f *firstBoot) Shutdown(context.Context) error {
	if f.settled || !f.st.Created() {
		return nil
	}
	var errs []error
	for _, path := range []string{f.st.Path(), f.wrote} {
		if path == "" {
			continue
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("undo first boot: %v", errs)
	}
	return nil
}

// randomPassword is crypto/rand's 26-character base32 text: 130 bits.
func randomPassword() string { return rand.Text() }

// systemStatus reports the appliance's own section: what runs, where, since when.
func systemStatus(model *status.Model, st *store.Store, logins *lockout.Lockout, out *logfile.Output, dataDir, hostname string) lifecycle.Component {
	var regs []*status.Registration
	started := time.Now()
	return lifecycle.Hooks{
		OnStart: func(context.Context) error {
			sys, err := model.Register("system", nil, func() []status.Field {
				size, _ := st.Size()
				return []status.Field{
					sysVersion.Field(version), sysBuild.Field(buildDate), sysHostname.Field(hostname),
					sysDataDir.Field(dataDir), sysUptime.Field(int64(time.Since(started).Seconds())),
					sysConfdbSize.Field(size),
				}
			})
			if err != nil {
				return err
			}
			regs = append(regs, sys)
			lock, err := logins.Report(model, "ssh")
			if err != nil {
				sys.Remove()
				return err
			}
			regs = append(regs, lock)
			// The log's own section: records the file or stderr could not take.
			if out != nil {
				lg, err := out.Report(model)
				if err != nil {
					lock.Remove()
					sys.Remove()
					return err
				}
				regs = append(regs, lg)
			}
			return nil
		},
		OnShutdown: func(context.Context) error {
			for _, r := range regs {
				r.Remove()
			}
			return nil
		},
	}
}

// The system section's fields (ferry_system_*).
var (
	sysVersion    = status.NewInfo("version", "Ferry version")
	sysBuild      = status.NewInfo("build", "Build date")
	sysHostname   = status.NewInfo("hostname", "Host name")
	sysDataDir    = status.NewInfo("data_dir", "Data directory")
	sysUptime     = status.NewGauge("uptime_seconds", "seconds", "Time since ferryd started")
	sysConfdbSize = status.NewGauge("confdb_size_bytes", "bytes", "Size of the confdb file")
)

// pipelineStatus runs the pipeline and reports its counters (ferry_pipeline_*).
func pipelineStatus(p *pipeline.Pipeline, model *status.Model) lifecycle.Component {
	var reg *status.Registration
	return lifecycle.Hooks{
		OnStart: func(ctx context.Context) (err error) {
			if err := p.Start(ctx); err != nil {
				return err
			}
			reg, err = model.Register("pipeline", nil, func() []status.Field {
				st := p.Stats()
				return []status.Field{pipeEvents.Field(st.Events), pipeFiltered.Field(st.Filtered),
					pipeUnrouted.Field(st.Unrouted), pipeQueueFull.Field(st.QueueFull), pipeAbandoned.Field(st.Abandoned)}
			})
			return err
		},
		OnShutdown: func(ctx context.Context) error {
			reg.Remove()
			// Draining may wait on a full spool that blocks: bound it, so the
			// destinations after it keep time to close their spools and files.
			pctx, cancel := context.WithTimeout(ctx, pipelineDrain)
			defer cancel()
			return p.Shutdown(pctx)
		},
	}
}

// pipelineDrain bounds how long shutdown waits for the pipeline's queue to drain.
const pipelineDrain = 2 * time.Second

// The pipeline section's fields.
var (
	pipeEvents    = status.NewCounter("events_total", "Events the pipeline routed")
	pipeFiltered  = status.NewCounter("filtered_total", "Events a filter dropped")
	pipeUnrouted  = status.NewCounter("unrouted_total", "Events of inputs routed to no destination")
	pipeAbandoned = status.NewCounter("abandoned_total", "Events still queued when shutdown's deadline passed, released unrouted")
	pipeQueueFull = status.NewCounter("queue_full_total", "Batches refused because the pipeline's queue was full (the receiver counts their events as dropped)")
)

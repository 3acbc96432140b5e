// Command ferryd is the Ferry appliance daemon.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferry-appliance/ferry/store"
)

// Set at build time with -ldflags "-X main.version=... -X main.buildDate=...".
var (
	version   = "dev"
	buildDate = "unknown"
)

//go:embed bootstrap.ferry
var defaultBootstrap []byte

// shutdownGrace is how long open sessions get to finish after SIGTERM.
const shutdownGrace = 5 * time.Second

type options struct {
	dataDir   string
	sshAddr   string
	bootstrap string
	logLevel  string
	readyFile string
}

func main() {
	var o options
	fs := flag.NewFlagSet("ferryd", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "data-dir", "/var/lib/ferry", "directory for confdb.db, host keys, logs")
	fs.StringVar(&o.sshAddr, "ssh-addr", ":7022", "address of the SSH admin shell")
	fs.StringVar(&o.bootstrap, "bootstrap", "", "shell commands run once on first boot (default: embedded; /dev/null: none)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.readyFile, "ready-file", "", "write JSON {pid, version, listeners} here once every listener is up")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Printf("ferryd %s (build %s)\n", version, buildDate)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "ferryd: %v\n", failure(err))
		os.Exit(1)
	}
}

// failure is the one line main prints for err. A damaged confdb's line says
// what to do, so it stands alone, without the part that found it.
func failure(err error) error {
	if de, ok := errors.AsType[*store.DamagedError](err); ok {
		return de
	}
	return err
}

// run starts the appliance and blocks until a signal stops it.
func run(o options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	// A reader of stderr that goes away (`ferryd 2>&1 | tee log`, then Ctrl-C)
	// must not kill the daemon with SIGPIPE before its clean stop: stderr
	// writes then fail with EPIPE, which the log counts, and the file log goes on.
	// (Go delivers SIGPIPE only for fds 1 and 2; sockets get EPIPE anyway.)
	signal.Ignore(syscall.SIGPIPE)
	// Before start: a signal that arrives while starting still gets a clean stop.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	app, err := start(o, level, os.Stderr)
	if err != nil {
		return err
	}
	sig := <-sigs
	app.log.Info("shutting down", "signal", sig.String())
	go func() {
		<-sigs
		app.log.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return app.stop(ctx)
}

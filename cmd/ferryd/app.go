package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/commands"
	"github.com/ferry-appliance/ferry/logfile"
	"github.com/ferry-appliance/ferry/shell"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

const (
	adminAccount        = "root"
	initialPasswordFile = "initial-password"
	initialPasswordEnv  = "FERRY_INITIAL_PASSWORD"
	confdbFile          = "confdb.db"
	// lockTimeout is how long a second ferryd waits for the confdb lock before giving up.
	lockTimeout = time.Second
)

// app is the running appliance: what start built, in the order stop tears it down.
type app struct {
	log    *slog.Logger
	logOut *logfile.Writer
	store  *store.Store
	shell  *shell.Server
	// discard lists files a failed first boot removes (before the confdb lock is released).
	discard []string
}

func start(o options, level slog.Level, stderr io.Writer) (_ *app, err error) {
	// Absolute from here on: paths the shell shows and compares must not depend on the cwd.
	if o.dataDir, err = filepath.Abs(o.dataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	a := &app{}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	if a.logOut, err = logfile.Open(filepath.Join(o.dataDir, "log")); err != nil {
		return nil, err
	}
	a.log = slog.New(slog.NewTextHandler(io.MultiWriter(stderr, a.logOut), &slog.HandlerOptions{Level: level}))
	slog.SetDefault(a.log)
	started := time.Now()

	confdbPath := filepath.Join(o.dataDir, confdbFile)
	_, statErr := os.Stat(confdbPath)
	firstBoot := errors.Is(statErr, os.ErrNotExist)
	if a.store, err = store.Open(confdbPath, lockTimeout); err != nil {
		return nil, err
	}
	signers, err := ensureHostKeys(a.store, a.log)
	if err != nil {
		return nil, err
	}
	acc := accounts.New(a.store)
	wrotePassword, err := ensureAdmin(acc, o.dataDir, a.log)
	if err != nil {
		return nil, err
	}

	hostname, _ := os.Hostname()
	sessions := shell.NewSessions()
	model := status.New()
	model.Register("system", func() []status.Field {
		size, _ := a.store.Size()
		return []status.Field{
			{Key: "version", Value: version}, {Key: "build", Value: buildDate},
			{Key: "hostname", Value: hostname},
			{Key: "uptime", Value: time.Since(started).Round(time.Second).String()},
			{Key: "data_dir", Value: o.dataDir},
			{Key: "confdb_size_bytes", Value: size},
			{Key: "sessions", Value: sessions.Count()},
		}
	})
	pubs := make([]gossh.PublicKey, 0, len(signers))
	for _, s := range signers {
		pubs = append(pubs, s.PublicKey())
	}
	reg, err := commands.Registry(&commands.Services{
		Accounts: acc, Store: a.store, Status: model, Sessions: sessions,
		HostKeys: pubs, LogPath: a.logOut.Path(), DataDir: o.dataDir,
	})
	if err != nil {
		return nil, err
	}
	if err := runBootstrap(o.bootstrap, a.store, reg, a.log); err != nil {
		if firstBoot {
			// Leave the data dir as it was: the next start is a first boot again,
			// with the corrected bootstrap file, not half of the broken one.
			a.discard = append(a.discard, confdbPath)
			if wrotePassword != "" {
				a.discard = append(a.discard, wrotePassword)
			}
		}
		return nil, err
	}

	a.shell, err = shell.New(shell.Config{
		Addr: o.sshAddr, HostKeys: signers, Accounts: acc, Registry: reg, Sessions: sessions,
		Logger: a.log, Version: version, BuildDate: buildDate, Hostname: hostname,
	})
	if err != nil {
		return nil, err
	}
	if err := a.shell.Start(context.Background()); err != nil {
		return nil, err
	}
	model.Register("shell", func() []status.Field {
		st := a.shell.Stats()
		return []status.Field{
			{Key: "listen", Value: a.shell.Addr().String()},
			{Key: "logins_ok", Value: st.LoginsOK},
			{Key: "logins_failed", Value: st.LoginsFailed},
			{Key: "refused_locked_out", Value: st.RefusedLockedOut},
			{Key: "refused_busy", Value: st.RefusedBusy},
			{Key: "locked_out_addresses", Value: st.LockedOutAddrs},
		}
	})
	return a, nil
}

// stop shuts the shell down (telling sessions), then closes the confdb and the log.
func (a *app) stop(ctx context.Context) error {
	err := a.shell.Shutdown(ctx)
	a.log.Info("stopped")
	if cerr := a.closeAll(); err == nil {
		err = cerr
	}
	return err
}

func (a *app) closeAll() error {
	var errs []error
	// Discarded files go while the confdb lock is still held, so a second ferryd
	// waiting for the lock can never open a file that is about to vanish.
	for _, path := range a.discard {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	if a.logOut != nil {
		errs = append(errs, a.logOut.Close())
	}
	return errors.Join(errs...)
}

// ensureHostKeys loads the host keys, generating missing ones on first boot, so
// the fingerprint operators pinned never changes across restarts.
func ensureHostKeys(st *store.Store, log *slog.Logger) ([]gossh.Signer, error) {
	stored, err := st.HostKeys()
	if err != nil {
		return nil, err
	}
	var signers []gossh.Signer
	for _, alg := range certs.HostKeyAlgorithms {
		pem, ok := stored[alg]
		if !ok {
			if pem, err = certs.NewHostKey(alg); err != nil {
				return nil, err
			}
			if err := st.PutHostKey(alg, pem); err != nil {
				return nil, err
			}
			log.Info("generated SSH host key", "algorithm", alg)
		}
		s, err := certs.ParseHostKey(alg, pem)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// ensureAdmin creates root on first boot (no account exists yet) with
// FERRY_INITIAL_PASSWORD, or a random password written to <data-dir>/initial-password
// (0600). The password is never logged. Once any account exists it never acts again:
// an admin who removed root must not see it come back with a known password.
// It returns the password file it wrote, if any.
func ensureAdmin(acc *accounts.Service, dataDir string, log *slog.Logger) (wrote string, err error) {
	if all, err := acc.List(); err != nil || len(all) > 0 {
		return "", err
	}
	pw, fromEnv := os.LookupEnv(initialPasswordEnv)
	if !fromEnv || pw == "" {
		pw = randomPassword()
		wrote = filepath.Join(dataDir, initialPasswordFile)
		if err := os.WriteFile(wrote, []byte(pw+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write initial password: %w", err)
		}
		defer log.Info("initial password for root written", "path", wrote)
	} else {
		defer log.Info("initial password for root taken from " + initialPasswordEnv)
	}
	if _, err := acc.EnsureInitialAdmin(adminAccount, pw); err != nil {
		return wrote, err
	}
	return wrote, nil
}

// randomPassword is crypto/rand's 26-character base32 text: 130 bits.
func randomPassword() string { return rand.Text() }

// runBootstrap runs the first-boot batch once; a failure stops ferryd and the
// batch runs again at the next start.
func runBootstrap(path string, st *store.Store, reg *shell.Registry, log *slog.Logger) error {
	done, err := st.Bootstrapped()
	if err != nil || !done.IsZero() {
		return err
	}
	src, closeSrc, err := bootstrapSource(path)
	if err != nil {
		return err
	}
	defer closeSrc()
	// The appliance itself runs it, with admin rights; the audit log names it "bootstrap".
	self := accounts.Identity{Name: "bootstrap", Role: accounts.Admin}
	var out bytes.Buffer
	if err := reg.RunBatch(context.Background(), log, self, src, &out); err != nil {
		return fmt.Errorf("bootstrap %s: %s", bootstrapName(path), shell.Message(err))
	}
	log.Info("bootstrap applied", "source", bootstrapName(path))
	return st.MarkBootstrapped(time.Now())
}

func bootstrapName(path string) string {
	if path == "" {
		return "(embedded)"
	}
	return path
}

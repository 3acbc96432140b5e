package main

import (
	"io"
	"log/slog"

	"github.com/ferry-appliance/ferry/logfile"
)

// newLog is the daemon's logger: each record goes to the log file first and
// then, best-effort, to stderr (logfile.Output). io.MultiWriter would stop at
// the first failing writer, so a closed stderr would also stop the file log,
// the audit trail; here neither can stop the other. The output reports what
// it lost into the "log" status section.
func newLog(file *logfile.Writer, stderr io.Writer, level slog.Level) (*slog.Logger, *logfile.Output) {
	out := logfile.NewOutput(file, file.Path(), stderr)
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})), out
}

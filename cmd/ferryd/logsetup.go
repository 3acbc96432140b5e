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
//
// A copy of each record goes to tee (the sentry feed), which never blocks.
func newLog(file *logfile.Writer, stderr io.Writer, level slog.Level, tee io.Writer) (*slog.Logger, *logfile.Output) {
	out := logfile.NewOutput(file, file.Path(), stderr)
	var w io.Writer = out
	if tee != nil {
		w = teeWriter{out, tee}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), out
}

// teeWriter writes each record to both; neither can fail the other (both
// always succeed).
type teeWriter struct{ a, b io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	t.a.Write(p)
	t.b.Write(p)
	return len(p), nil
}

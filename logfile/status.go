package logfile

import "github.com/ferry-appliance/ferry/status"

// The log section's fields (ferry_log_*).
var (
	statusPath         = status.NewInfo("path", "The log file")
	statusWriteErrors  = status.NewCounter("write_errors_total", "Records the log file could not take; they reached stderr only")
	statusLostBytes    = status.NewCounter("lost_bytes_total", "Bytes of the records the log file could not take")
	statusLastError    = status.NewInfo("last_error", "The last error writing the log file, empty if none")
	statusLastErrorAt  = status.NewGauge("last_error_timestamp_seconds", "seconds", "When the log file last failed, in Unix seconds; 0 if never")
	statusStderrErrors = status.NewCounter("stderr_write_errors_total", "Records stderr did not take")
	statusStderrClosed = status.NewGauge("stderr_closed", "", "1 once stderr's reader has gone away; the log file goes on")
)

// Report registers the "log" section: what the log file and stderr could not take.
func (o *Output) Report(model *status.Model) (*status.Registration, error) {
	return model.Register("log", nil, func() []status.Field {
		st := o.Stats()
		var at int64
		if !st.LastErrorAt.IsZero() {
			at = st.LastErrorAt.Unix()
		}
		return []status.Field{
			statusPath.Field(st.Path),
			statusWriteErrors.Field(st.WriteErrors),
			statusLostBytes.Field(st.LostBytes),
			statusLastError.Field(st.LastError),
			statusLastErrorAt.Field(at),
			statusStderrErrors.Field(st.ConsoleErrors),
			statusStderrClosed.Field(st.ConsoleClosed),
		}
	})
}

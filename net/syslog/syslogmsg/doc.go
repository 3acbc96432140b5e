// Package syslogmsg reads the syslog wire formats without allocating on the
// hot path, because Ferry forwards the raw message unchanged and looks inside
// it only when a filter, a trace or the statistics ask.
//
// It covers stream framing over TCP and TLS (RFC 6587 octet counting and
// newline framing, detected per frame), datagram trimming for UDP, lazy
// header parsing with per-message detection of RFC 5424 and RFC 3164 (with
// the deviations real senders make), facility and severity names, and
// charset decoding of the free text into UTF-8.
//
// Everything returned by Framer.Next and Parse is a sub-slice of the caller's
// or the Framer's buffer: copy it to keep it.
package syslogmsg

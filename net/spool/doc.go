// Package spool is a destination's durable FIFO of event batches, under
// <data-dir>/spool/<destination>/. The pipeline appends batches; one
// sender goroutine reads records in order, ships them and acknowledges
// them. What Append reported durable stays until it is acknowledged, across
// kill -9 and power loss, unless the operator's bounds (MaxBytes, MaxAge)
// drop it, and then it is counted by reason.
//
// Each batch is one record in a numbered segment file, its payload encoded
// and zstd-compressed once (the relay ships it as stored). The
// acknowledged position lives in a separate cursor file with two slots
// written alternately. FORMAT.md describes the files byte by byte.
//
// The ordering rules that make it crash-safe, each checked by the crash
// model in the tests (a simulated disk, crashfs, that keeps what was
// synced and keeps, drops or tears the rest):
//   - a record is durable once its segment is synced; a segment is created
//     with its header synced and its directory entry synced before any
//     record goes in, and sealed (a last record saying where it ends and
//     how many records it holds) and synced before the next one starts;
//   - the cursor is synced only after the data it covers;
//   - a segment is removed only after a cursor past its last record is
//     durable, and the removal is synced with the directory.
//
// So recovery trusts every seal but the last segment's and scans only the
// last segment, cutting a torn tail at its last good record: opening a
// large backlog reads a few bytes per segment. Damage (a record failing
// its crc, a bad header) quarantines the rest of its segment to a .bad file
// and reading goes on: no garbage delivered, no crash loop, no spool
// thrown away for one bad file.
package spool

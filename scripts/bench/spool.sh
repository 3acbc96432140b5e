#!/usr/bin/env bash
# Spool benchmark: net/spool on a real disk, in one run on one file system:
#   raw      the disk's sequential write rate (1 MiB writes, fdatasync after each)
#   append   the spool's append rate under each sync policy (always, interval, never):
#            batches of 256 syslog-like 500-byte events; event MB/s, events/s, on-disk
#            MB/s, compression, and on-disk MB/s / raw (target >= 0.70)
#   drain    a 1 GiB backlog (event bytes) built with SyncNever, reopened (Open timed,
#            cold page cache) and drained Next -> Decode -> Release -> Ack into nothing;
#            events/s / 100k (target >= 3x), VmRSS max and final (target flat, < 150 MiB)
#   big      (--big only) start-up (Open, first Next) with a 10 GiB backlog; skipped
#            with a message when the file system has less than 12 GiB free
# then a table, the ratios, and a JSON summary (last line of stdout). spoolbench's
# package comment says exactly what each figure is.
#
#   scripts/bench/spool.sh                   # about 1-2 min
#   scripts/bench/spool.sh --dir /srv/data   # work under /srv/data (default /var/tmp: a disk, not tmpfs)
#   scripts/bench/spool.sh --backlog 512MiB  # a smaller drain backlog (the output says so)
#   scripts/bench/spool.sh --big             # also 10 GiB start-up (writes 10 GiB of events)
#
# Other flags go to spoolbench (--append-duration 5s --raw-duration 3s --policies never
# --json FILE ...). The work directory is created fresh under --dir and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
take_args -- "$@"
go build -o "$tmp/spoolbench" ./scripts/bench/spoolbench
make_work spoolbench
run_bench "$tmp/spoolbench" --work "$work" ${args[@]+"${args[@]}"}

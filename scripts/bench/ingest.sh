#!/usr/bin/env bash
# Ingest benchmark: UDP syslog at a fixed rate (500-byte messages from ferry-loadgen)
# into, in turn, the bare recvmmsg receiver (the floor), ferryd -> discard, ferryd -> file,
# and rsyslogd with its defaults and tuned as its docs suggest (-> file, and -> `stop`,
# the like-for-like peer of Ferry's discard). Per subject: offered, received, delivered,
# loss %, kernel drops, queue drops, CPU µs per message, peak RSS; then the ratios
# Ferry/floor and Ferry/rsyslog, as a table and a JSON summary (last line of stdout).
# ingestbench's package comment says exactly what each figure is.
#
#   scripts/bench/ingest.sh                      # 100k msg/s for 10 s, no GSO (about 2-3 min)
#   scripts/bench/ingest.sh --rate 50000 --duration 20s
#   scripts/bench/ingest.sh --ceiling            # highest loss-free rate of ferryd -> discard
#                                                # with a GSO sender, 5 s per step, plus the floor
#                                                # and rsyslog tuned at 300k/400k (about 3 min)
#
# Other flags go to ingestbench (--only floor,ferry-discard --pin none --json FILE
# --rates 300k,500k --refine N --step-duration D ...). Needs root for SO_RCVBUFFORCE and
# rsyslogd (RSYSLOGD= (empty) skips it). All traffic stays on 127.0.0.1; no sysctl is changed.
# FERRYD names a ferryd binary to use instead of building one from this tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
build_ferryd
go build -o "$tmp/ferry-loadgen" ./cmd/ferry-loadgen
go build -o "$tmp/ingestbench" ./scripts/bench/ingestbench
find_rsyslogd
run_bench "$tmp/ingestbench" --ferryd "$ferryd" --loadgen "$tmp/ferry-loadgen" --rsyslogd "$rsyslogd" --work "$tmp/work" "$@"

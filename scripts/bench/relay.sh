#!/usr/bin/env bash
# Relay benchmark: two Ferry nodes end to end on one machine, against rsyslog's plain path.
#   ferry    UDP syslog (500-byte messages from ferry-loadgen, 100k msg/s for 10 s) -> edge
#            ferryd (syslog udp receiver) -> its base, relay over mutual TLS -> core ferryd
#            (forwarder.listen) -> discard: sent, arrived, loss %, bytes on the wire per event
#            (a counting TCP proxy between the nodes), CPU µs/msg and peak RSS of each node
#   rsyslog  rsyslogd A (imudp) -> omfwd tcp -> rsyslogd B (imtcp) -> stop, same load: loss,
#            CPU µs/msg and RSS of each; then Ferry edge CPU/msg ÷ rsyslog A's (target <= 1)
#   drain    the core stopped, a 1 GiB backlog (event bytes) queued on the edge over TCP, the
#            core started again: drain events/s ÷ the ingest rate (target >= 3x), VmRSS of both
#            nodes every 200 ms, max and final (target < 200 MiB, flat)
# then a table and a JSON summary (last line of stdout). relaybench's package comment says
# exactly what each figure is.
#
#   scripts/bench/relay.sh                     # about 3-5 min on 2 cores
#   scripts/bench/relay.sh --backlog 256MiB    # a smaller drain backlog
#   scripts/bench/relay.sh --ceiling           # also Ferry's highest loss-free rate (GSO sender,
#                                              # 5 s per step: 100k,150k,200k,300k,... up to the first loss)
#   scripts/bench/relay.sh --dir /srv/data     # work under /srv/data (default /var/tmp: a disk, not tmpfs)
#   scripts/bench/relay.sh --keep              # keep the work directory (data dirs, DATA/log/) and say where
#
# Other flags go to relaybench (--rate 50000 --duration 20s --rates 200k,400k --no-drain
# --pin none --json FILE ...). All traffic stays on 127.0.0.1; no sysctl is changed.
# RSYSLOGD= (empty) skips rsyslog; FERRYD names a ferryd binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
take_args --keep -- "$@"
build_ferryd
go build -o "$tmp/ferry-loadgen" ./cmd/ferry-loadgen
go build -o "$tmp/relaybench" ./scripts/bench/relaybench
find_rsyslogd
make_work relaybench
run_bench "$tmp/relaybench" --ferryd "$ferryd" --loadgen "$tmp/ferry-loadgen" --rsyslogd "$rsyslogd" --work "$work" ${args[@]+"${args[@]}"}

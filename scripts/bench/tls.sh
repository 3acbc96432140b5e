#!/usr/bin/env bash
# Handshake latency of an httpd binding that looks its certificate up in the
# keystore registry at every handshake, against a static tls.Config with the
# same certificate, measured in the same run. Prints each and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${COUNT:-5}"
out=$(go test -run '^$' -bench 'BenchmarkHandshake' -benchtime "${BENCHTIME:-2s}" -count "$count" ./net/httpd/)
echo "$out" | grep -E '^Benchmark' || true
echo "$out" | awk '
  /^BenchmarkHandshake\// {
    split($1, p, "/"); kind = p[2]; ver = p[3]; sub(/-[0-9]+$/, "", ver)
    sum[kind "/" ver] += $3; n[kind "/" ver]++
  }
  END {
    for (v in n) { split(v, q, "/"); vers[q[2]] = 1 }
    for (ver in vers) {
      r = sum["registry/" ver] / n["registry/" ver]; s = sum["static/" ver] / n["static/" ver]
      printf "%s: registry lookup %.0f ns/handshake, static tls.Config %.0f ns/handshake, ratio %.3f\n", ver, r, s, r / s
    }
  }'

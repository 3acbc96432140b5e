#!/usr/bin/env bash
# Flood benchmark: an admin's login time under 1,000 unauthenticated connections from 64
# loopback addresses, against ferryd and OpenSSH's sshd, in one run (about 5 minutes).
# Installs openssh-server (Debian) if missing; needs root for sshd. Traffic stays in 127.0.0.0/8.
# Builds ferryd from this tree unless FERRYD names a binary (say, an older build to compare);
# SSHD= (empty) skips sshd. Other flags go to floodbench (-n, -conns, -think, -redial ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${SSHD-/usr/sbin/sshd}" != "" ] && [ ! -x /usr/sbin/sshd ]; then
  apt-get -o DPkg::Lock::Timeout=120 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends openssh-server
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ferryd=${FERRYD:-}
if [ -z "$ferryd" ]; then
  go build -o "$tmp/ferryd" ./cmd/ferryd
  ferryd=$tmp/ferryd
fi
go build -o "$tmp/floodbench" ./scripts/bench/floodbench
"$tmp/floodbench" --ferryd "$ferryd" --sshd "${SSHD-/usr/sbin/sshd}" "$@"

#!/usr/bin/env bash
# Shell benchmark: ferryd against OpenSSH's sshd on loopback, in one run.
# Installs openssh-server (Debian) if missing; needs root for sshd. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/sbin/sshd ]; then
  apt-get -o DPkg::Lock::Timeout=120 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends openssh-server
fi
[ -x bin/ferryd ] || make build
go run ./scripts/bench/shellbench --ferryd bin/ferryd "$@"

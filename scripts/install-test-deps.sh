#!/usr/bin/env bash
# Installs the real peers the test suite drives (OpenSSH client, sshpass, tmux, ssh-audit, keytool, openssl, curl, chromium, snmptrap, logger). Idempotent: does nothing when all are present.
set -euo pipefail

need=()
for tool in ssh:openssh-client ssh-keygen:openssh-client ssh-keyscan:openssh-client sshpass:sshpass tmux:tmux ssh-audit:ssh-audit keytool:default-jre-headless openssl:openssl curl:curl chromium:chromium snmptrap:snmp logger:bsdutils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
# shellcheck disable=SC2207
pkgs=($(printf '%s\n' "${need[@]}" | sort -u))
echo "installing test dependencies: ${pkgs[*]}"
# openjdk's postinst fails on images that ship without man directories.
$sudo mkdir -p /usr/share/man/man1
$sudo apt-get -o DPkg::Lock::Timeout=120 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${pkgs[@]}"

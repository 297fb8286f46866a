#!/usr/bin/env bash
# Installs Debian's nats-server for the NATS backend's tests and benchmark (test/backends/nats,
# bench/nats-collective.bench.ts), which start their own server on loopback.
#
# Why Debian's package: these machines reach only the npm registry and Debian's apt, and the
# nats-server in apt (2.9.x) has JetStream, which the sweep farm's work queue needs. Idempotent:
# when nats-server is already installed it installs nothing. Needs root (or sudo) only when it
# has to install. The package puts the binary in /usr/sbin, which a non-root PATH may lack; the
# tests look there too. Prints the installed version.
set -euo pipefail

find_nats() { command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true; }

if [ -z "$(find_nats)" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends nats-server
fi

NATS="$(find_nats)"
[ -n "$NATS" ] || { echo "nats-server is still missing after the install" >&2; exit 1; }
"$NATS" --version

#!/usr/bin/env bash
# Installs Debian's chromium for the report's real-browser test (test/report/browser.test.ts).
#
# Why Debian's package: these machines reach only the npm registry and Debian's apt, so a test
# tool's own browser download (`npx playwright install`) fails; playwright-core drives this binary
# through `executablePath` instead. Idempotent: when /usr/bin/chromium exists it installs nothing.
# Needs root (or sudo) only when it has to install. Prints the installed version.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  # No recommends: fonts and extras the headless tests do not need would triple the download.
  $SUDO apt-get install -y --no-install-recommends chromium
fi

# --version starts no browser, so it needs none of the headless flags.
"$CHROMIUM" --version

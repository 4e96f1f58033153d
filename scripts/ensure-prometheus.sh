#!/usr/bin/env bash
# The metrics tests scrape a live test server with Debian's Prometheus and check the output with promtool.
set -euo pipefail
command -v prometheus >/dev/null && command -v promtool >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Prometheus from Debian for the metrics tests..."
  apt-get update -qq
  # Only the binaries are needed: the tests run their own server with a private config and data folder.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # Debian starts the packaged service; the tests run their own, so stop it where there is an init system.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
else
  echo "Prometheus is missing: install it (Debian/Ubuntu: sudo apt-get install prometheus)." >&2
  echo "Without it the Prometheus scrape test is skipped." >&2
fi

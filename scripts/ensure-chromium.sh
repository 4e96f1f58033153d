#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
set -euo pipefail
for c in /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -x "$c" ] && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium from Debian for the browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "Chromium is missing: install it (Debian/Ubuntu: sudo apt-get install chromium), or set CHROMIUM_PATH." >&2
  echo "Without it the browser tests are skipped." >&2
fi

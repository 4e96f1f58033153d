#!/usr/bin/env bash
# Installs the official RunPod JavaScript SDK for tests/proxy/test_official_js_sdk.py from tests/proxy/js's
# package-lock.json. Without npm it says so and the test is skipped; it never fails `make test` by itself.
set -euo pipefail
cd "$(dirname "$0")/../tests/proxy/js"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: the JavaScript SDK test of the proxy will be skipped (apt-get install npm to run it)."
  exit 0
fi
# Installed from this very lock already: nothing to do (npm ci would delete and reinstall everything).
if cmp -s package-lock.json node_modules/.installed-from-lock 2>/dev/null; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.installed-from-lock

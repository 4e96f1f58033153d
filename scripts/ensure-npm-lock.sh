#!/usr/bin/env bash
# Installs a test's npm packages from the package-lock.json in DIR (relative to the repository): the official
# RunPod JavaScript SDK for tests/proxy/js, the OpenID Connect provider (panva's oidc-provider) for
# tests/sso/provider. Without npm it says which tests will be skipped; it never fails `make test` by itself.
#   usage: ensure-npm-lock.sh DIR "what is skipped without npm"
set -euo pipefail
dir="$1"
skipped="$2"
cd "$(dirname "$0")/../$dir"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: $skipped will be skipped (apt-get install npm to run them)."
  exit 0
fi
# Installed from this very lock already: nothing to do (npm ci would delete and reinstall everything).
if cmp -s package-lock.json node_modules/.installed-from-lock 2>/dev/null; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.installed-from-lock

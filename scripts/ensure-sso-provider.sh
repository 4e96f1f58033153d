#!/usr/bin/env bash
# Installs the OpenID Connect provider (panva's oidc-provider) that tests/sso signs in against, from
# tests/sso/provider's package-lock.json. Without npm it says so and those tests are skipped; it never fails
# `make test` by itself.
set -euo pipefail
cd "$(dirname "$0")/../tests/sso/provider"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: the single sign-on tests will be skipped (apt-get install npm to run them)."
  exit 0
fi
# Installed from this very lock already: nothing to do (npm ci would delete and reinstall everything).
if cmp -s package-lock.json node_modules/.installed-from-lock 2>/dev/null; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.installed-from-lock

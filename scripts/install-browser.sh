#!/usr/bin/env bash
# Install Debian's chromium for the portal's end-to-end tests, if it is missing. Idempotent.
# The tests drive it through the `playwright` Python package with executable_path=/usr/bin/chromium,
# so Playwright never downloads a browser of its own (CI machines have no outside network).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "installing Debian chromium for the browser tests" >&2
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq chromium
else
  sudo apt-get update -qq && sudo apt-get install -y -qq chromium
fi

#!/usr/bin/env bash
# Install Debian's chromium for the portal's end-to-end tests, if it is missing. Idempotent.
# The tests drive it through the `playwright` Python package with executable_path=/usr/bin/chromium,
# so Playwright never downloads a browser of its own (CI machines have no outside network).
set -euo pipefail
# A CJK font, so that screenshots of the Chinese pages show characters rather than boxes.
if [ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  exit 0
fi
echo "installing Debian chromium (and a CJK font) for the browser tests" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
# wait for another apt-get (if any) to release the dpkg lock rather than failing
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
  chromium fonts-wqy-microhei >/dev/null

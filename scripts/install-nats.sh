#!/usr/bin/env bash
# Make sure `nats-server` (2.9 or later, Debian package `nats-server`) is on PATH.
# The network tests and `govchain network up` need it. Installs with apt-get only
# when run as root (CI, a fresh Debian machine); otherwise it says what to run.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nats-server with apt-get" >&2
  # wait for another apt-get (if any) to release the dpkg lock rather than failing
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq nats-server >/dev/null
  command -v nats-server >/dev/null 2>&1 && exit 0
fi
echo "nats-server is missing; install it with: sudo apt-get install nats-server" >&2
exit 1

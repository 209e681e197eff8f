#!/usr/bin/env bash
# Set up (first time) and run every check: lint, types on the core, and the test suite.
# Extra arguments go to pytest (e.g. -k receipts, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/install-nats.sh      # the network tests start real nats-server processes
scripts/install-browser.sh   # the portal tests drive Debian's chromium
echo "== ruff"
.venv/bin/ruff check src tests
echo "== mypy --strict (core)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q "$@"

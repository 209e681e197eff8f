#!/usr/bin/env bash
# Set up (first time) and start a local single-node chain with its REST API and web portal.
# Extra arguments go to `govchain up` (e.g. --suite gm, --port 8761, --data DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/govchain up "$@"

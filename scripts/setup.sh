#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install govchain into it. Idempotent.
# Usage: scripts/setup.sh [--test]   (--test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python) || {
    echo "govchain needs Python 3.11 or newer. On Debian/Ubuntu: sudo apt-get install python3 python3-venv" >&2
    exit 1
  }
  if ! "$py" -m venv .venv 2>/dev/null; then
    echo "python venv support is missing; installing python3-venv" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; else sudo apt-get install -y python3-venv; fi
    "$py" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "govchain installed in .venv (activate with: source .venv/bin/activate)"

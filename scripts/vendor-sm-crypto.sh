#!/usr/bin/env bash
# Refresh the vendored SM2/SM3 code of the portal's in-browser verifier from npm.
# Only maintainers run this (it needs npm); `govchain up` and the tests use the committed file.
# Usage: scripts/vendor-sm-crypto.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-0.5.8}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund "sm-crypto@$version" >/dev/null)
pkg="$work/node_modules/sm-crypto"
out=src/govchain/web/verify/vendor
mkdir -p "$out"
{
  echo "/* sm-crypto $version (npm), dist/sm2.js and dist/sm3.js as published (webpack UMD builds,"
  echo "   bundling jsbn). MIT licence; see sm-crypto.LICENCE. Refresh with scripts/vendor-sm-crypto.sh. */"
  cat "$pkg/dist/sm2.js"
  echo
  cat "$pkg/dist/sm3.js"
  echo
} > "$out/sm-crypto.js"
{
  echo "sm-crypto $version (the npm package sm-crypto)"
  echo
  cat "$pkg/LICENCE_MIT"
  echo
  echo "----------------------------------------------------------------------"
  echo "The bundles include jsbn (the npm package jsbn), under this licence:"
  echo
  cat "$work/node_modules/jsbn/LICENSE"
} > "$out/sm-crypto.LICENCE"
echo "vendored sm-crypto $version into $out"

#!/usr/bin/env bash
# Refresh the vendored P-256/SHA-256 fallback of the portal's in-browser verifier from npm.
# The verifier uses the browser's WebCrypto whenever it can; this code is used only where
# WebCrypto is missing (a page served over plain http to another host). Only maintainers
# run this (it needs npm and bundles with esbuild); `govchain up` and the tests use the
# committed file. Usage: scripts/vendor-noble.sh [CURVES_VERSION] [HASHES_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
curves="${1:-2.4.0}"
hashes="${2:-2.4.0}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null \
  && npm install --no-audit --no-fund "@noble/curves@$curves" "@noble/hashes@$hashes" esbuild@0 >/dev/null)
cat > "$work/entry.js" <<'JS'
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
globalThis.GovNoble = { p256, sha256 };
JS
out=src/govchain/web/verify/vendor
mkdir -p "$out"
(cd "$work" && node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --target=es2020 \
  --legal-comments=none --outfile=bundle.js >/dev/null 2>&1)
{
  echo "/* @noble/curves $curves (p256) and @noble/hashes $hashes (sha256), bundled as GovNoble by"
  echo "   scripts/vendor-noble.sh. MIT licence; see noble.LICENCE. */"
  cat "$work/bundle.js"
} > "$out/noble-p256.js"
{
  echo "@noble/curves $curves and @noble/hashes $hashes (the npm packages of those names)"
  echo
  cat "$work/node_modules/@noble/curves/LICENSE"
  echo
  echo "----------------------------------------------------------------------"
  echo "@noble/hashes:"
  echo
  cat "$work/node_modules/@noble/hashes/LICENSE"
} > "$out/noble.LICENCE"
echo "vendored @noble/curves $curves and @noble/hashes $hashes into $out"

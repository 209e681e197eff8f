#!/usr/bin/env bash
# Refresh the vendored QR code generator of the e-licence holder page (an authorisation shown as
# a QR code, drawn in the browser so that it never reaches a server) from npm.
# Only maintainers run this (it needs npm); `govchain up` and the tests use the committed file.
# Usage: scripts/vendor-qrcode.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-2.0.4}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund "qrcode-generator@$version" >/dev/null)
pkg="$work/node_modules/qrcode-generator"
out=src/govchain/contracts/licence/portal/vendor
mkdir -p "$out"
{
  echo "/* qrcode-generator $version (npm), dist/qrcode.js as published (the global \`qrcode\`)."
  echo "   MIT licence; see qrcode.LICENCE. Refresh with scripts/vendor-qrcode.sh. */"
  cat "$pkg/dist/qrcode.js"
} > "$out/qrcode.js"
{
  echo "qrcode-generator $version (the npm package qrcode-generator), \"license\": \"MIT\" in its package.json"
  echo
  echo "Copyright (c) 2009 Kazuhiko Arase"
  echo
  cat <<'MIT'
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.
MIT
  echo
  echo "The word 'QR Code' is a registered trademark of DENSO WAVE INCORPORATED."
} > "$out/qrcode.LICENCE"
echo "vendored qrcode-generator $version into $out"

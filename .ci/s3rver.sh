#!/usr/bin/env bash
# Installs s3rver (a small S3-compatible server, from npm) for the S3 artifact store tests and prints the line that
# points the tests at it. Use:  source <(bash .ci/s3rver.sh)
# The tests start and stop their own s3rver process on a free loopback port.
set -euo pipefail

DIR="${MAAS_S3RVER_DIR:-$HOME/.cache/maas/tools/s3rver}"
BIN="$DIR/node_modules/s3rver/bin/s3rver.js"
if [[ ! -f "$BIN" ]]; then
  command -v npm >/dev/null || { echo "s3rver.sh: npm is needed to install s3rver" >&2; exit 1; }
  mkdir -p "$DIR"
  echo "s3rver.sh: installing s3rver@3.7.1 into $DIR" >&2
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >&2
fi

echo "export MAAS_TEST_S3RVER='$BIN'"

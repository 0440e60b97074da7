#!/usr/bin/env bash
# First command of the README: prepare this machine from scratch and prove a void runs.
# Every step is idempotent, so rerunning after a pull is the normal way to refresh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
bash scripts/host-setup.sh
bash scripts/make-bundles.sh

BIN=${VOIDOCI_BIN:-/usr/local/bin/voidoci}
id=setup-check-$$
# `run` deletes the container when it exits; this only matters if it died half-way.
trap '"$BIN" delete --force "$id" >/dev/null 2>&1 || true' EXIT
echo "setup: $BIN run --bundle bundles/hello $id"
if ! "$BIN" run --bundle bundles/hello "$id" </dev/null; then
  echo "setup: the hello void failed to run" >&2
  exit 1
fi
echo "setup: done"

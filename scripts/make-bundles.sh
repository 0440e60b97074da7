#!/usr/bin/env bash
# Build the (uncommitted) rootfs of every example bundle under bundles/.
# Each bundle says how in bundles/NAME/rootfs.args (arguments for make-rootfs.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for b in bundles/*/; do
  b=${b%/}
  [[ -f $b/config.json ]] || continue
  if [[ ! -f $b/rootfs.args ]]; then
    echo "make-bundles: $b has no rootfs.args; skipped" >&2; continue
  fi
  read -r -a args <"$b/rootfs.args"
  echo "make-bundles: $b (${args[*]})"
  bash scripts/make-rootfs.sh "$b/rootfs" "${args[@]}"
done

#!/usr/bin/env bash
# Second command of the README: run the whole test suite as root, right after setup.sh.
# Extra arguments go to `swift test` (e.g. --filter IntegrationTests).
# Fails if swift test fails, or if the host mount table differs after the suite: a void
# must never leave a mount behind or propagate one to the host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $EUID -eq 0 ]] || { echo "test: must run as root (integration tests run rootful and rootless)" >&2; exit 1; }
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin

# Integration tests exec this binary and drop to this user for rootless cases.
export VOIDOCI_BIN=${VOIDOCI_BIN:-/usr/local/bin/voidoci}
export VOIDOCI_TEST_USER=${VOIDOCI_TEST_USER:-voidtest}
id "$VOIDOCI_TEST_USER" >/dev/null 2>&1 ||
  { echo "test: no user $VOIDOCI_TEST_USER; run scripts/host-setup.sh" >&2; exit 1; }

# The release binary is what engines run; rebuild it if missing or older than the sources,
# so the integration tests never exercise a stale runtime.
if [[ ! -x $VOIDOCI_BIN ]] || [[ -n $(find Package.swift Sources -newer "$VOIDOCI_BIN" -print -quit) ]]; then
  bash scripts/build.sh
fi

swift build --build-tests

# Mount point, fs type and source only: IDs, options and peer groups legitimately vary.
mounts() { awk '{ i = 7; while ($i != "-") i++; print $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo | sort; }
before=$(mktemp) after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT

mounts >"$before"
status=0
log=$(mktemp)
trap 'rm -f "$before" "$after" "$log"' EXIT
# Serial: suites that drive podman or daemons change the host mount table while they run,
# which must not be mistaken for a leak by another suite checking its own.
swift test --no-parallel "$@" 2>&1 | tee "$log" || status=$?
mounts >"$after"

if ! diff -u "$before" "$after"; then
  echo "test: FAIL: the host mount table changed during the suite (diff above)" >&2
  ((status != 0)) || status=1
fi
# One plain closing line, whatever runner printed last (XCTest reports its own empty run too).
summary=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
issues=$(grep -Eo 'with [0-9]+ issues?' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
((status == 0)) || ((issues > 0)) || issues=1
# A test whose prerequisite the machine lacks is cancelled and printed as SKIPPED with the reason.
# swift-testing counts a cancelled test as passed: the skipped ones are said apart, and on CI
# (CI=true, a machine scripts/setup.sh prepared) a skip is a failure of the set-up.
skipped=$({ grep '^SKIPPED ' "$log" || true; } | sort -u | wc -l)
echo "tests: $((summary > issues ? summary - issues : 0)) passed or skipped, $issues failed; $skipped cases skipped"
if ((skipped > 0)); then
  grep '^SKIPPED ' "$log" | sort -u | head -20
  if [[ ${CI:-} == true ]]; then
    echo "test: FAIL: on CI every prerequisite must be there (scripts/setup.sh installs them)" >&2
    ((status != 0)) || status=1
  fi
fi
echo "test: exit status $status"
exit "$status"

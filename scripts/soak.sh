#!/usr/bin/env bash
# Soak: the fault and fuzz suites at scale, as root (issue 10).
#   FaultTests, repeated with VOIDOCI_FAULT_ALL=1 (every syscall of every tracee) and
#   VOIDOCI_FAULT_ROUNDS=N, until at least FAULT_RUNS fault/lifecycle runs were made (default
#   10000); then FuzzTests with VOIDOCI_FUZZ_CONFIGS / VOIDOCI_FUZZ_IMAGES = FUZZ_CASES (default
#   10000) and VOIDOCI_FUZZ_SEED (default: random, printed).
# Prints runs, kills injected, leaks found, signal deaths and hangs (summed from the
# `fault-summary:` lines the suites print), then whether the host mount table changed.
# Exits non-zero if any suite failed, anything leaked, died of a signal or hung.
# Usage: VOIDOCI_BIN=... [FAULT_RUNS=n] [FUZZ_CASES=n] [FAULT_ROUNDS=n] bash scripts/soak.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $EUID -eq 0 ]] || { echo "soak: must run as root" >&2; exit 1; }
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin
export VOIDOCI_BIN=${VOIDOCI_BIN:-/usr/local/bin/voidoci}
export VOIDOCI_TEST_USER=${VOIDOCI_TEST_USER:-voidtest}
FAULT_RUNS=${FAULT_RUNS:-10000}
FUZZ_CASES=${FUZZ_CASES:-10000}
FAULT_ROUNDS=${FAULT_ROUNDS:-3}      # sweeps per swift test invocation
export VOIDOCI_FUZZ_SEED=${VOIDOCI_FUZZ_SEED:-$RANDOM$RANDOM}

swift build --build-tests || exit 1

mounts() { awk '{ i = 7; while ($i != "-") i++; print $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo | sort; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mounts >"$work/before"

failed=0 runs=0 kills=0 leaks=0 signals=0 hangs=0 passes=0
# Adds up the fault-summary lines of one log.
tally() {
  local line
  while read -r line; do
    [[ $line =~ runs=([0-9]+)\ kills=([0-9]+)\ leaks=([0-9]+)\ signals=([0-9]+)\ hangs=([0-9]+) ]] || continue
    runs=$((runs + BASH_REMATCH[1])) kills=$((kills + BASH_REMATCH[2])) leaks=$((leaks + BASH_REMATCH[3]))
    signals=$((signals + BASH_REMATCH[4])) hangs=$((hangs + BASH_REMATCH[5]))
  done < <(grep -a '^fault-summary:' "$1")
}

while ((runs < FAULT_RUNS)); do
  passes=$((passes + 1))
  log="$work/fault-$passes.log"
  before=$runs
  VOIDOCI_FAULT_ALL=1 VOIDOCI_FAULT_ROUNDS=$FAULT_ROUNDS \
    swift test --no-parallel --skip-build --filter FaultTests >"$log" 2>&1 || failed=1
  tally "$log"
  grep -a '^fault-summary:' "$log"
  grep -aE '^✘ Test .*(failed|recorded)' "$log" | head -20
  ((runs > before)) || { echo "soak: FaultTests made no runs (see below)" >&2; tail -20 "$log" >&2; failed=1; break; }
done
echo "soak: fault: $passes passes of FaultTests"

fuzzlog="$work/fuzz.log"
echo "soak: FuzzTests with $FUZZ_CASES configs and images, seed $VOIDOCI_FUZZ_SEED"
VOIDOCI_FUZZ_CONFIGS=$FUZZ_CASES VOIDOCI_FUZZ_IMAGES=$FUZZ_CASES \
  swift test --no-parallel --skip-build --filter FuzzTests >"$fuzzlog" 2>&1 || failed=1
tally "$fuzzlog"
grep -a '^fault-summary:' "$fuzzlog"
grep -a '^fuzz ' "$fuzzlog"
fuzzcases=$(grep -aEo '^fuzz (configs|images): seed [0-9]+, [0-9]+ cases' "$fuzzlog" | grep -Eo '[0-9]+ cases' | awk '{ s += $1 } END { print s + 0 }')
grep -aE '^✘ ' "$fuzzlog" | head -20
((fuzzcases > 0)) || { echo "soak: FuzzTests ran no case" >&2; failed=1; }

mounts >"$work/after"
if ! diff -u "$work/before" "$work/after"; then
  echo "soak: the host mount table changed (diff above)" >&2
  failed=1
fi

echo "soak: runs $runs, kills injected $kills, leaks found $leaks, signal deaths $signals, hangs $hangs; fuzz cases $fuzzcases (seed $VOIDOCI_FUZZ_SEED)"
((leaks + signals + hangs == 0)) || failed=1
((failed == 0)) && echo "soak: PASS" || echo "soak: FAIL"
exit "$failed"

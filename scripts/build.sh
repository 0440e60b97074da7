#!/usr/bin/env bash
# Build the release voidoci binary and install it where engines and tests look for it: a fully
# static executable with its hot functions laid out together (flags and why: scripts/order/flags.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEST=${VOIDOCI_BIN:-/usr/local/bin/voidoci}   # overridable, e.g. for a non-root build

# Non-login shells (CI, sudo) may miss /etc/profile.d/swift.sh, which adds the toolchain.
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin
command -v swift >/dev/null || { echo "build: no swift toolchain on PATH" >&2; exit 1; }

source scripts/order/flags.sh
flags=("${VOIDOCI_BUILD_FLAGS[@]}")
# The hot functions first (scripts/order/make-order.sh): a void's lifecycle then touches far
# fewer pages of the binary, which is most of voidoci's resident set.
order=$PWD/scripts/order/voidoci.order
[[ -f $order ]] && flags+=(-Xlinker "--symbol-ordering-file=$order" -Xlinker --no-warn-symbol-ordering)
# swift build does not notice changed -Xswiftc/-Xlinker flags: start the release build over
# when they differ from the last build's.
bindir="$(swift build "${flags[@]}" --show-bin-path)"
stamp=.build/voidoci-build-flags
if [[ -d $bindir && "$(cat "$stamp" 2>/dev/null)" != "${flags[*]}" ]]; then
  echo "build: flags changed since the last build: rebuilding $bindir from scratch"
  rm -rf "$(readlink -f "$bindir")"
fi
# Nor a regenerated order file: relink when it is newer than the binary.
[[ -f $order && -e $bindir/voidoci && $order -nt $bindir/voidoci ]] && rm -f "$bindir/voidoci"
echo "build: swift build ${flags[*]} --product voidoci"
swift build "${flags[@]}" --product voidoci
bin="$bindir/voidoci"
[[ -x $bin ]] || { echo "build: $bin was not produced" >&2; exit 1; }
echo "${flags[*]}" >"$stamp"

# Copy then rename: atomic, and works while an old voidoci is running (no ETXTBSY).
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$bin" "$DEST.new.$$"
mv -f "$DEST.new.$$" "$DEST"
# Written back and dropped from the page cache: the first run reads it from disk, as any
# installed program is read. A file just written stays cached in the large folios its writer
# made, and a page fault maps a whole folio, which made voidoci's resident set up to 1 MiB
# larger until the kernel evicted it (bench/README.md, "Peak RSS").
sync "$DEST" && dd if="$DEST" iflag=nocache count=0 status=none || true

# voidoci compare's probe: static, bound read-only into each runtime's container.
probe_dest="$(dirname "$(dirname "$DEST")")/libexec/voidoci/voidoci-probe"
mkdir -p "$(dirname "$probe_dest")"
gcc -static -O2 -Wall -o "$probe_dest.new.$$" probe/probe.c 2>&1 | grep -v -e 'statically linked applications' -e 'in function' >&2 || true
mv -f "$probe_dest.new.$$" "$probe_dest"
echo "build: installed $DEST and $probe_dest"
"$DEST" --version || echo "build: (voidoci --version failed; ignored)"

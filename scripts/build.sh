#!/usr/bin/env bash
# Build the release voidoci binary and install it where engines and tests look for it.
# --static-swift-stdlib: the binary is exec'd by podman/conmon/containerd with their own
# environments (no LD_LIBRARY_PATH to /opt/swift), so it must not need the Swift runtime .so's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEST=${VOIDOCI_BIN:-/usr/local/bin/voidoci}   # overridable, e.g. for a non-root build

# Non-login shells (CI, sudo) may miss /etc/profile.d/swift.sh, which adds the toolchain.
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin
command -v swift >/dev/null || { echo "build: no swift toolchain on PATH" >&2; exit 1; }

echo "build: swift build -c release --static-swift-stdlib --product voidoci"
swift build -c release --static-swift-stdlib --product voidoci
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/voidoci"
[[ -x $bin ]] || { echo "build: $bin was not produced" >&2; exit 1; }

# Copy then rename: atomic, and works while an old voidoci is running (no ETXTBSY).
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$bin" "$DEST.new.$$"
mv -f "$DEST.new.$$" "$DEST"

echo "build: installed $DEST"
"$DEST" --version || echo "build: (voidoci --version failed; ignored)"

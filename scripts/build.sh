#!/usr/bin/env bash
# Build the release voidoci binary and install it where engines and tests look for it.
# A fully static executable (-static-executable: the Swift runtime, glibc, libstdc++ and
# libseccomp linked in). The binary is exec'd by podman/conmon/containerd with their own
# environments, so it must not need the Swift runtime .so's; and with nothing to load and
# relocate at exec it starts in 0.9 ms instead of 3.3 and its peak RSS is 3.7 MiB smaller
# (bench/README.md, "What each optimisation bought"). voidoci calls no NSS function
# (getpwnam and friends), which a static glibc could only serve by dlopen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEST=${VOIDOCI_BIN:-/usr/local/bin/voidoci}   # overridable, e.g. for a non-root build

# Non-login shells (CI, sudo) may miss /etc/profile.d/swift.sh, which adds the toolchain.
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin
command -v swift >/dev/null || { echo "build: no swift toolchain on PATH" >&2; exit 1; }

flags=(-c release --static-swift-stdlib -Xswiftc -static-executable)
echo "build: swift build ${flags[*]} --product voidoci"
swift build "${flags[@]}" --product voidoci
bin="$(swift build "${flags[@]}" --show-bin-path)/voidoci"
[[ -x $bin ]] || { echo "build: $bin was not produced" >&2; exit 1; }

# Copy then rename: atomic, and works while an old voidoci is running (no ETXTBSY).
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$bin" "$DEST.new.$$"
mv -f "$DEST.new.$$" "$DEST"

echo "build: installed $DEST"
"$DEST" --version || echo "build: (voidoci --version failed; ignored)"

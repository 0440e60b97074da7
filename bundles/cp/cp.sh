#!/usr/bin/env bash
# cp SRC DST with its argument parsing separated (the void-process work's cp sample):
#   1. the user's arguments are parsed by /cp-args in a void that is granted nothing;
#   2. this script opens nothing itself: it asks voidoci to open SRC (read) and DST (write) as
#      the caller, outside any void (org.voidoci.open);
#   3. /copy-fds copies fd 3 to fd 4 in a second void that holds only those two fds.
# usage: bundles/cp/cp.sh [-n] [-v] [--] SRC DST     (voidoci on PATH, or VOIDOCI=...)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
voidoci=${VOIDOCI:-voidoci}
export VOIDOCI_NO_HINTS=1   # the parser's own message says what is wrong with the arguments
[[ -x $here/rootfs/cp-args ]] || { echo "cp: $here/rootfs is not built: bash scripts/make-bundles.sh" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/voidoci-cp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=(--root "$tmp/state")

# A bundle for one step: the rootfs of bundles/cp, PROGRAM ARGS..., the annotations in $ann.
bundle() {
  local dir=$tmp/$1; shift
  mkdir -p "$dir"
  python3 - "$dir/config.json" "$here/rootfs" "${ann:-}" "$@" <<'PY'
import json, sys
out, rootfs, ann, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = {"ociVersion": "1.0.2", "root": {"path": rootfs}, "hostname": "cp",
     "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/"], "cwd": "/"},
     "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}}
if ann:
    c["annotations"] = {"org.voidoci.open": ann}
json.dump(c, open(out, "w"))
PY
  echo "$dir"
}

# 1. Parse, in a void with nothing.
parsed=$("$voidoci" "${root[@]}" run --bundle "$(ann='' bundle parse /cp-args "$@")" "cp-parse-$$") || exit $?
mapfile -t f <<<"$parsed"
mode=${f[0]} verbose=${f[1]} src=${f[2]} dst=${f[3]}

# What cp decides with the filesystem in view: the caller's, here, outside any void.
src=$(realpath -- "$src")
[[ -d $dst ]] && dst=${dst%/}/$(basename -- "$src")
dst=$(realpath -m -- "$dst")
if [[ $mode == no-clobber && -e $dst ]]; then
  [[ $verbose == verbose ]] && echo "cp: not overwriting '$dst'"
  exit 0
fi
if [[ $src -ef $dst ]]; then   # w: would truncate the source before the copy reads it
  echo "cp: '$src' and '$dst' are the same file" >&2; exit 1
fi
for p in "$src" "$dst"; do
  [[ $p != *[,\;]* ]] || { echo "cp: $p: a path with ',' or ';' cannot be listed in org.voidoci.open" >&2; exit 1; }
done

# 2 and 3. The files opened by voidoci, the copy in a void that holds only them.
"$voidoci" "${root[@]}" run --bundle "$(ann="r:$src;w:$dst" bundle copy /copy-fds)" "cp-copy-$$"
[[ $verbose == verbose ]] && echo "'$src' -> '$dst'"
exit 0

#!/usr/bin/env bash
# Regenerates scripts/order/voidoci.order, the order in which build.sh asks the linker to lay
# out voidoci's functions: those a void's lifecycle runs, first-run first, so they share a few
# pages instead of touching pages all over a 11 MB text (the kernel maps a 64 KB window around
# every page fault, so scattered code means a large resident set: bench/README.md, "Peak RSS").
#
# As root (it runs real voids). Builds voidoci without an order (.build-order/) and with a link
# map, runs it under trace-functions.c (a breakpoint on every function entry) for run, create,
# start, state, kill, delete and --version on a /bin/true bundle, and run with podman's, `voidoci
# spec`'s and the benchmark's configs, and lets select.py choose the order, by input section, from
# the functions hit and the map.
# Rerun it after changes to the hot path; a stale order only costs memory, never correctness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ $EUID -eq 0 ]] || { echo "make-order: must run as root" >&2; exit 1; }
command -v swift >/dev/null || PATH=$PATH:/opt/swift/usr/bin
source scripts/order/flags.sh

tmp=$(mktemp -d /tmp/voidoci-order.XXXXXX)
chmod 0711 "$tmp"
cleanup() {
  [[ -x ${bin:-} ]] && for id in $(ls "$tmp/state" 2>/dev/null); do "$bin" --root "$tmp/state" delete --force "$id" || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Linked afresh with a map (which input section each function is in: select.py chooses by
# section); swift build does not relink for a changed -Xlinker flag alone.
mapflags=(-Xlinker "-Map=$tmp/map" -Xlinker --no-demangle)
bin="$(swift build "${VOIDOCI_BUILD_FLAGS[@]}" --scratch-path .build-order --show-bin-path)/voidoci"
rm -f "$bin"
swift build "${VOIDOCI_BUILD_FLAGS[@]}" "${mapflags[@]}" --product voidoci --scratch-path .build-order
[[ -s $tmp/map ]] || { echo "make-order: the link wrote no map" >&2; exit 1; }
gcc -O2 -Wall -o "$tmp/trace-functions" scripts/order/trace-functions.c
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' >"$tmp/symbols"

mkdir -p "$tmp/bundle" "$tmp/state"
bash scripts/make-rootfs.sh "$tmp/bundle/rootfs" --host /bin/true >/dev/null
cat >"$tmp/bundle/config.json" <<'JSON'
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
             "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/"},
 "root": {"path": "rootfs"}, "hostname": "order",
 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}]}}
JSON

# And the config podman writes (../shared/reference/podman-samples, kept in the tests' fixtures):
# its mounts, masked paths, capabilities, rlimits, seccomp profile and limits run code the
# minimal bundle does not. Host paths of its binds are replaced by files made here.
mkdir -p "$tmp/pod/files"
cp -a "$tmp/bundle/rootfs" "$tmp/pod/rootfs"
python3 - "$tmp/pod" Tests/OCIBundleTests/Fixtures/podman-rootful-config.json <<'PY'
import json, os, sys
d, sample = sys.argv[1], sys.argv[2]
c = json.load(open(sample))
c["root"] = {"path": "rootfs"}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["linux"].pop("cgroupsPath", None)
for m in c["mounts"]:
    if m.get("type") == "bind" or "bind" in m.get("options", []) or "rbind" in m.get("options", []):
        src = os.path.join(d, "files", m["destination"].strip("/").replace("/", "_"))
        open(src, "w").close()
        m["source"] = src
json.dump(c, open(os.path.join(d, "config.json"), "w"))
PY

# And what `voidoci spec` writes (runc spec's mounts, masked paths, capabilities, rlimits), and
# the benchmark's config (bench/workloads.py: proc and a /dev tmpfs, which a void drops).
mkdir -p "$tmp/spec" "$tmp/bench"
cp -a "$tmp/bundle/rootfs" "$tmp/spec/rootfs"
cp -a "$tmp/bundle/rootfs" "$tmp/bench/rootfs"
(cd "$tmp/spec" && "$bin" spec >/dev/null)
python3 - "$tmp" <<'PY'
import json, os, sys
d = sys.argv[1]
p = os.path.join(d, "spec", "config.json")
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
c = json.load(open(os.path.join(d, "bundle", "config.json")))
c["mounts"] = [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}]
json.dump(c, open(os.path.join(d, "bench", "config.json"), "w"))
PY

trace() {  # trace NAME ARGS...
  local name=$1; shift
  "$tmp/trace-functions" "$tmp/symbols" "$tmp/$name.hits" "$bin" --root "$tmp/state" "$@" >/dev/null
}
trace run run --bundle "$tmp/bundle" order-run
trace run-podman run --bundle "$tmp/pod" order-pod
trace run-spec run --bundle "$tmp/spec" order-spec
trace run-bench run --bundle "$tmp/bench" order-bench
trace create create --bundle "$tmp/bundle" --pid-file "$tmp/pid" order-life
trace state state order-life
trace start start order-life
sleep 0.2
trace delete delete order-life
"$bin" --root "$tmp/state" create --bundle "$tmp/bundle" order-kill
trace kill kill order-kill KILL
sleep 0.2
trace delete-force delete --force order-kill
"$tmp/trace-functions" "$tmp/symbols" "$tmp/version.hits" "$bin" --version >/dev/null

out=scripts/order/voidoci.order
python3 scripts/order/select.py "$tmp/map" "$tmp"/{run,create,state,start,delete,kill,delete-force,version,run-podman,run-spec,run-bench}.hits >"$out.new"
mv "$out.new" "$out"
echo "make-order: $(wc -l <"$out") functions in $out"

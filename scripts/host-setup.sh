#!/usr/bin/env bash
# Host configuration the tests and podman need. Idempotent: every step checks first.
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "host-setup: must run as root" >&2; exit 1; }
TEST_USER=${VOIDOCI_TEST_USER:-voidtest}
SUBID_RANGE=200000:65536

# --- cgroups: no controller left on the v2 side of a hybrid hierarchy --------------------
# Hosts booted without systemd can end up "hybrid" with a controller nobody mounted as v1
# (here: hugetlb) still attached to cgroup2 at /sys/fs/cgroup/unified. crun then refuses
# every container ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"), which breaks podman's default runtime too. Binding each such controller to
# its own v1 hierarchy, as systemd's hybrid mode does, empties the v2 side.
uni=/sys/fs/cgroup/unified
if [[ -f $uni/cgroup.controllers && -z $(<"$uni/cgroup.subtree_control") ]]; then
  for c in $(<"$uni/cgroup.controllers"); do
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
    echo "host-setup: mounted cgroup v1 $c hierarchy (was stranded on cgroup2)"
  done
fi

# --- podman: register voidoci and make containers startable on this host ----------------
# default_ulimits: podman (rootful) asks for nofile=1048576 by default; where the hard
# RLIMIT_NOFILE is lower and cannot be raised (20000 on our machines) every runtime,
# crun included, fails at setrlimit. Never ask for more than the host's hard limit.
# runtime_supports_nocgroup is singular on purpose: that is the TOML key podman 4.x parses
# (containers/common's struct tag); the documented "..._nocgroups" is silently ignored.
# [engine] keys must precede the [engine.runtimes] sub-table, or TOML puts them inside it.
nofile=20000
hard=$(ulimit -Hn)
[[ $hard != unlimited ]] && ((hard < nofile)) && nofile=$hard
conf=/etc/containers/containers.conf.d/50-voidoci.conf
mkdir -p "$(dirname "$conf")"
new=$(cat <<TOML
# Written by voidoci scripts/host-setup.sh; rerun it rather than editing by hand.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "voidoci"]
runtime_supports_nocgroup = ["crun", "krun", "voidoci"]

[engine.runtimes]
voidoci = ["/usr/local/bin/voidoci"]
TOML
)
if [[ -f $conf && $(<"$conf") == "$new" ]]; then
  echo "host-setup: $conf up to date"
else
  printf '%s\n' "$new" >"$conf.tmp" && mv -f "$conf.tmp" "$conf"
  echo "host-setup: wrote $conf"
fi
# A syntax error in any containers.conf makes every podman command fail: check now.
if ! podman info >/dev/null; then
  echo "host-setup: 'podman info' fails with $conf in place" >&2; exit 1
fi
echo "host-setup: podman info OK"

# --- rootful podman's network namespaces ---------------------------------------------------
# The first rootful container on podman's default network makes /run/netns a shared bind mount
# of itself (as `ip netns add` does), and it stays. That belongs to set-up: made by the test
# suite's first run, the host mount-table check of scripts/test.sh sees it as a new mount.
if ! mountpoint -q /run/netns; then
  ip netns add voidoci-setup
  ip netns delete voidoci-setup
  echo "host-setup: /run/netns is a mount point (as podman's first network namespace makes it)"
fi

# --- unprivileged test user ----------------------------------------------------------------
if ! id -u "$TEST_USER" >/dev/null 2>&1; then
  # SUB_*_COUNT=0: stop useradd from allocating its own 100000+ subordinate range;
  # the tests expect exactly the one below.
  useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$TEST_USER"
  echo "host-setup: created user $TEST_USER"
fi
uid=$(id -u "$TEST_USER")
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -qx "$TEST_USER:$SUBID_RANGE" "$f"; then
    echo "$TEST_USER:$SUBID_RANGE" >>"$f"
    echo "host-setup: added $TEST_USER:$SUBID_RANGE to $f"
  fi
done

# No systemd-logind here to create XDG_RUNTIME_DIR; rootless podman and tests need one.
install -d -m 0700 -o "$uid" -g "$(id -g "$TEST_USER")" "/run/user/$uid"
echo "host-setup: /run/user/$uid ready"

# --- unprivileged user namespaces -------------------------------------------------------
# Debian kernels gate them behind this sysctl (absent on upstream kernels).
knob=/proc/sys/kernel/unprivileged_userns_clone
if [[ -e $knob && $(<"$knob") == 0 ]]; then
  echo 1 >"$knob"
  echo "kernel.unprivileged_userns_clone = 1" >/etc/sysctl.d/50-voidoci-userns.conf  # survive reboot
  echo "host-setup: enabled kernel.unprivileged_userns_clone"
fi
if [[ $(</proc/sys/user/max_user_namespaces) == 0 ]]; then
  echo "host-setup: user.max_user_namespaces is 0; rootless voids cannot work" >&2; exit 1
fi
if ! runuser -u "$TEST_USER" -- unshare -Ur true; then
  echo "host-setup: 'unshare -Ur' fails for $TEST_USER: unprivileged user namespaces are blocked" >&2
  exit 1
fi
echo "host-setup: unprivileged user namespaces work for $TEST_USER (uid $uid)"

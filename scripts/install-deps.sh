#!/usr/bin/env bash
# Install every Debian package voidoci, its tests and its benchmarks need.
# Re-runs are cheap: when dpkg already has everything we skip apt entirely.
set -euo pipefail

PKGS=(
  libseccomp-dev                   # CSeccomp links libseccomp (libseccomp.a: the binary is static)
  libc6-dev libstdc++-12-dev gcc   # libc.a, libstdc++.a for the static link; gcc for scripts/order/
  busybox-static                   # static busybox for test rootfs (make-rootfs.sh --busybox)
  crun runc                        # reference runtimes the tests compare against
  podman conmon uidmap             # engine integration (uidmap: newuidmap for rootless)
  slirp4netns fuse-overlayfs catatonit  # podman's rootless helpers (only Recommends, and we skip those)
  containerd docker.io             # engine integration (ctr, docker)
  bubblewrap hyperfine strace binutils util-linux iproute2 procps python3
  time                             # /usr/bin/time for peak-RSS measurements
  curl                             # ConnectTests: an unmodified program that connect()s out of a void
  socat                            # bench/accept.py: the fork-per-connection server org.voidoci.accept is compared with
  chromium fonts-dejavu-core       # CompareTests: the html report rendered in a real headless browser
)

[[ $EUID -eq 0 ]] || { echo "install-deps: must run as root" >&2; exit 1; }

missing=()
for p in "${PKGS[@]}"; do
  # ${db:Status-Status} is exactly "installed" only for fully configured packages
  # (not for removed-but-config-files or half-installed ones).
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# Without systemd (containers, CI sandboxes) a package's postinst starting its daemon via
# the sysv script fails in odd ways and can abort the whole install. Deny service starts
# for the duration, unless the machine already has its own policy.
if [[ ! -d /run/systemd/system && ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

apt-get update -q
# --no-install-recommends: docker.io recommends cgroupfs-mount (mounts cgroup v1
# hierarchies on the host), apparmor and needrestart, none of which we want.
apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
echo "install-deps: done"

"""The host is left as the run found it: a snapshot before the first section, a check for leaks
after every section (processes, mounts, cgroups, state dirs, podman containers), and the
clean-up that runs whatever happened (on failure and on SIGINT/SIGTERM too)."""

import collections
import os
import shutil
import signal
import time

from procs import children_alive, cmdline, kill_group, proc_stat, reap, sh
from runners import LABEL_KEY, OCI

DEFAULT_STATE = {"voidoci": "/run/voidoci", "crun": "/run/crun", "runc": "/run/runc"}


def mount_table():
    rows = collections.Counter()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            rows[f"{fields[4]} {fields[dash + 1]} {fields[dash + 2]}"] += 1
    return rows


def cgroup_dirs(max_depth=4):
    out = set()
    root = "/sys/fs/cgroup"
    for top, dirs, _ in os.walk(root):
        depth = top[len(root):].count("/")
        if depth >= max_depth:
            dirs[:] = []
        for d in dirs:
            out.add(os.path.join(top, d))
    return out


def state_entries(d):
    try:
        return {e for e in os.listdir(d) if not e.startswith(".")}
    except OSError:
        return set()


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class HostState:
    """Leaks of one run (rn: runners.Runners: its temp dir, prefix and state roots)."""

    def __init__(self, rn, failures):
        self.rn = rn
        self.failures = failures
        self.baseline = None

    def podman_containers(self):
        if not self.rn.optional.get("podman"):
            return set()
        r = sh(["podman", "ps", "-a", "--no-trunc", "--format", "{{.ID}}"], timeout=60)
        return set(r.stdout.split())

    def our_podman_containers(self):
        r = sh(["podman", "ps", "-a", "-q", "--filter", f"label={LABEL_KEY}={self.rn.prefix}"], timeout=60)
        return r.stdout.split()

    def snapshot(self):
        self.baseline = {"mounts": mount_table(), "cgroups": cgroup_dirs(),
                         "state": {rt: state_entries(d) for rt, d in DEFAULT_STATE.items()}}

    def check(self, label):
        """Leaks of this suite: processes, mounts, cgroups, state dirs, podman containers. A
        suspicious entry (a libpod cgroup, a default-state entry) is looked at twice, a second
        apart: other people's containers on the same host come and go."""
        reap()
        leaks = {"processes": self._processes(), "mounts": [], "cgroups": [], "state": [], "podman": []}
        reap()
        now = mount_table()
        new = now - self.baseline["mounts"]
        gone = self.baseline["mounts"] - now
        tmp, prefix = self.rn.tmp, self.rn.prefix
        for m in sorted(new.elements()):
            if (tmp and tmp in m) or prefix in m:
                leaks["mounts"].append(m)
        for rt in OCI:
            left = state_entries(self.rn.state_root(rt))
            leaks["state"] += [f"{self.rn.state_root(rt)}/{e}" for e in sorted(left)]
        self._cgroups_and_state(leaks)
        if self.rn.optional.get("podman"):
            leaks["podman"] = self.our_podman_containers()
        clean = not any(leaks.values())
        out = {"clean": clean, "leaks": leaks}
        elsewhere = [f"+ {m}" for m in sorted(new.elements()) if m not in leaks["mounts"]] + \
                    [f"- {m}" for m in sorted(gone.elements())]
        if elsewhere:
            out["mount_table_changes_not_ours"] = elsewhere[:40]
        if not clean:
            self.failures.append(f"host not clean after {label}: " +
                                 "; ".join(f"{k}: {', '.join(v)}" for k, v in leaks.items() if v))
        return out

    def _processes(self):
        """Processes of the run still alive (children, or naming its temp dir or ids): killed."""
        found = []
        for pid in children_alive():
            found.append(f"{pid} {cmdline(pid)[:120]}")
            _kill(pid)
        me = os.getpid()
        tmp, prefix = self.rn.tmp, self.rn.prefix
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != me:
                c = cmdline(int(p))
                if (tmp and tmp in c) or prefix + "-" in c:
                    st = proc_stat(int(p))
                    if st and st[0] not in "ZX" and not any(x.startswith(p + " ") for x in found):
                        found.append(f"{p} {c[:120]}")
                        _kill(int(p))
        return found

    def _cgroups_and_state(self, leaks):
        """Cgroups named after the run's ids; new libpod cgroups and default-state entries
        without a podman container (looked at again a second later)."""
        cg_now = cgroup_dirs()
        leaks["cgroups"] += sorted(d for d in cg_now if self.rn.prefix in os.path.basename(d))
        suspects = [d for d in cg_now - self.baseline["cgroups"] if os.path.basename(d).startswith("libpod-")]
        st_suspects = [(rt, e) for rt, d in DEFAULT_STATE.items() for e in state_entries(d) - self.baseline["state"][rt]]
        if suspects or st_suspects:
            time.sleep(1)
            alive = self.podman_containers()
            for d in suspects:
                cid = os.path.basename(d)[len("libpod-"):].split(".")[0]
                if os.path.isdir(d) and cid not in alive:
                    leaks["cgroups"].append(d)
            for rt, e in st_suspects:
                if os.path.exists(os.path.join(DEFAULT_STATE[rt], e)) and e not in alive:
                    leaks["state"].append(os.path.join(DEFAULT_STATE[rt], e))

    # --- clean-up --------------------------------------------------------------------------------

    def cleanup(self, image_name, results):
        """Everything this run made, whatever happened: containers of every runtime, the podman
        image and containers, processes, mounts under the temp dir, the temp dir. Then the final
        host check (results → host_state)."""
        rn = self.rn
        for p in list(rn.running):
            kill_group(p)
        if rn.tmp:
            for rt in OCI:
                if rt not in rn.bins:
                    continue
                for cid in sorted(state_entries(rn.state_root(rt))):
                    sh(rn.oci(rt, "delete", "--force", cid), timeout=30)
        if rn.optional.get("podman"):
            self._remove_podman(image_name)
        # What the deleted containers and podman leave exiting (conmon, inits) gets a moment to
        # go before anything still alive is called a leak.
        deadline = time.monotonic() + 5
        while children_alive() and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
        final = None
        if self.baseline is not None:
            final = self.check("cleanup")
        if rn.tmp:
            self._remove_temp_dir()
        if final is not None:
            final["temp_dir_removed"] = not os.path.exists(rn.tmp)
            hs = results.setdefault("host_state", {"after": {}})
            hs["final"] = final
            hs["clean"] = all(v["clean"] for v in hs["after"].values()) and final["clean"] and final["temp_dir_removed"]

    def _remove_podman(self, image_name):
        ours = self.our_podman_containers()
        if ours:
            sh(["podman", "rm", "-f", "-t", "0", *ours], timeout=120)
        if image_name:
            sh(["podman", "rmi", "-f", image_name], timeout=120)
            left = sh(["podman", "image", "exists", image_name], timeout=60)
            if left.returncode == 0:
                self.failures.append(f"podman image {image_name} could not be removed")

    def _remove_temp_dir(self):
        tmp = self.rn.tmp
        with open("/proc/self/mountinfo") as f:
            stray = [l.split()[4] for l in f if tmp in l.split()[4]]
        for mp in sorted(stray, key=len, reverse=True):
            sh(["umount", "-l", mp])
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(tmp):
            self.failures.append(f"temp dir {tmp} could not be removed")

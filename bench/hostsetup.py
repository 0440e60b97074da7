"""Before anything is measured: the tools the suite needs, what crun needs on this host (done by
the suite itself, listed in results.json → setup), and a description of the machine."""

import os
import platform
import re
import resource
import shutil

from procs import PATH, sh, version

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)

REQUIRED = {"hyperfine": "hyperfine", "crun": "crun", "runc": "runc", "strace": "strace",
            "unshare": "unshare", "time": "/usr/bin/time"}
OPTIONAL = ("bwrap", "podman", "perf")


class SetupError(Exception):
    pass


def find_tools(voidoci):
    """(bins, optional): the runtimes' executables, and the optional tools (None when missing).
    SetupError names every required one that is missing."""
    missing = [n for n, t in REQUIRED.items() if not shutil.which(t, path=PATH)]
    v = shutil.which(voidoci, path=PATH) or voidoci
    if not os.access(v, os.X_OK):
        missing.append(f"voidoci ({voidoci}; build it: bash scripts/build.sh)")
    if missing:
        raise SetupError("missing: " + ", ".join(missing) + " (bash scripts/install-deps.sh)")
    bins = {"voidoci": os.path.realpath(v), "crun": shutil.which("crun", path=PATH),
            "runc": shutil.which("runc", path=PATH)}
    return bins, {t: shutil.which(t, path=PATH) for t in OPTIONAL}


def crun_host():
    """(actions, podman ulimits): what crun needs on this host, as scripts/host-setup.sh does it."""
    actions = stranded_controllers()
    ulimits = podman_ulimits()
    actions.append(f"podman runs get {' '.join(ulimits)} (this host's hard limits)")
    return actions, ulimits


def stranded_controllers():
    """On a hybrid cgroup host, a controller left on the cgroup2 side (hugetlb here) gets its own
    v1 hierarchy, or crun refuses every container. Left in place afterwards (as host-setup.sh
    leaves it): it is host configuration, not benchmark debris."""
    actions = []
    uni = "/sys/fs/cgroup/unified"
    try:
        with open(f"{uni}/cgroup.controllers") as f:
            ctrls = f.read().split()
        with open(f"{uni}/cgroup.subtree_control") as f:
            sub = f.read().strip()
    except OSError:
        ctrls, sub = [], "n/a"
    if ctrls and not sub:
        for c in ctrls:
            os.makedirs(f"/sys/fs/cgroup/{c}", exist_ok=True)
            r = sh(["mount", "-t", "cgroup", "-o", c, "cgroup", f"/sys/fs/cgroup/{c}"])
            actions.append(f"mounted a cgroup v1 {c} hierarchy (was stranded on cgroup2)"
                           + ("" if r.returncode == 0 else f": FAILED {r.stderr.strip()}"))
    if not actions:
        actions.append("cgroups: nothing to do (no controller stranded on the cgroup2 side)")
    return actions


def podman_ulimits():
    """podman asks for nofile=1048576 by default; where the hard limit is lower and cannot be
    raised, every runtime (crun first) fails at setrlimit. The suite passes --ulimit within the
    hard limits to every podman run instead of relying on containers.conf."""
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
    except OSError:
        nr_open = 1048576
    nofile = min(x for x in (hard_nofile, nr_open, 1048576) if x != resource.RLIM_INFINITY)
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if hard_nproc == resource.RLIM_INFINITY else min(hard_nproc, 32768)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine(bins, optional):
    """The machine, the kernel, the cgroup layout and every tool's version (results.json → machine)."""
    cpu = next((l.split(":", 1)[1].strip() for l in _read("/proc/cpuinfo").splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) for l in _read("/proc/meminfo").splitlines() if l.startswith("MemTotal")), 0)
    osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', _read("/etc/os-release"), re.M))
    virt = None
    if "hypervisor" in _read("/proc/cpuinfo"):
        virt = "virtual machine"
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else \
        ("hybrid (v1 + unified)" if os.path.exists("/sys/fs/cgroup/unified") else "v1")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(), "os": osr.get("PRETTY_NAME"), "virtualization": virt,
        "cgroups": cg, "loadavg_start": os.getloadavg(),
        "versions": versions(bins, optional),
    }


def versions(bins, optional):
    git = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip() or None
    dirty = bool(sh(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"]).stdout.strip())
    return {
        "voidoci": version([bins["voidoci"], "--version"]),
        "voidoci_binary": bins["voidoci"],
        "voidoci_commit": (git + ("-dirty" if dirty else "")) if git else None,
        "crun": version(["crun", "--version"]), "runc": version(["runc", "--version"]),
        "bwrap": version(["bwrap", "--version"]) if optional["bwrap"] else None,
        "podman": version(["podman", "--version"]) if optional["podman"] else None,
        "hyperfine": version(["hyperfine", "--version"]),
        "strace": version(["strace", "-V"]),
        "perf": version(["perf", "--version"]) if optional["perf"] else None,
        "python": platform.python_version(),
    }

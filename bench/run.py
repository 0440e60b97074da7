#!/usr/bin/env python3
"""voidoci benchmark suite: voidoci against crun, runc, bwrap and the namespace floor, on the same
bundle and the same program (/bin/true), in one run.

    python3 bench/run.py                 # full run (~5 min): bench/out/ + bench/results.md + bench/chart.svg
    python3 bench/run.py --smoke         # a handful of runs per measurement, tiny sizes (< 60 s)
    python3 bench/run.py --out DIR       # everything into DIR (README-facing files not touched)
    python3 bench/run.py --only run,phases

Exit status: 0 when every measurement ran with no failed run and the host is clean afterwards;
1 on a failed run, a harness error or a leak (process, mount, cgroup, state dir, podman
container); 2 on a usage or set-up error (not root, a required tool missing, crun unable to run a
container here). Targets missed are reported, not an error. See bench/README.md.
"""

import argparse
import collections
import ctypes
import datetime
import json
import math
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

import phases as phaselib  # noqa: E402
import report  # noqa: E402

MAKE_ROOTFS = os.path.join(REPO, "scripts", "make-rootfs.sh")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV = {"PATH": PATH, "LC_ALL": "C", "HOME": "/root"}
OCI = ["voidoci", "crun", "runc"]
SECTIONS = ["run", "lifecycle", "podman", "rss", "binds", "concurrency", "phases"]
PROGRAM = "/bin/true"
LABEL_KEY = "io.github.voidoci.bench"

FULL = dict(run_runs=200, run_warmup=10, rounds=4, lc_iters=60, lc_warmup=3, podman_runs=40, podman_warmup=3,
            rss_runs=20, binds=[1, 10, 100, 1000], bind_runs={1: 40, 10: 40, 100: 30, 1000: 15},
            bind_warmup=2, conc=[1, 10, 50], conc_rounds=8, strace_full=5, strace_light=20,
            strace_c=3, perf_runs=150, anchor_runs=100, cgroup_probes=20)
SMOKE = dict(run_runs=3, run_warmup=1, rounds=1, lc_iters=3, lc_warmup=1, podman_runs=2, podman_warmup=0,
             rss_runs=2, binds=[1, 10], bind_runs={1: 2, 10: 2}, bind_warmup=0, conc=[1, 3],
             conc_rounds=1, strace_full=1, strace_light=1, strace_c=1, perf_runs=3, anchor_runs=3, cgroup_probes=2)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# --- statistics --------------------------------------------------------------------------------

def stats(values):
    """Median and spread of a list of numbers (ms or KiB); None entries are ignored."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return {"n": 0}
    out = {"n": len(v), "median": statistics.median(v), "mean": statistics.fmean(v),
           "stddev": statistics.stdev(v) if len(v) > 1 else 0.0, "min": v[0], "max": v[-1]}
    if len(v) >= 2:
        q = statistics.quantiles(v, n=20, method="inclusive")  # 5% steps
        out.update(p10=q[1], p25=q[4], p75=q[14], p90=q[17])
    else:
        out.update(p10=v[0], p25=v[0], p75=v[0], p90=v[0])
    return {k: (round(x, 4) if isinstance(x, float) else x) for k, x in out.items()}


def slower_p(a, b):
    """One-sided p-value that the values in a tend to be larger than those in b: Mann-Whitney U,
    normal approximation with tie correction and continuity correction (n of 20 or more each).
    None when either sample is too small."""
    n1, n2 = len(a), len(b)
    if n1 < 8 or n2 < 8:
        return None
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    n = n1 + n2
    ranks, ties, i = [0.0] * n, 0.0, 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (u1 - n1 * n2 / 2 - 0.5) / sigma
    return round(0.5 * math.erfc(z / math.sqrt(2)), 4)


def ratio(a, b):
    """a's median / b's median; None when either is missing or had failed runs."""
    if not a or not b or a.get("n", 0) == 0 or b.get("n", 0) == 0 or not b["median"]:
        return None
    if a.get("failures") or b.get("failures"):
        return None
    return round(a["median"] / b["median"], 3)


# --- processes -----------------------------------------------------------------------------------

def become_subreaper():
    """Container processes whose runtime exited (create's init, conmon) re-parent to the suite:
    it reaps them the way an engine does and finds any that outlive their container."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return fields[0], int(fields[1])  # state, ppid


def children_alive():
    me, out = os.getpid(), []
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = proc_stat(int(p))
            if st and st[1] == me and st[0] not in "ZX":
                out.append(int(p))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Spawner:
    """posix_spawn + pidfd: low overhead, exact exit times, a timeout per process, and no
    stealing of other children's exit statuses (never waitpid(-1) while something runs)."""

    def __init__(self, errdir):
        self.errdir = errdir
        self.seq = 0

    def spawn(self, argv, err=None, out=os.devnull):
        self.seq += 1
        err = err or os.path.join(self.errdir, f"spawn-{self.seq}.err")
        fa = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        exe = argv[0] if argv[0].startswith("/") else shutil.which(argv[0], path=PATH) or argv[0]
        pid = os.posix_spawn(exe, argv, ENV, file_actions=fa)
        return pid, err

    @staticmethod
    def wait(pid, timeout):
        """Exit status (128+N for a signal), or None after killing it on timeout."""
        fd = os.pidfd_open(pid)
        try:
            p = select.poll()
            p.register(fd, select.POLLIN)
            if not p.poll(timeout * 1000):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
        finally:
            os.close(fd)
        _, st = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(st)
        return 128 - code if code < 0 else code

    def run(self, argv, timeout=60, err=None):
        """(status, seconds, stderr path)."""
        t0 = time.perf_counter()
        pid, err = self.spawn(argv, err=err)
        status = self.wait(pid, timeout)
        return status, time.perf_counter() - t0, err


def tail(path, n=400):
    try:
        with open(path, errors="replace") as f:
            return " ".join(f.read()[-n:].split())
    except OSError:
        return ""


# --- host state ----------------------------------------------------------------------------------

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


DEFAULT_STATE = {"voidoci": "/run/voidoci", "crun": "/run/crun", "runc": "/run/runc"}


def state_entries(d):
    try:
        return {e for e in os.listdir(d) if not e.startswith(".")}
    except OSError:
        return set()


# --- the suite -----------------------------------------------------------------------------------

class Suite:
    def __init__(self, a):
        self.a = a
        self.p = SMOKE if a.smoke else FULL
        self.mode = "smoke" if a.smoke else "full"
        self.prefix = f"vb{os.getpid()}"
        self.tmp = None
        self.out = a.out
        self.raw = os.path.join(self.out, "raw")
        self.bins = {}
        self.failures = []
        self.image_name = None
        self.results = {"schema": 1, "mode": self.mode}
        self.baseline = None
        self.running = []  # Popen objects to kill on interruption

    # --- helpers ---------------------------------------------------------------------------------

    def state_root(self, rt):
        return os.path.join(self.tmp, "state", rt)

    def oci(self, rt, *args):
        return [self.bins[rt], "--root", self.state_root(rt), *args]

    def new_id(self, rt, tag):
        """A container id of this run (the prefix finds leftovers: state, cgroups, processes)."""
        return f"{self.prefix}-{tag}"

    def sh(self, argv, timeout=120, check=False, cwd=None):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=ENV,
                           timeout=timeout, cwd=cwd)
        if check and r.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        return r

    def version(self, argv):
        try:
            r = self.sh(argv, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError, IndexError):
            return None

    @staticmethod
    def kill_group(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()

    def reap(self):
        """Reaps orphans that re-parented here (exited container inits, conmon). Only called
        when no process of ours is running."""
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass

    def hyperfine(self, tag, cmds, runs, warmup, rounds=1, timeout=900, keep_times=False):
        """cmds: [(key, argv)]. hyperfine -N (no shell) -i (a failed run is counted, not fatal),
        in `rounds` invocations of runs/rounds each (warm-ups in the first), so a drift of a
        shared machine hits every command alike; returns {key: stats + failures + user/system ms}."""
        per = [runs // rounds + (1 if i < runs % rounds else 0) for i in range(rounds)]
        merged = {key: {"times": [], "codes": [], "user": [], "system": []} for key, _ in cmds}
        for i, n in enumerate(p for p in per if p > 0):
            name = f"{tag}-{i}" if rounds > 1 else tag
            js = os.path.join(self.raw, f"hyperfine-{name}.json")
            logp = os.path.join(self.raw, f"hyperfine-{name}.log")
            argv = ["hyperfine", "-N", "-i", "--style", "basic", "--runs", str(max(2, n)),
                    "--warmup", str(warmup if i == 0 else 0), "--export-json", js]
            for key, c in cmds:
                argv += ["--command-name", key, shlex.join(c)]
            with open(logp, "w") as logf:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                     env=ENV, cwd="/tmp", start_new_session=True)
                self.running.append(p)
                try:
                    p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill_group(p)
                    raise RuntimeError(f"hyperfine {name} timed out after {timeout}s")
                except BaseException:
                    self.kill_group(p)  # interrupted: hyperfine and what it runs go too
                    raise
                finally:
                    self.running.remove(p)
            self.reap()
            if p.returncode != 0 or not os.path.exists(js):
                raise RuntimeError(f"hyperfine {name} failed ({p.returncode}): {tail(logp)}")
            with open(js) as f:
                data = json.load(f)
            for (key, _), r in zip(cmds, data["results"]):
                m = merged[key]
                m["times"] += r["times"]
                m["codes"] += r.get("exit_codes") or []
                m["user"].append((r["user"], len(r["times"])))
                m["system"].append((r["system"], len(r["times"])))
        out = {}
        for key, c in cmds:
            m = merged[key]
            s = stats([t * 1000 for t in m["times"]])
            s["failures"] = sum(1 for x in m["codes"] if x != 0)
            total = sum(n for _, n in m["user"]) or 1
            s["user_ms"] = round(sum(u * n for u, n in m["user"]) / total * 1000, 3)
            s["system_ms"] = round(sum(u * n for u, n in m["system"]) / total * 1000, 3)
            s["command"] = shlex.join(c)
            out[key] = s
            if keep_times:
                s["times_ms"] = [round(t * 1000, 3) for t in m["times"]]
            if s["failures"]:
                self.failures.append(f"{tag}: {key}: {s['failures']} of {len(m['codes'])} runs failed ({shlex.join(c)})")
        return out

    # --- set-up ----------------------------------------------------------------------------------

    def tools(self):
        req = {"hyperfine": "hyperfine", "crun": "crun", "runc": "runc", "strace": "strace",
               "unshare": "unshare", "time": "/usr/bin/time"}
        missing = [n for n, t in req.items() if not shutil.which(t, path=PATH)]
        v = self.a.voidoci
        v = shutil.which(v, path=PATH) or v
        if not os.access(v, os.X_OK):
            missing.append(f"voidoci ({self.a.voidoci}; build it: bash scripts/build.sh)")
        if missing:
            raise SetupError("missing: " + ", ".join(missing) + " (bash scripts/install-deps.sh)")
        self.bins = {"voidoci": os.path.realpath(v), "crun": shutil.which("crun", path=PATH),
                     "runc": shutil.which("runc", path=PATH)}
        self.optional = {t: shutil.which(t, path=PATH) for t in ("bwrap", "podman", "perf")}

    def crun_host(self):
        """What crun needs on this host, as scripts/host-setup.sh does it: on a hybrid cgroup
        host, a controller left on the cgroup2 side (hugetlb here) gets its own v1 hierarchy,
        or crun refuses every container. Left in place afterwards (as host-setup.sh leaves it):
        it is host configuration, not benchmark debris."""
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
                r = self.sh(["mount", "-t", "cgroup", "-o", c, "cgroup", f"/sys/fs/cgroup/{c}"])
                actions.append(f"mounted a cgroup v1 {c} hierarchy (was stranded on cgroup2)"
                               + ("" if r.returncode == 0 else f": FAILED {r.stderr.strip()}"))
        if not actions:
            actions.append("cgroups: nothing to do (no controller stranded on the cgroup2 side)")
        # rlimits: podman asks for nofile=1048576 by default; where the hard limit is lower and
        # cannot be raised, every runtime (crun first) fails at setrlimit. The suite passes
        # --ulimit within the hard limits to every podman run instead of relying on
        # containers.conf.
        hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        try:
            with open("/proc/sys/fs/nr_open") as f:
                nr_open = int(f.read())
        except OSError:
            nr_open = 1048576
        nofile = min(x for x in (hard_nofile, nr_open, 1048576) if x != resource.RLIM_INFINITY)
        hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = 32768 if hard_nproc == resource.RLIM_INFINITY else min(hard_nproc, 32768)
        self.ulimits = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]
        actions.append(f"podman runs get {' '.join(self.ulimits)} (this host's hard limits)")
        return actions

    def machine(self):
        def read(path):
            try:
                with open(path) as f:
                    return f.read()
            except OSError:
                return ""
        cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines()
                    if l.startswith("model name")), platform.processor())
        mem = next((int(l.split()[1]) for l in read("/proc/meminfo").splitlines() if l.startswith("MemTotal")), 0)
        osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', read("/etc/os-release"), re.M))
        virt = None
        if "hypervisor" in read("/proc/cpuinfo"):
            virt = "virtual machine"
        cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else \
            ("hybrid (v1 + unified)" if os.path.exists("/sys/fs/cgroup/unified") else "v1")
        git = self.sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip() or None
        dirty = bool(self.sh(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"]).stdout.strip())
        return {
            "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1),
            "kernel": platform.release(), "os": osr.get("PRETTY_NAME"), "virtualization": virt,
            "cgroups": cg, "loadavg_start": os.getloadavg(),
            "versions": {
                "voidoci": self.version([self.bins["voidoci"], "--version"]),
                "voidoci_binary": self.bins["voidoci"],
                "voidoci_commit": (git + ("-dirty" if dirty else "")) if git else None,
                "crun": self.version(["crun", "--version"]), "runc": self.version(["runc", "--version"]),
                "bwrap": self.version(["bwrap", "--version"]) if self.optional["bwrap"] else None,
                "podman": self.version(["podman", "--version"]) if self.optional["podman"] else None,
                "hyperfine": self.version(["hyperfine", "--version"]),
                "strace": self.version(["strace", "-V"]),
                "perf": self.version(["perf", "--version"]) if self.optional["perf"] else None,
                "python": platform.python_version(),
            },
        }

    def config(self, binds=0):
        """The one config.json every runtime gets: /bin/true, proc and /dev mounts (runc and crun
        need them; voidoci drops what it does not grant), the usual namespaces; plus N binds."""
        mounts = [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}]
        for i in range(binds):
            mounts.append({"destination": f"/b/{i}", "type": "bind", "source": os.path.join(self.bindsrc, str(i)),
                           "options": ["bind", "ro"]})
        return {"ociVersion": "1.0.2",
                "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": [PROGRAM],
                            "env": [f"PATH={PATH}"], "cwd": "/"},
                "root": {"path": "rootfs"}, "hostname": "bench", "mounts": mounts,
                "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]}}

    def bundle(self, rt, name, binds=0):
        """A private copy for one runtime: config.json and a cp -a of the image."""
        d = os.path.join(self.tmp, "bundles", rt, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(self.config(binds), f, indent=1)
        self.sh(["cp", "-a", self.image, os.path.join(d, "rootfs")], check=True)
        return d

    def setup(self):
        self.tmp = tempfile.mkdtemp(prefix=f"voidoci-bench-{os.getpid()}-")
        self.results["temp_dir"] = self.tmp
        os.chmod(self.tmp, 0o711)
        for d in ("state/voidoci", "state/crun", "state/runc", "err", "bundles"):
            os.makedirs(os.path.join(self.tmp, d))
        self.sp = Spawner(os.path.join(self.tmp, "err"))
        self.image = os.path.join(self.tmp, "image")
        r = self.sh(["bash", MAKE_ROOTFS, self.image, "--host", os.path.basename(PROGRAM)], timeout=120)
        if r.returncode != 0:
            raise SetupError(f"make-rootfs.sh failed: {r.stderr.strip()[-500:]}")
        for mp in ("proc", "dev"):  # mount points runc and crun need; the same image for everyone
            os.makedirs(os.path.join(self.image, mp), exist_ok=True)
        self.bindsrc = os.path.join(self.tmp, "bindsrc")
        os.makedirs(self.bindsrc)
        for i in range(max(self.p["binds"])):
            os.mkdir(os.path.join(self.bindsrc, str(i)))
        self.base = {rt: self.bundle(rt, "base") for rt in OCI}
        # crun must work here: every ratio is to crun.
        cid = self.new_id("crun", "probe")
        st, _, err = self.sp.run(self.oci("crun", "run", "--bundle", self.base["crun"], cid), timeout=30)
        if st != 0:
            raise SetupError(f"crun cannot run a container on this host (exit {st}): {tail(err)}")
        self.baseline = self.host_snapshot()

    # --- host state ------------------------------------------------------------------------------

    def podman_containers(self):
        if not self.optional.get("podman"):
            return set()
        r = self.sh(["podman", "ps", "-a", "--no-trunc", "--format", "{{.ID}}"], timeout=60)
        return set(r.stdout.split())

    def host_snapshot(self):
        return {"mounts": mount_table(), "cgroups": cgroup_dirs(),
                "state": {rt: state_entries(d) for rt, d in DEFAULT_STATE.items()}}

    def check_host(self, label):
        """Leaks of this suite: processes, mounts, cgroups, state dirs, podman containers. A
        suspicious entry (a libpod cgroup, a default-state entry) is looked at twice, a second
        apart: other people's containers on the same host come and go."""
        self.reap()
        leaks = {"processes": [], "mounts": [], "cgroups": [], "state": [], "podman": []}
        for pid in children_alive():
            leaks["processes"].append(f"{pid} {cmdline(pid)[:120]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        me = os.getpid()
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != me:
                c = cmdline(int(p))
                if (self.tmp and self.tmp in c) or self.prefix + "-" in c:
                    st = proc_stat(int(p))
                    if st and st[0] not in "ZX" and not any(x.startswith(p + " ") for x in leaks["processes"]):
                        leaks["processes"].append(f"{p} {c[:120]}")
                        try:
                            os.kill(int(p), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        self.reap()
        now = mount_table()
        new = now - self.baseline["mounts"]
        gone = self.baseline["mounts"] - now
        for m in sorted(new.elements()):
            if (self.tmp and self.tmp in m) or self.prefix in m:
                leaks["mounts"].append(m)
        for rt in OCI:
            left = state_entries(self.state_root(rt))
            leaks["state"] += [f"{self.state_root(rt)}/{e}" for e in sorted(left)]
        cg_now = cgroup_dirs()
        leaks["cgroups"] += sorted(d for d in cg_now if self.prefix in os.path.basename(d))
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
        if self.optional.get("podman"):
            r = self.sh(["podman", "ps", "-a", "-q", "--filter", f"label={LABEL_KEY}={self.prefix}"], timeout=60)
            leaks["podman"] = r.stdout.split()
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

    # --- measurements ----------------------------------------------------------------------------

    def bwrap_argv(self):
        """bwrap with the closest equivalent of the void: every namespace new, a tmpfs root (bwrap's
        default), the program and its libraries bound read-only from the image. The binds are
        the ones voidoci itself plans (voidoci explain --format json on the same bundle)."""
        if not getattr(self, "bwrap_bundle", None):
            self.bwrap_bundle = self.bundle("bwrap", "base")
        rootfs = os.path.join(self.bwrap_bundle, "rootfs")
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--clearenv", "--setenv", "PATH", PATH,
                "--hostname", "bench"]
        r = self.sh([self.bins["voidoci"], "explain", "--format", "json", self.bwrap_bundle], timeout=30)
        try:
            plan = json.loads(r.stdout) if r.returncode == 0 else None
        except ValueError:
            plan = None
        if plan:
            self.bwrap_source = "voidoci explain --format json"
            for m in plan["mounts"]:
                if m["kind"] == "symlink":
                    argv += ["--symlink", m["source"], m["destination"]]
                elif m["kind"] == "bind" and m.get("sourceIn") == "image":
                    argv += ["--ro-bind", rootfs + m["source"], m["destination"]]
        else:
            # Without a plan from voidoci: the image's top-level links and its /usr, read-only.
            self.bwrap_source = "the image's /usr (voidoci explain failed)"
            for d in sorted(os.listdir(rootfs)):
                if os.path.islink(os.path.join(rootfs, d)):
                    argv += ["--symlink", os.readlink(os.path.join(rootfs, d)), "/" + d]
            argv += ["--ro-bind", os.path.join(rootfs, "usr"), "/usr"]
        argv += ["--chdir", "/", PROGRAM]
        return argv

    def sec_run(self):
        cmds = [("floor", ["unshare", "-Urmnpfiu", "--mount-proc", "true"])]
        notes = {}
        if self.optional["bwrap"]:
            cmds.append(("bwrap", self.bwrap_argv()))
        else:
            notes["bwrap"] = "skipped: bwrap not installed"
        for rt in OCI:
            cmds.append((rt, self.oci(rt, "run", "--bundle", self.base[rt], self.new_id(rt, f"run-{rt}"))))
        res = self.hyperfine("run", cmds, self.p["run_runs"], self.p["run_warmup"], rounds=self.p["rounds"])
        notes["bwrap_binds_from"] = getattr(self, "bwrap_source", None)
        return {"program": PROGRAM, "runs": self.p["run_runs"], "warmup": self.p["run_warmup"], "results": res,
                "ratio_to_crun": {k: ratio(v, res["crun"]) for k, v in res.items()}, "notes": notes}

    def lifecycle_once(self, rt, cid, timings, wrap=None):
        """create + start + wait + delete, as an engine drives them: the pid from --pid-file, the
        exit seen through a pidfd, the init reaped (it re-parents to the suite, a subreaper, as it
        would to conmon), then delete. Returns None or the failure."""
        bundle = self.base[rt]
        pidfile = os.path.join(self.tmp, f"{cid}.pid")
        steps = {}

        def step(name, argv):
            w = wrap(name) if wrap else []
            st, secs, err = self.sp.run(w + argv, timeout=30)
            steps[name] = secs * 1000
            return None if st == 0 else f"{name} exit {st}: {tail(err)}"

        fail = step("create", self.oci(rt, "create", "--bundle", bundle, "--pid-file", pidfile, cid))
        if fail:
            self.sp.run(self.oci(rt, "delete", "--force", cid), timeout=30)
            return fail
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            pfd = os.pidfd_open(pid)
        except (OSError, ValueError) as e:
            self.sp.run(self.oci(rt, "delete", "--force", cid), timeout=30)
            return f"pid file: {e}"
        try:
            fail = step("start", self.oci(rt, "start", cid))
            if not fail:
                t0 = time.perf_counter()
                p = select.poll()
                p.register(pfd, select.POLLIN)
                if not p.poll(30000):
                    fail = "wait: the program did not exit within 30 s"
                steps["wait"] = (time.perf_counter() - t0) * 1000
        finally:
            os.close(pfd)
        try:
            os.waitpid(pid, 0)  # ours through the subreaper, as an engine's would be its
        except ChildProcessError:
            pass
        if fail:
            self.sp.run(self.oci(rt, "delete", "--force", cid), timeout=30)
            return fail
        fail = step("delete", self.oci(rt, "delete", cid))
        if fail:
            return fail
        for k, v in steps.items():
            timings[k].append(v)
        timings["create_start_delete"].append(steps["create"] + steps["start"] + steps["delete"])
        timings["total"].append(sum(steps.values()))
        return None

    def sec_lifecycle(self):
        res, fails = {}, {rt: [] for rt in OCI}
        timings = {rt: collections.defaultdict(list) for rt in OCI}
        n = 0
        # Interleaved, runtime after runtime: a drift of the machine hits them alike.
        for i in range(self.p["lc_warmup"] + self.p["lc_iters"]):
            for rt in OCI:
                n += 1
                sink = timings[rt] if i >= self.p["lc_warmup"] else collections.defaultdict(list)
                f = self.lifecycle_once(rt, self.new_id(rt, f"lc-{rt}-{i}"), sink)
                if f:
                    fails[rt].append(f)
        for rt in OCI:
            res[rt] = {k: stats(v) for k, v in timings[rt].items()}
            res[rt]["failures"] = len(fails[rt])
            if fails[rt]:
                res[rt]["errors"] = fails[rt][:5]
                self.failures.append(f"lifecycle {rt}: {len(fails[rt])} failed: {fails[rt][0]}")
        return {"iterations": self.p["lc_iters"], "warmup": self.p["lc_warmup"],
                "steps": ["create", "start", "wait", "delete"], "results": res,
                "ratio_to_crun": {rt: {k: ratio(res[rt].get(k), res["crun"].get(k))
                                       for k in ("create", "start", "wait", "delete", "create_start_delete", "total")}
                                  for rt in OCI}}

    def sec_podman(self):
        if not self.optional["podman"]:
            return {"skipped": "podman not installed"}
        tar = os.path.join(self.tmp, "image.tar")
        self.sh(["tar", "-C", self.image, "--numeric-owner", "-cf", tar, "."], check=True)
        name = f"localhost/{self.prefix}-bench:latest"
        self.image_name = name
        self.sh(["podman", "import", tar, name], timeout=180, check=True)
        cmds = []
        for net, extra in (("default", []), ("none", ["--network", "none"])):
            for rt in OCI:
                cmds.append((f"{rt}/{net}", ["podman", "--runtime", self.bins[rt], "run", "--rm",
                                             "--label", f"{LABEL_KEY}={self.prefix}", *self.ulimits, *extra,
                                             name, PROGRAM]))
        res = self.hyperfine("podman", cmds, self.p["podman_runs"], self.p["podman_warmup"], rounds=self.p["rounds"],
                             keep_times=True)
        out = {rt: {net: res[f"{rt}/{net}"] for net in ("default", "none")} for rt in OCI}
        return {"image": name, "runs": self.p["podman_runs"], "warmup": self.p["podman_warmup"],
                "networks": {"default": "podman's default network (netavark bridge, rootful)",
                             "none": "--network none"},
                "results": out,
                "ratio_to_crun": {rt: {net: ratio(out[rt][net], out["crun"][net]) for net in out[rt]} for rt in OCI},
                # Per run, podman and conmon cost some 150-350 ms against the runtime's few: "no
                # slower than crun" is judged against that noise (report.targets).
                "slower_than_crun_p": {rt: {net: slower_p(out[rt][net].get("times_ms", []), out["crun"][net].get("times_ms", []))
                                            for net in out[rt]} for rt in OCI if rt != "crun"}}

    def timed(self, argv, tag):
        """/usr/bin/time -f '%M %e %U %S' around argv: (status, peak RSS KiB, user ms, sys ms)."""
        f = os.path.join(self.tmp, "err", f"time-{tag}.txt")
        st, _, _ = self.sp.run(["/usr/bin/time", "-f", "%M %e %U %S", "-o", f] + argv, timeout=60)
        try:
            with open(f) as fh:
                last = fh.read().strip().splitlines()[-1].split()
            return st, int(last[0]), float(last[2]) * 1000, float(last[3]) * 1000
        except (OSError, IndexError, ValueError):
            return st, None, None, None

    def sec_rss(self):
        """Peak RSS (/usr/bin/time -f %M: the runtime process and whatever it waited for) of
        `run`, and of each lifecycle step of the OCI runtimes; CPU time per run alongside."""
        res, fails = {}, []
        cmds = {"floor": ["unshare", "-Urmnpfiu", "--mount-proc", "true"]}
        if self.optional["bwrap"]:
            cmds["bwrap"] = self.bwrap_argv()
        for rt in OCI:
            cmds[rt] = None
        for key in cmds:
            kb, user, sysm = [], [], []
            for i in range(self.p["rss_runs"]):
                argv = cmds[key] or self.oci(key, "run", "--bundle", self.base[key], self.new_id(key, f"rss-{key}"))
                st, m, u, s = self.timed(argv, f"{key}-{i}")
                if st != 0:
                    fails.append(f"{key} run exit {st}")
                    continue
                kb.append(m)
                user.append(u)
                sysm.append(s)
            res[key] = {"run": stats(kb), "user_ms": stats(user), "sys_ms": stats(sysm)}
        for rt in OCI:
            steps = collections.defaultdict(list)
            files = {}

            def wrap(step, rt=rt):
                f = os.path.join(self.tmp, "err", f"rss-{rt}-{step}-{len(steps[step])}.txt")
                files[step] = f
                return ["/usr/bin/time", "-f", "%M", "-o", f]
            for i in range(max(2, self.p["rss_runs"] // 2)):
                sink = collections.defaultdict(list)
                f = self.lifecycle_once(rt, self.new_id(rt, f"rsslc-{rt}-{i}"), sink, wrap=wrap)
                if f:
                    fails.append(f"{rt} lifecycle: {f}")
                    continue
                for step in ("create", "start", "delete"):
                    try:
                        with open(files[step]) as fh:
                            steps[step].append(int(fh.read().split()[-1]))
                    except (OSError, IndexError, ValueError, KeyError):
                        pass
            for step in ("create", "start", "delete"):
                res[rt][step] = stats(steps[step])
        for f in fails:
            self.failures.append(f"rss: {f}")
        return {"unit": "KiB", "runs": self.p["rss_runs"], "method": "/usr/bin/time -f %M (ru_maxrss from wait4)",
                "results": res, "failures": len(fails),
                "ratio_to_crun": {k: ratio(v["run"], res["crun"]["run"]) for k, v in res.items()}}

    def sec_binds(self):
        sizes = self.p["binds"]
        res = {rt: {} for rt in OCI}
        for n in sizes:
            cmds = []
            for rt in OCI:
                b = self.bundle(rt, f"binds-{n}", binds=n)
                cmds.append((f"{rt}/{n}", self.oci(rt, "run", "--bundle", b, self.new_id(rt, f"binds-{rt}-{n}"))))
            r = self.hyperfine(f"binds-{n}", cmds, self.p["bind_runs"][n], self.p["bind_warmup"])
            for rt in OCI:
                res[rt][str(n)] = r[f"{rt}/{n}"]
            for rt in OCI:
                shutil.rmtree(os.path.join(self.tmp, "bundles", rt, f"binds-{n}"), ignore_errors=True)
        fit = {rt: linear_fit(sizes, [res[rt][str(n)].get("median") for n in sizes]) for rt in OCI}
        return {"sizes": sizes, "bind": {"type": "bind", "options": ["bind", "ro"], "source": "a host directory each"},
                "results": res, "fit": fit,
                "ratio_to_crun": {rt: {str(n): ratio(res[rt][str(n)], res["crun"][str(n)]) for n in sizes} for rt in OCI}}

    def batch(self, rt, n, rnd):
        """n `run`s started at once; (wall ms, [latency ms], failures, first error)."""
        bundle = self.base[rt]
        procs = {}
        t0 = time.perf_counter()
        for i in range(n):
            cid = self.new_id(rt, f"conc-{rt}-{n}-{rnd}-{i}")
            pid, err = self.sp.spawn(self.oci(rt, "run", "--bundle", bundle, cid))
            procs[pid] = (time.perf_counter(), os.pidfd_open(pid), err)
        lat, fails, first = [], 0, None
        poller = select.poll()
        byfd = {}
        for pid, (_, fd, _) in procs.items():
            poller.register(fd, select.POLLIN)
            byfd[fd] = pid
        deadline = time.monotonic() + 120
        while byfd:
            ready = poller.poll(max(0, (deadline - time.monotonic())) * 1000)
            if not ready:
                for fd, pid in list(byfd.items()):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    os.close(fd)
                    fails += 1
                    first = first or "timeout after 120 s"
                byfd.clear()
                break
            now = time.perf_counter()
            for fd, _ in ready:
                pid = byfd.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, st = os.waitpid(pid, 0)
                start, _, err = procs[pid]
                lat.append((now - start) * 1000)
                if os.waitstatus_to_exitcode(st) != 0:
                    fails += 1
                    first = first or f"exit {os.waitstatus_to_exitcode(st)}: {tail(err)}"
        wall = (time.perf_counter() - t0) * 1000
        return wall, lat, fails, first

    def sec_concurrency(self):
        levels, res = self.p["conc"], {rt: {} for rt in OCI}
        for n in levels:
            for rt in OCI:
                walls, lats, fails, errs = [], [], 0, []
                for rnd in range(self.p["conc_rounds"]):
                    w, l, f, e = self.batch(rt, n, rnd)
                    walls.append(w)
                    lats += l
                    fails += f
                    if e:
                        errs.append(e)
                self.reap()
                res[rt][str(n)] = {"batch_wall_ms": stats(walls), "time_per_void_ms": stats([w / n for w in walls]),
                                   "latency_ms": stats(lats), "failures": fails, "voids": n * self.p["conc_rounds"]}
                if fails:
                    res[rt][str(n)]["errors"] = errs[:3]
                    self.failures.append(f"concurrency {rt} x{n}: {fails} failed: {errs[0] if errs else ''}")
        return {"levels": levels, "rounds": self.p["conc_rounds"],
                "method": "n `run`s spawned back to back, each waited for through a pidfd; time per void = batch wall / n",
                "results": res,
                "ratio_to_crun": {rt: {str(n): ratio(res[rt][str(n)]["time_per_void_ms"], res["crun"][str(n)]["time_per_void_ms"])
                                       for n in levels} for rt in OCI}}

    def sec_phases(self):
        rt = "voidoci"
        bundle = os.path.realpath(self.base[rt])
        rootfs = os.path.join(bundle, "rootfs")
        out = {"program": PROGRAM, "bundle": "the run section's voidoci bundle"}
        sdir = os.path.join(self.raw, "strace")
        os.makedirs(sdir, exist_ok=True)
        light_extra = ["--seccomp-bpf", "-e", "trace=" + ",".join(phaselib.LIGHT_SYSCALLS)]
        none_extra = ["--seccomp-bpf", "-e", "trace=none"]

        def once(kind, i, extra):
            """(derived phases or None, outer wall ms) of one `voidoci run`, traced or not."""
            cid = self.new_id(rt, f"ph-{kind}-{i}")
            argv = self.oci(rt, "run", "--bundle", bundle, cid)
            f = os.path.join(sdir, f"{kind}-{i}.txt")
            if extra is not None:
                argv = ["strace", "-f", "-ttt", "-T", *extra, "-o", f] + argv
            st, secs, err = self.sp.run(argv, timeout=60)
            if st != 0:
                self.failures.append(f"phases: {kind} voidoci run exit {st}: {tail(err)}")
                return None, None
            if extra is None or "trace=none" in extra:
                return None, secs * 1000
            with open(f) as fh:
                return phaselib.derive(fh.read(), bundle, rootfs, PROGRAM), secs * 1000

        # Interleaved: untraced, traced with no syscall followed (the tracer's fixed cost: attach,
        # following clone3 and execve), light. Their outer wall times calibrate the estimate.
        n = self.p["strace_light"]
        untraced, none, light, light_outer = [], [], [], []
        for i in range(n):
            untraced.append(once("untraced", i, None)[1])
            none.append(once("none", i, none_extra)[1])
            d, w = once("light", i, light_extra)
            if d and "phases" in d:
                light.append(d)
                light_outer.append(w)
        full = [d for d in (once("full", i, [])[0] for i in range(self.p["strace_full"])) if d and "phases" in d]
        out["full"] = phaselib.aggregate(full)
        out["full"]["command"] = "strace -f -ttt -T"
        out["light"] = phaselib.aggregate(light)
        out["light"]["command"] = "strace -f -ttt -T --seccomp-bpf -e trace=" + ",".join(phaselib.LIGHT_SYSCALLS)
        # How much tracing itself stretches a run (outer wall, interleaved runs): read the strace
        # phases as shares and orders of magnitude, the untraced anchors below as absolute times.
        out["wall_ms"] = {"untraced": stats(untraced), "strace_trace_none": stats(none), "strace_light": stats(light_outer)}
        # Untraced anchors: what the tracer cannot distort. `--version` is exec + dynamic linking +
        # runtime init + argument parsing; `explain` adds decode, plan and the ELF closure (no
        # state, no cgroup, no clone); `run` is everything.
        cmds = [("voidoci --version", [self.bins[rt], "--version"]),
                ("voidoci explain", [self.bins[rt], "explain", "--format", "json", bundle]),
                ("voidoci run", self.oci(rt, "run", "--bundle", bundle, self.new_id(rt, "anchor-run"))),
                ("crun --version", [self.bins["crun"], "--version"]),
                ("runc --version", [self.bins["runc"], "--version"])]
        a = self.hyperfine("anchors", cmds, self.p["anchor_runs"], 3)
        med = {k: v.get("median") for k, v in a.items()}
        out["anchors"] = {"results": a, "derived_ms": {
            "startup (voidoci --version)": med["voidoci --version"],
            "decode + plan + ELF closure (explain - version)":
                round(med["voidoci explain"] - med["voidoci --version"], 3),
            "state, cgroups, clone, mounts, exec, teardown (run - explain)":
                round(med["voidoci run"] - med["voidoci explain"], 3)}}
        out["cgroup_attach"] = self.cgroup_attach_probe(self.p["cgroup_probes"])
        v, e, r = med["voidoci --version"], med["voidoci explain"], med["voidoci run"]
        if None not in (v, e, r):
            parts = [("startup: exec, dynamic linking, Swift runtime, arguments (voidoci --version)",
                      "startup (--version)", v),
                     ("decode + plan + ELF closure, and the JSON output (explain - version)",
                      "decode + plan + ELF closure (explain − version)", e - v)]
            # voidoci joins cgroups through `tasks` and CLONE_INTO_CGROUP, which do not wait for
            # the grace period the probe shows (crun and runc do): nothing to take out of `run`.
            parts.append(("the rest of run: state dir, cgroup set-up and join, clone3, mounts, exec, teardown "
                          "(run - explain)", "rest: state, cgroups, clone3, mounts, exec, teardown", r - e))
            out["untraced_breakdown"] = {
                "total_ms": r, "parts": [{"part": k, "short": sh, "ms": round(max(0.0, x), 3)} for k, sh, x in parts],
                "note": "medians of separate untraced measurements; differences of medians, so approximate"}
        # strace -c: syscall totals of each runtime's `run` (the median run by time of a few).
        out["strace_c"] = {}
        for r in OCI:
            runs = []
            for i in range(self.p["strace_c"]):
                f = os.path.join(sdir, f"c-{r}-{i}.txt")
                st, _, err = self.sp.run(["strace", "-c", "-f", "-o", f] +
                                         self.oci(r, "run", "--bundle", self.base[r], self.new_id(r, f"sc-{r}-{i}")),
                                         timeout=60)
                if st == 0:
                    with open(f) as fh:
                        runs.append(phaselib.strace_summary(fh.read()))
                else:
                    self.failures.append(f"phases: strace -c {r} run exit {st}: {tail(err)}")
            if runs:
                runs.sort(key=lambda s: s["total_seconds"])
                s = runs[len(runs) // 2]
                s["syscalls"] = s["syscalls"][:15]
                s["runs"] = len(runs)
                s["total_calls_median"] = int(statistics.median(x["total_calls"] for x in runs))
                out["strace_c"][r] = s
        out["perf"] = self.perf_profile(bundle) if self.optional["perf"] else {"skipped": "perf not installed (Debian: linux-perf)"}
        return out

    def cgroup_attach_probe(self, n):
        """The kernel's price for moving a process into a cgroup, untraced: a sleeping child is
        written into a fresh cgroup.procs, after 100 ms of quiet each time (on cgroup v1 the
        first writer waits for an RCU grace period; writers shortly after one another do not).
        In the `pids` hierarchy (v1) or the unified one; the cgroup is removed afterwards."""
        base = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
        d = os.path.join(base, f"{self.prefix}-attach")
        try:
            os.mkdir(d)
        except OSError as e:
            return {"skipped": f"cannot create {d}: {e}"}
        first, second, thread = [], [], []
        child = None
        own = "/"
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3 and (parts[1] == "pids" if base.endswith("/pids") else parts[1] == ""):
                    own = parts[2]
        try:
            for _ in range(n):
                child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
                time.sleep(0.1)
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    t0 = time.perf_counter()
                    f.write(str(child.pid))
                    f.flush()
                    first.append((time.perf_counter() - t0) * 1000)
                other = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    t0 = time.perf_counter()
                    f.write(str(other.pid))
                    f.flush()
                    second.append((time.perf_counter() - t0) * 1000)
                for p in (child, other):
                    p.kill()
                    p.wait()
                child = None
                # What voidoci does instead: move only the calling thread, through `tasks`
                # (cgroup v1; no threadgroup lock, so no grace period), and back.
                if base.endswith("/pids"):
                    time.sleep(0.1)
                    fd = os.open(os.path.join(d, "tasks"), os.O_WRONLY)
                    t0 = time.perf_counter()
                    os.write(fd, b"0")
                    thread.append((time.perf_counter() - t0) * 1000)
                    os.close(fd)
                    fd = os.open(os.path.join(base + own.rstrip("/"), "tasks"), os.O_WRONLY)
                    os.write(fd, b"0")
                    os.close(fd)
        except OSError as e:
            return {"error": f"writing {d}/cgroup.procs: {e}"}
        finally:
            if child:
                child.kill()
                child.wait()
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)
        out = {"hierarchy": base, "first_write_ms": stats(first), "immediately_after_ms": stats(second),
               "note": "writing a pid into cgroup.procs after 100 ms of quiet, then a second one at once"}
        if thread:
            out["own_thread_via_tasks_ms"] = stats(thread)
            out["note"] += "; own_thread_via_tasks: the caller's thread written as 0 into tasks after 100 ms of quiet (what voidoci does)"
        return out

    def perf_profile(self, bundle):
        """Where voidoci's CPU time goes: perf record (cpu-clock, frame-pointer call graphs) over
        many `voidoci run`s; user/kernel split, top symbols self and inclusive, user time by
        module (the Swift module from the mangled name, else the shared object)."""
        data = os.path.join(self.tmp, "perf.data")
        n = self.p["perf_runs"]
        ids = [self.new_id("voidoci", f"perf-{i}") for i in range(n)]
        script = "; ".join(shlex.join(self.oci("voidoci", "run", "--bundle", bundle, c)) + " || exit 1" for c in ids)
        t0 = time.perf_counter()
        r = self.sh(["perf", "record", "-q", "-F", "10000", "-e", "cpu-clock", "-g", "-o", data, "--", "sh", "-c", script],
                    timeout=600)
        wall = (time.perf_counter() - t0) * 1000 / max(1, n)
        if r.returncode != 0:
            return {"error": f"perf record failed ({r.returncode}): {r.stderr.strip()[-300:]}"}

        def rep(*args):
            return self.sh(["perf", "report", "-i", data, "--stdio", "--comm", "voidoci", "-g", "none",
                            "--percentage", "relative", *args], timeout=300).stdout

        self_txt = rep("--no-children", "-n", "--sort", "dso,sym")
        incl_txt = rep("--children", "--sort", "dso,sym", "--percent-limit", "2")
        try:
            os.unlink(data)
        except OSError:
            pass
        rows, total, kernel = [], 0, 0
        modules = collections.Counter()
        for line in self_txt.splitlines():
            m = re.match(r"^\s+([\d.]+)%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$", line)
            if not m:
                continue
            smp, dso, k, sym = int(m.group(2)), m.group(3), m.group(4) == "k", m.group(5)
            total += smp
            if k:
                kernel += smp
            else:
                modules[module_of(sym, dso)] += smp
            rows.append({"samples": smp, "dso": dso, "kernel": k, "symbol": sym})
        incl = []
        for line in incl_txt.splitlines():
            m = re.match(r"^\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$", line)
            if m and not m.group(5).startswith("0x"):
                incl.append({"children_percent": float(m.group(1)), "self_percent": float(m.group(2)),
                             "dso": m.group(3), "kernel": m.group(4) == "k", "symbol": m.group(5)})
        top = rows[:30]
        names = demangle([x["symbol"] for x in top] + [x["symbol"] for x in incl])
        for x, nm in zip(top + incl, names):
            x["symbol"] = nm[:200]
        pct = (lambda v: round(100 * v / total, 2)) if total else (lambda v: 0.0)
        for x in top:
            x["percent"] = pct(x.pop("samples"))
        with open(os.path.join(self.raw, "perf-self.txt"), "w") as f:
            f.write(self_txt)
        with open(os.path.join(self.raw, "perf-children.txt"), "w") as f:
            f.write(incl_txt)
        return {"runs": n, "frequency_hz": 10000, "samples": total, "event": "cpu-clock",
                "wall_ms_per_run_under_perf": round(wall, 3),
                "cpu_ms_per_run": round(total / 10000 * 1000 / max(1, n), 3),
                "kernel_percent": pct(kernel), "user_percent": pct(total - kernel),
                "user_by_module": [{"module": k, "percent": pct(v)} for k, v in modules.most_common(10)],
                "top_self": top,
                "top_inclusive_user": [x for x in incl if not x["kernel"]][:20],
                "top_inclusive_kernel": [x for x in incl if x["kernel"]][:12]}

    # --- driver ----------------------------------------------------------------------------------

    def section(self, name, fn, *args):
        if self.a.only and name not in self.a.only:
            self.results[name] = {"skipped": "not selected (--only)"}
            return
        log(f"{name} ...")
        t0 = time.monotonic()
        try:
            self.results[name] = fn(*args)
        except Exception as e:  # a broken section must not stop the others
            self.results[name] = {"error": f"{type(e).__name__}: {e}"}
            self.failures.append(f"{name}: {type(e).__name__}: {e}")
            log(traceback.format_exc().rstrip())
        self.results[name]["seconds"] = round(time.monotonic() - t0, 1)
        self.results.setdefault("host_state", {"after": {}})["after"][name] = self.check_host(name)
        log(f"{name} done in {self.results[name]['seconds']} s")

    def main(self):
        t0 = time.monotonic()
        self.results["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.tools()
        os.makedirs(self.raw, exist_ok=True)
        become_subreaper()
        self.results["setup"] = {"actions": self.crun_host()}
        self.results["machine"] = self.machine()
        self.results["params"] = {k: v for k, v in self.p.items()}
        self.results["params"]["bind_runs"] = {str(k): v for k, v in self.p["bind_runs"].items()}
        self.setup()
        self.results["host_state"] = {"after": {}}
        self.section("run", self.sec_run)
        self.section("lifecycle", self.sec_lifecycle)
        self.section("podman", self.sec_podman)
        self.section("rss", self.sec_rss)
        self.section("binds", self.sec_binds)
        self.section("concurrency", self.sec_concurrency)
        self.section("phases", self.sec_phases)
        self.results["machine"]["loadavg_end"] = os.getloadavg()
        self.results["duration_s"] = round(time.monotonic() - t0, 1)

    def cleanup(self):
        """Everything this run made, whatever happened: containers of every runtime, the podman
        image and containers, processes, mounts under the temp dir, the temp dir. Then the final
        host check."""
        for p in list(self.running):
            self.kill_group(p)
        if self.tmp:
            for rt in OCI:
                if rt not in self.bins:
                    continue
                for cid in sorted(state_entries(self.state_root(rt))):
                    self.sh(self.oci(rt, "delete", "--force", cid), timeout=30)
        if getattr(self, "optional", {}).get("podman"):
            r = self.sh(["podman", "ps", "-a", "-q", "--filter", f"label={LABEL_KEY}={self.prefix}"], timeout=60)
            if r.stdout.split():
                self.sh(["podman", "rm", "-f", "-t", "0", *r.stdout.split()], timeout=120)
            if self.image_name:
                self.sh(["podman", "rmi", "-f", self.image_name], timeout=120)
                left = self.sh(["podman", "image", "exists", self.image_name], timeout=60)
                if left.returncode == 0:
                    self.failures.append(f"podman image {self.image_name} could not be removed")
        # What the deleted containers and podman leave exiting (conmon, inits) gets a moment to
        # go before anything still alive is called a leak.
        deadline = time.monotonic() + 5
        while children_alive() and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        final = None
        if self.baseline is not None:
            final = self.check_host("cleanup")
        if self.tmp:
            stray = [l.split()[4] for l in open("/proc/self/mountinfo") if self.tmp in l.split()[4]]
            for mp in sorted(stray, key=len, reverse=True):
                self.sh(["umount", "-l", mp])
            shutil.rmtree(self.tmp, ignore_errors=True)
            if os.path.exists(self.tmp):
                self.failures.append(f"temp dir {self.tmp} could not be removed")
        if final is not None:
            final["temp_dir_removed"] = not os.path.exists(self.tmp)
            hs = self.results.setdefault("host_state", {"after": {}})
            hs["final"] = final
            hs["clean"] = all(v["clean"] for v in hs["after"].values()) and final["clean"] and final["temp_dir_removed"]


def get_median(d, key):
    v = (d or {}).get(key) or {}
    return v.get("median") if v.get("n") else None


def linear_fit(xs, ys):
    """Least squares t = a + b·n over the sizes, R², and the per-bind cost in the low (1→100) and
    high (100→1000) ranges: their ratio ("superlinearity") is ~1 for linear growth."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in pts)
    d = dict(pts)
    low = (d[100] - d[1]) / 99 if 1 in d and 100 in d else None
    high = (d[1000] - d[100]) / 900 if 100 in d and 1000 in d else None
    sup = round(high / low, 3) if low and high and low > 0 else None
    return {"intercept_ms": round(a, 3), "per_bind_ms": round(b, 5),
            "r2": round(1 - ss_res / ss_tot, 5) if ss_tot else None,
            "per_bind_ms_low": round(low, 5) if low is not None else None,
            "per_bind_ms_high": round(high, 5) if high is not None else None,
            "superlinearity": sup}


def module_of(sym, dso):
    """The module a user-space sample belongs to: for a Swift symbol in voidoci the module in its
    mangled name ($s10VoidEngine... → VoidEngine; standard-library substitutions → Swift), the
    Swift runtime's C++ (swift_*), else what is left in the binary, or the shared object."""
    if dso and "voidoci" not in dso:
        return dso
    m = re.match(r"^\$s(\d+)([A-Za-z_]\w*)", sym)
    if m:
        return m.group(2)[: int(m.group(1))]
    if sym.startswith("$sS") or sym.startswith("$ss"):
        return "Swift"
    if sym.startswith("swift") or sym.startswith("_swift") or sym.startswith("swift::") or "swift::" in sym:
        return "Swift runtime"
    return "other code in voidoci (C, CVoid, libseccomp)"


def demangle(names):
    """Swift symbols made readable (swift-demangle --simplified), order kept; unchanged without it."""
    tool = shutil.which("swift-demangle", path=PATH + ":/opt/swift/usr/bin")
    if not tool or not names:
        return names
    r = subprocess.run([tool, "--simplified"], input="\n".join(n.replace("\n", " ") for n in names) + "\n",
                       capture_output=True, text=True)
    out = r.stdout.split("\n")
    return out[: len(names)] if r.returncode == 0 and len(out) >= len(names) else names


def report_only(path, no_publish):
    with open(path) as f:
        R = json.load(f)
    R["targets"] = report.targets(R)
    report.write_json(R, path)
    out = os.path.dirname(os.path.abspath(path))
    report.write_rendered(R, out)
    if R.get("mode") == "full" and out == os.path.join(BENCH, "out") and not no_publish:
        report.publish(out)
        log("published bench/results.md and bench/chart.svg")
    print(report.summary(R))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a handful of runs per measurement, tiny sizes (< 60 s)")
    ap.add_argument("--out", help="output directory (default bench/out; --smoke: bench/out/smoke)")
    ap.add_argument("--voidoci", default=os.environ.get("VOIDOCI_BIN") or "/usr/local/bin/voidoci",
                    help="the voidoci binary (default $VOIDOCI_BIN, else /usr/local/bin/voidoci)")
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--no-publish", action="store_true",
                    help="full run: do not write bench/results.md and bench/chart.svg")
    ap.add_argument("--report-only", metavar="JSON",
                    help="measure nothing: re-render results.md and chart.svg (next to JSON, and published "
                         "if JSON is a full run's bench/out/results.json) from an existing results.json")
    a = ap.parse_args()
    if a.report_only:
        return report_only(a.report_only, a.no_publish)
    if a.only:
        a.only = set(a.only.split(","))
        unknown = a.only - set(SECTIONS)
        if unknown:
            log(f"unknown section(s): {', '.join(sorted(unknown))}")
            return 2
    if a.out is None:
        a.out = os.path.join(BENCH, "out", "smoke") if a.smoke else os.path.join(BENCH, "out")
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    if os.geteuid() != 0:
        log("must run as root (crun and runc run rootful containers; podman rootful)")
        return 2

    suite = Suite(a)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, interrupted)

    status = 0
    try:
        suite.main()
    except SetupError as e:
        log(f"set-up: {e}")
        suite.results["setup_error"] = str(e)
        status = 2
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): cleaning up")
        suite.failures.append(f"interrupted: {e}")
        status = 1
    except Exception as e:
        log(traceback.format_exc().rstrip())
        suite.failures.append(f"harness: {type(e).__name__}: {e}")
        status = 1
    finally:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        suite.cleanup()

    R = suite.results
    R["sections"] = SECTIONS
    R["targets"] = report.targets(R) if status != 2 else []
    R["failures"] = suite.failures
    if status == 0 and suite.failures:
        status = 1
    R["status"] = status
    report.write_json(R, os.path.join(a.out, "results.json"))
    if status != 2:
        report.write_rendered(R, a.out)
        if not a.smoke and not a.no_publish and not a.only:
            report.publish(a.out)
            log(f"published {os.path.join(BENCH, 'results.md')} and {os.path.join(BENCH, 'chart.svg')}")
        print(report.summary(R))
    log(f"results: {os.path.join(a.out, 'results.json')}")
    for f in suite.failures:
        log("FAIL: " + f)
    return status


if __name__ == "__main__":
    sys.exit(main())

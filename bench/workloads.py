"""What is measured: the sizes of a full and a smoke run, the image and the one config.json every
runtime gets (each its own copy), and the sections run, lifecycle, podman, rss, binds and
concurrency (the phases section is in inside.py)."""

import collections
import json
import os
import shutil

from hostsetup import REPO, SetupError
from procs import PATH, reap, sh, tail
from runners import FLOOR, OCI
from stats import linear_fit, ratio, slower_p, stats

MAKE_ROOTFS = os.path.join(REPO, "scripts", "make-rootfs.sh")
PROGRAM = "/bin/true"

FULL = dict(run_runs=200, run_warmup=10, rounds=4, lc_iters=60, lc_warmup=3, podman_runs=40, podman_warmup=3,
            rss_runs=20, binds=[1, 10, 100, 1000], bind_runs={1: 40, 10: 40, 100: 30, 1000: 15},
            bind_warmup=2, conc=[1, 10, 50], conc_rounds=8, strace_full=5, strace_light=20,
            strace_c=3, perf_runs=150, anchor_runs=100, cgroup_probes=20, accept_conns=400,
            profile_runs=10, profile_programs=3)
SMOKE = dict(run_runs=3, run_warmup=1, rounds=1, lc_iters=3, lc_warmup=1, podman_runs=2, podman_warmup=0,
             rss_runs=2, binds=[1, 10], bind_runs={1: 2, 10: 2}, bind_warmup=0, conc=[1, 3],
             conc_rounds=1, strace_full=1, strace_light=1, strace_c=1, perf_runs=3, anchor_runs=3, cgroup_probes=2,
             accept_conns=16, profile_runs=1, profile_programs=1)
LC_STEPS = ("create", "start", "wait", "delete", "create_start_delete", "total")


def config(bindsrc, binds=0):
    """The one config.json every runtime gets: /bin/true, proc and /dev mounts (runc and crun
    need them; voidoci drops what it does not grant), the usual namespaces; plus N binds."""
    mounts = [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
              {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}]
    for i in range(binds):
        mounts.append({"destination": f"/b/{i}", "type": "bind", "source": os.path.join(bindsrc, str(i)),
                       "options": ["bind", "ro"]})
    return {"ociVersion": "1.0.2",
            "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": [PROGRAM],
                        "env": [f"PATH={PATH}"], "cwd": "/"},
            "root": {"path": "rootfs"}, "hostname": "bench", "mounts": mounts,
            "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]}}


def drop_cached(programs):
    """Each program and the shared libraries it loads, written back and dropped from the page
    cache (posix_fadvise DONTNEED; pages a running process maps stay), so that every contender's
    first run reads its files from disk. A file just written (voidoci by build.sh) sits in the
    cache in the large folios its writer made, a file read from disk in the folios readahead made,
    and a page fault maps the whole folio: without this, peak RSS would measure how recently each
    binary was written, by up to 1 MiB (bench/README.md, "Peak RSS")."""
    files = []
    for prog in programs:
        path = shutil.which(prog) or prog
        if not os.path.isfile(path) or path in files:
            continue
        files.append(path)
        r = sh(["ldd", path], timeout=30)
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            lib = line.split("=>")[-1].split("(")[0].strip()
            if lib.startswith("/") and os.path.isfile(lib) and lib not in files:
                files.append(lib)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return files


class Workloads:
    """The measurements of one run, on the runtimes of rn (runners.Runners) with the sizes of p."""

    def __init__(self, p, rn, failures):
        self.p = p
        self.rn = rn
        self.failures = failures
        self.tmp = None
        self.image = None
        self.bindsrc = None
        self.base = {}
        self.bwrap_bundle = None
        self.image_name = None  # the podman image, removed at clean-up

    # --- the bundle ------------------------------------------------------------------------------

    def prepare(self, tmp):
        """The image (scripts/make-rootfs.sh: the program, its libraries, the loader), the bind
        sources, a base bundle per OCI runtime; then crun must run it: every ratio is to crun."""
        self.tmp = tmp
        self.image = os.path.join(tmp, "image")
        r = sh(["bash", MAKE_ROOTFS, self.image, "--host", os.path.basename(PROGRAM)], timeout=120)
        if r.returncode != 0:
            raise SetupError(f"make-rootfs.sh failed: {r.stderr.strip()[-500:]}")
        for mp in ("proc", "dev"):  # mount points runc and crun need; the same image for everyone
            os.makedirs(os.path.join(self.image, mp), exist_ok=True)
        self.bindsrc = os.path.join(tmp, "bindsrc")
        os.makedirs(self.bindsrc)
        for i in range(max(self.p["binds"])):
            os.mkdir(os.path.join(self.bindsrc, str(i)))
        self.base = {rt: self.bundle(rt, "base") for rt in OCI}
        st, _, err = self.rn.sp.run(self.rn.run_argv("crun", self.base["crun"], "probe"), timeout=30)
        if st != 0:
            raise SetupError(f"crun cannot run a container on this host (exit {st}): {tail(err)}")

    def bundle(self, rt, name, binds=0):
        """A private copy for one runtime: config.json and a cp -a of the image."""
        d = os.path.join(self.tmp, "bundles", rt, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config(self.bindsrc, binds), f, indent=1)
        sh(["cp", "-a", self.image, os.path.join(d, "rootfs")], check=True)
        return d

    def bwrap_argv(self):
        if not self.bwrap_bundle:
            self.bwrap_bundle = self.bundle("bwrap", "base")
        return self.rn.bwrap_argv(self.bwrap_bundle, PROGRAM)

    # --- sections --------------------------------------------------------------------------------

    def run(self):
        cmds = [("floor", FLOOR)]
        notes = {}
        if self.rn.optional["bwrap"]:
            cmds.append(("bwrap", self.bwrap_argv()))
        else:
            notes["bwrap"] = "skipped: bwrap not installed"
        for rt in OCI:
            cmds.append((rt, self.rn.run_argv(rt, self.base[rt], f"run-{rt}")))
        res = self.rn.hyperfine("run", cmds, self.p["run_runs"], self.p["run_warmup"], rounds=self.p["rounds"])
        notes["bwrap_binds_from"] = self.rn.bwrap_source
        return {"program": PROGRAM, "runs": self.p["run_runs"], "warmup": self.p["run_warmup"], "results": res,
                "ratio_to_crun": {k: ratio(v, res["crun"]) for k, v in res.items()}, "notes": notes}

    def lifecycle(self):
        res, fails = {}, {rt: [] for rt in OCI}
        timings = {rt: collections.defaultdict(list) for rt in OCI}
        # Interleaved, runtime after runtime: a drift of the machine hits them alike.
        for i in range(self.p["lc_warmup"] + self.p["lc_iters"]):
            for rt in OCI:
                sink = timings[rt] if i >= self.p["lc_warmup"] else collections.defaultdict(list)
                f = self.rn.lifecycle_once(rt, self.base[rt], self.rn.new_id(f"lc-{rt}-{i}"), sink)
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
                "ratio_to_crun": {rt: {k: ratio(res[rt].get(k), res["crun"].get(k)) for k in LC_STEPS}
                                  for rt in OCI}}

    def podman(self):
        if not self.rn.optional["podman"]:
            return {"skipped": "podman not installed"}
        tar = os.path.join(self.tmp, "image.tar")
        sh(["tar", "-C", self.image, "--numeric-owner", "-cf", tar, "."], check=True)
        name = f"localhost/{self.rn.prefix}-bench:latest"
        self.image_name = name
        sh(["podman", "import", tar, name], timeout=180, check=True)
        cmds = []
        for net, extra in (("default", []), ("none", ["--network", "none"])):
            for rt in OCI:
                cmds.append((f"{rt}/{net}", self.rn.podman_argv(rt, name, extra, PROGRAM)))
        res = self.rn.hyperfine("podman", cmds, self.p["podman_runs"], self.p["podman_warmup"],
                                rounds=self.p["rounds"], keep_times=True)
        out = {rt: {net: res[f"{rt}/{net}"] for net in ("default", "none")} for rt in OCI}
        return {"image": name, "runs": self.p["podman_runs"], "warmup": self.p["podman_warmup"],
                "networks": {"default": "podman's default network (netavark bridge, rootful)",
                             "none": "--network none"},
                "results": out,
                "ratio_to_crun": {rt: {net: ratio(out[rt][net], out["crun"][net]) for net in out[rt]} for rt in OCI},
                # Per run, podman and conmon cost some 150-350 ms against the runtime's few: "no
                # slower than crun" is judged against that noise (report.targets).
                "slower_than_crun_p": {rt: {net: slower_p(out[rt][net].get("times_ms", []),
                                                          out["crun"][net].get("times_ms", []))
                                            for net in out[rt]} for rt in OCI if rt != "crun"}}

    def rss(self):
        """Peak RSS (/usr/bin/time -f %M: the runtime process and whatever it waited for) of
        `run`, and of each lifecycle step of the OCI runtimes; CPU time per run alongside."""
        res, fails = {}, []
        cmds = {"floor": FLOOR}
        if self.rn.optional["bwrap"]:
            cmds["bwrap"] = self.bwrap_argv()
        for rt in OCI:
            cmds[rt] = None
        dropped = drop_cached([self.rn.bins[rt] for rt in OCI] + [cmds.get("bwrap", [FLOOR[0]])[0], FLOOR[0]])
        for key in cmds:
            res[key] = self._rss_run(key, cmds[key], fails)
        for rt in OCI:
            res[rt].update(self._rss_lifecycle(rt, fails))
        for f in fails:
            self.failures.append(f"rss: {f}")
        return {"unit": "KiB", "runs": self.p["rss_runs"], "method": "/usr/bin/time -f %M (ru_maxrss from wait4)",
                "page_cache_dropped": dropped,
                "results": res, "failures": len(fails),
                "ratio_to_crun": {k: ratio(v["run"], res["crun"]["run"]) for k, v in res.items()}}

    def _rss_run(self, key, argv, fails):
        kb, user, sysm = [], [], []
        for i in range(self.p["rss_runs"]):
            st, m, u, s = self.rn.timed(argv or self.rn.run_argv(key, self.base[key], f"rss-{key}"), f"{key}-{i}")
            if st != 0:
                fails.append(f"{key} run exit {st}")
                continue
            kb.append(m)
            user.append(u)
            sysm.append(s)
        return {"run": stats(kb), "user_ms": stats(user), "sys_ms": stats(sysm)}

    def _rss_lifecycle(self, rt, fails):
        """Peak RSS of create, start and delete, each step under /usr/bin/time -f %M."""
        steps = collections.defaultdict(list)
        files = {}

        def wrap(step):
            f = os.path.join(self.tmp, "err", f"rss-{rt}-{step}-{len(steps[step])}.txt")
            files[step] = f
            return ["/usr/bin/time", "-f", "%M", "-o", f]
        for i in range(max(2, self.p["rss_runs"] // 2)):
            sink = collections.defaultdict(list)
            f = self.rn.lifecycle_once(rt, self.base[rt], self.rn.new_id(f"rsslc-{rt}-{i}"), sink, wrap=wrap)
            if f:
                fails.append(f"{rt} lifecycle: {f}")
                continue
            for step in ("create", "start", "delete"):
                try:
                    with open(files[step]) as fh:
                        steps[step].append(int(fh.read().split()[-1]))
                except (OSError, IndexError, ValueError, KeyError):
                    pass
        return {step: stats(steps[step]) for step in ("create", "start", "delete")}

    def binds(self):
        sizes = self.p["binds"]
        res = {rt: {} for rt in OCI}
        for n in sizes:
            cmds = []
            for rt in OCI:
                b = self.bundle(rt, f"binds-{n}", binds=n)
                cmds.append((f"{rt}/{n}", self.rn.run_argv(rt, b, f"binds-{rt}-{n}")))
            r = self.rn.hyperfine(f"binds-{n}", cmds, self.p["bind_runs"][n], self.p["bind_warmup"])
            for rt in OCI:
                res[rt][str(n)] = r[f"{rt}/{n}"]
            for rt in OCI:
                shutil.rmtree(os.path.join(self.tmp, "bundles", rt, f"binds-{n}"), ignore_errors=True)
        fit = {rt: linear_fit(sizes, [res[rt][str(n)].get("median") for n in sizes]) for rt in OCI}
        return {"sizes": sizes, "bind": {"type": "bind", "options": ["bind", "ro"], "source": "a host directory each"},
                "results": res, "fit": fit,
                "ratio_to_crun": {rt: {str(n): ratio(res[rt][str(n)], res["crun"][str(n)]) for n in sizes} for rt in OCI}}

    def concurrency(self):
        levels, res = self.p["conc"], {rt: {} for rt in OCI}
        for n in levels:
            for rt in OCI:
                res[rt][str(n)] = self._concurrent(rt, n)
        return {"levels": levels, "rounds": self.p["conc_rounds"],
                "method": "n `run`s spawned back to back, each waited for through a pidfd; time per void = batch wall / n",
                "results": res,
                "ratio_to_crun": {rt: {str(n): ratio(res[rt][str(n)]["time_per_void_ms"],
                                                     res["crun"][str(n)]["time_per_void_ms"])
                                       for n in levels} for rt in OCI}}

    def _concurrent(self, rt, n):
        walls, lats, fails, errs = [], [], 0, []
        for rnd in range(self.p["conc_rounds"]):
            w, l, f, e = self.rn.batch(rt, self.base[rt], n, rnd)
            walls.append(w)
            lats += l
            fails += f
            if e:
                errs.append(e)
        reap()
        out = {"batch_wall_ms": stats(walls), "time_per_void_ms": stats([w / n for w in walls]),
               "latency_ms": stats(lats), "failures": fails, "voids": n * self.p["conc_rounds"]}
        if fails:
            out["errors"] = errs[:3]
            self.failures.append(f"concurrency {rt} x{n}: {fails} failed: {errs[0] if errs else ''}")
        return out

"""The phases section: where the time goes inside `voidoci run`. strace traces cut into phases
(phases.py), the same run untraced and under a tracer that stops nothing, untraced anchors
(hyperfine of --version, explain and run), the kernel's price of a cgroup join, `strace -c`
totals of every runtime, and the CPU profile (cpuprofile.py). Method: bench/README.md."""

import os
import statistics
import subprocess
import time

import cpuprofile
import phases as phaselib
from procs import tail
from runners import OCI
from stats import stats
from workloads import PROGRAM

LIGHT = ["--seccomp-bpf", "-e", "trace=" + ",".join(phaselib.LIGHT_SYSCALLS)]
NONE = ["--seccomp-bpf", "-e", "trace=none"]


def measure(w):
    """The section, from the voidoci bundle of the run section (w: workloads.Workloads)."""
    rn, p = w.rn, w.p
    bundle = os.path.realpath(w.base["voidoci"])
    out = {"program": PROGRAM, "bundle": "the run section's voidoci bundle"}
    sdir = os.path.join(rn.raw, "strace")
    os.makedirs(sdir, exist_ok=True)
    out.update(traces(w, bundle, sdir))
    a = rn.hyperfine("anchors", anchor_commands(rn, bundle), p["anchor_runs"], 3)
    med = {k: v.get("median") for k, v in a.items()}
    out["anchors"] = {"results": a, "derived_ms": {
        "startup (voidoci --version)": med["voidoci --version"],
        "decode + plan + ELF closure (explain - version)":
            round(med["voidoci explain"] - med["voidoci --version"], 3),
        "state, cgroups, clone, mounts, exec, teardown (run - explain)":
            round(med["voidoci run"] - med["voidoci explain"], 3)}}
    out["cgroup_attach"] = cgroup_attach_probe(rn.prefix, p["cgroup_probes"])
    ub = untraced_breakdown(med)
    if ub:
        out["untraced_breakdown"] = ub
    out["strace_c"] = strace_counts(w, sdir)
    out["perf"] = cpuprofile.profile(w, bundle) if rn.optional["perf"] else \
        {"skipped": "perf not installed (Debian: linux-perf)"}
    return out


def _once(w, sdir, bundle, kind, i, extra):
    """(derived phases or None, outer wall ms) of one `voidoci run`, traced (extra: strace's
    options) or not (None)."""
    rn = w.rn
    argv = rn.run_argv("voidoci", bundle, f"ph-{kind}-{i}")
    f = os.path.join(sdir, f"{kind}-{i}.txt")
    if extra is not None:
        argv = ["strace", "-f", "-ttt", "-T", *extra, "-o", f] + argv
    st, secs, err = rn.sp.run(argv, timeout=60)
    if st != 0:
        w.failures.append(f"phases: {kind} voidoci run exit {st}: {tail(err)}")
        return None, None
    if extra is None or "trace=none" in extra:
        return None, secs * 1000
    with open(f) as fh:
        return phaselib.derive(fh.read(), bundle, os.path.join(bundle, "rootfs"), PROGRAM), secs * 1000


def traces(w, bundle, sdir):
    """{"full", "light", "wall_ms"}: the phases of the full and the light trace, and how much
    tracing stretches a run."""
    # Interleaved: untraced, traced with no syscall followed (the tracer's fixed cost: attach,
    # following clone3 and execve), light. Their outer wall times calibrate the estimate.
    untraced, none, light, light_outer = [], [], [], []
    for i in range(w.p["strace_light"]):
        untraced.append(_once(w, sdir, bundle, "untraced", i, None)[1])
        none.append(_once(w, sdir, bundle, "none", i, NONE)[1])
        d, wall = _once(w, sdir, bundle, "light", i, LIGHT)
        if d and "phases" in d:
            light.append(d)
            light_outer.append(wall)
    full = [d for d in (_once(w, sdir, bundle, "full", i, [])[0] for i in range(w.p["strace_full"]))
            if d and "phases" in d]
    out = {"full": phaselib.aggregate(full), "light": phaselib.aggregate(light)}
    out["full"]["command"] = "strace -f -ttt -T"
    out["light"]["command"] = "strace -f -ttt -T --seccomp-bpf -e trace=" + ",".join(phaselib.LIGHT_SYSCALLS)
    # How much tracing itself stretches a run (outer wall, interleaved runs): read the strace
    # phases as shares and orders of magnitude, the untraced anchors below as absolute times.
    out["wall_ms"] = {"untraced": stats(untraced), "strace_trace_none": stats(none), "strace_light": stats(light_outer)}
    return out


def anchor_commands(rn, bundle):
    """Untraced anchors: what the tracer cannot distort. `--version` is exec + dynamic linking +
    runtime init + argument parsing; `explain` adds decode, plan and the ELF closure (no state,
    no cgroup, no clone); `run` is everything."""
    v = rn.bins["voidoci"]
    return [("voidoci --version", [v, "--version"]),
            ("voidoci explain", [v, "explain", "--format", "json", bundle]),
            ("voidoci run", rn.run_argv("voidoci", bundle, "anchor-run")),
            ("crun --version", [rn.bins["crun"], "--version"]),
            ("runc --version", [rn.bins["runc"], "--version"])]


def untraced_breakdown(med):
    """`voidoci run` in parts, from differences of the anchors' medians; None without them."""
    v, e, r = med["voidoci --version"], med["voidoci explain"], med["voidoci run"]
    if None in (v, e, r):
        return None
    parts = [("startup: exec, dynamic linking, Swift runtime, arguments (voidoci --version)",
              "startup (--version)", v),
             ("decode + plan + ELF closure, and the JSON output (explain - version)",
              "decode + plan + ELF closure (explain − version)", e - v)]
    # voidoci joins cgroups through `tasks` and CLONE_INTO_CGROUP, which do not wait for the
    # grace period the probe shows (crun and runc do): nothing to take out of `run`.
    parts.append(("the rest of run: state dir, cgroup set-up and join, clone3, mounts, exec, teardown "
                  "(run - explain)", "rest: state, cgroups, clone3, mounts, exec, teardown", r - e))
    return {"total_ms": r, "parts": [{"part": k, "short": sh, "ms": round(max(0.0, x), 3)} for k, sh, x in parts],
            "note": "medians of separate untraced measurements; differences of medians, so approximate"}


def strace_counts(w, sdir):
    """strace -c: syscall totals of each runtime's `run` (the median run by time of a few)."""
    rn, out = w.rn, {}
    for r in OCI:
        runs = []
        for i in range(w.p["strace_c"]):
            f = os.path.join(sdir, f"c-{r}-{i}.txt")
            st, _, err = rn.sp.run(["strace", "-c", "-f", "-o", f] + rn.run_argv(r, w.base[r], f"sc-{r}-{i}"),
                                   timeout=60)
            if st == 0:
                with open(f) as fh:
                    runs.append(phaselib.strace_summary(fh.read()))
            else:
                w.failures.append(f"phases: strace -c {r} run exit {st}: {tail(err)}")
        if runs:
            runs.sort(key=lambda s: s["total_seconds"])
            s = runs[len(runs) // 2]
            s["syscalls"] = s["syscalls"][:15]
            s["runs"] = len(runs)
            s["total_calls_median"] = int(statistics.median(x["total_calls"] for x in runs))
            out[r] = s
    return out


def _own_cgroup(base):
    """The suite's own cgroup in the hierarchy at base (v1 pids, or the unified one)."""
    own = "/"
    with open("/proc/self/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3 and (parts[1] == "pids" if base.endswith("/pids") else parts[1] == ""):
                own = parts[2]
    return own


def _write_timed(path, pid):
    with open(path, "w") as f:
        t0 = time.perf_counter()
        f.write(str(pid))
        f.flush()
        return (time.perf_counter() - t0) * 1000


def _own_thread_via_tasks(d, back):
    """What voidoci does instead: move only the calling thread, through `tasks` (cgroup v1; no
    threadgroup lock, so no grace period), and back. The move in, in ms."""
    time.sleep(0.1)
    fd = os.open(os.path.join(d, "tasks"), os.O_WRONLY)
    t0 = time.perf_counter()
    os.write(fd, b"0")
    ms = (time.perf_counter() - t0) * 1000
    os.close(fd)
    fd = os.open(os.path.join(back, "tasks"), os.O_WRONLY)
    os.write(fd, b"0")
    os.close(fd)
    return ms


def cgroup_attach_probe(prefix, n):
    """The kernel's price for moving a process into a cgroup, untraced: a sleeping child is
    written into a fresh cgroup.procs, after 100 ms of quiet each time (on cgroup v1 the
    first writer waits for an RCU grace period; writers shortly after one another do not).
    In the `pids` hierarchy (v1) or the unified one; the cgroup is removed afterwards."""
    base = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
    d = os.path.join(base, f"{prefix}-attach")
    try:
        os.mkdir(d)
    except OSError as e:
        return {"skipped": f"cannot create {d}: {e}"}
    first, second, thread = [], [], []
    child = None
    own = _own_cgroup(base)
    try:
        for _ in range(n):
            child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
            time.sleep(0.1)
            first.append(_write_timed(os.path.join(d, "cgroup.procs"), child.pid))
            other = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
            second.append(_write_timed(os.path.join(d, "cgroup.procs"), other.pid))
            for p in (child, other):
                p.kill()
                p.wait()
            child = None
            if base.endswith("/pids"):
                thread.append(_own_thread_via_tasks(d, base + own.rstrip("/")))
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

"""How each contender is invoked and timed: the OCI runtimes (voidoci, crun, runc) with a state
directory of their own, bwrap with the binds voidoci plans, the namespace floor (unshare), podman
with each runtime; hyperfine in interleaved rounds, the OCI lifecycle driven as an engine drives
it, concurrent batches, and peak RSS through /usr/bin/time."""

import json
import os
import select
import shlex
import signal
import subprocess
import time

from procs import ENV, PATH, Spawner, kill_group, reap, sh, tail
from stats import stats

OCI = ["voidoci", "crun", "runc"]
FLOOR = ["unshare", "-Urmnpfiu", "--mount-proc", "true"]
LABEL_KEY = "io.github.voidoci.bench"


class Runners:
    """The runtimes of one run. prefix names everything the run makes (container ids, cgroups,
    the podman label); failures collects every failed run."""

    def __init__(self, bins, optional, prefix, raw, failures):
        self.bins = bins
        self.optional = optional
        self.prefix = prefix
        self.raw = raw
        self.failures = failures
        self.ulimits = []
        self.tmp = None
        self.sp = None
        self.running = []  # Popen objects to kill on interruption
        self.bwrap_source = None

    def attach(self, tmp):
        """The run's temp dir: state roots, stderr files, pid files."""
        self.tmp = tmp
        self.sp = Spawner(os.path.join(tmp, "err"))

    def state_root(self, rt):
        return os.path.join(self.tmp, "state", rt)

    def oci(self, rt, *args):
        return [self.bins[rt], "--root", self.state_root(rt), *args]

    def new_id(self, tag):
        """A container id of this run (the prefix finds leftovers: state, cgroups, processes)."""
        return f"{self.prefix}-{tag}"

    def run_argv(self, rt, bundle, tag):
        return self.oci(rt, "run", "--bundle", bundle, self.new_id(tag))

    def podman_argv(self, rt, image, extra, program):
        return ["podman", "--runtime", self.bins[rt], "run", "--rm", "--label", f"{LABEL_KEY}={self.prefix}",
                *self.ulimits, *extra, image, program]

    def bwrap_argv(self, bundle, program):
        """bwrap with the closest equivalent of the void: every namespace new, a tmpfs root (bwrap's
        default), the program and its libraries bound read-only from the image. The binds are
        the ones voidoci itself plans (voidoci explain --format json on the same bundle)."""
        rootfs = os.path.join(bundle, "rootfs")
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--clearenv", "--setenv", "PATH", PATH,
                "--hostname", "bench"]
        r = sh([self.bins["voidoci"], "explain", "--format", "json", bundle], timeout=30)
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
        argv += ["--chdir", "/", program]
        return argv

    # --- hyperfine -------------------------------------------------------------------------------

    def hyperfine(self, tag, cmds, runs, warmup, rounds=1, timeout=900, keep_times=False):
        """cmds: [(key, argv)]. hyperfine -N (no shell) -i (a failed run is counted, not fatal),
        in `rounds` invocations of runs/rounds each (warm-ups in the first), so a drift of a
        shared machine hits every command alike; returns {key: stats + failures + user/system ms}."""
        per = [runs // rounds + (1 if i < runs % rounds else 0) for i in range(rounds)]
        merged = {key: {"times": [], "codes": [], "user": [], "system": []} for key, _ in cmds}
        for i, n in enumerate(p for p in per if p > 0):
            name = f"{tag}-{i}" if rounds > 1 else tag
            data = self._hyperfine_once(name, cmds, n, warmup if i == 0 else 0, timeout)
            for (key, _), r in zip(cmds, data["results"]):
                m = merged[key]
                m["times"] += r["times"]
                m["codes"] += r.get("exit_codes") or []
                m["user"].append((r["user"], len(r["times"])))
                m["system"].append((r["system"], len(r["times"])))
        return {key: self._hyperfine_stats(tag, key, c, merged[key], keep_times) for key, c in cmds}

    def _hyperfine_once(self, name, cmds, n, warmup, timeout):
        """One hyperfine invocation (its JSON and log in raw/); its parsed JSON."""
        js = os.path.join(self.raw, f"hyperfine-{name}.json")
        logp = os.path.join(self.raw, f"hyperfine-{name}.log")
        argv = ["hyperfine", "-N", "-i", "--style", "basic", "--runs", str(max(2, n)),
                "--warmup", str(warmup), "--export-json", js]
        for key, c in cmds:
            argv += ["--command-name", key, shlex.join(c)]
        with open(logp, "w") as logf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                 env=ENV, cwd="/tmp", start_new_session=True)
            self.running.append(p)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(p)
                raise RuntimeError(f"hyperfine {name} timed out after {timeout}s")
            except BaseException:
                kill_group(p)  # interrupted: hyperfine and what it runs go too
                raise
            finally:
                self.running.remove(p)
        reap()
        if p.returncode != 0 or not os.path.exists(js):
            raise RuntimeError(f"hyperfine {name} failed ({p.returncode}): {tail(logp)}")
        with open(js) as f:
            return json.load(f)

    def _hyperfine_stats(self, tag, key, c, m, keep_times):
        s = stats([t * 1000 for t in m["times"]])
        s["failures"] = sum(1 for x in m["codes"] if x != 0)
        total = sum(n for _, n in m["user"]) or 1
        s["user_ms"] = round(sum(u * n for u, n in m["user"]) / total * 1000, 3)
        s["system_ms"] = round(sum(u * n for u, n in m["system"]) / total * 1000, 3)
        s["command"] = shlex.join(c)
        if keep_times:
            s["times_ms"] = [round(t * 1000, 3) for t in m["times"]]
        if s["failures"]:
            self.failures.append(f"{tag}: {key}: {s['failures']} of {len(m['codes'])} runs failed ({shlex.join(c)})")
        return s

    # --- one process at a time -------------------------------------------------------------------

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

    def lifecycle_once(self, rt, bundle, cid, timings, wrap=None):
        """create + start + wait + delete, as an engine drives them: the pid from --pid-file, the
        exit seen through a pidfd, the init reaped (it re-parents to the suite, a subreaper, as it
        would to conmon), then delete. Returns None or the failure."""
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
        fail = self._start_and_wait(step, steps, rt, cid, pid, pfd)
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

    def _start_and_wait(self, step, steps, rt, cid, pid, pfd):
        """start, then the exit through the pidfd (timed as "wait"), then the init reaped."""
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
        return fail

    # --- many at once ----------------------------------------------------------------------------

    def batch(self, rt, bundle, n, rnd):
        """n `run`s started at once; (wall ms, [latency ms], failures, first error)."""
        procs = {}
        t0 = time.perf_counter()
        for i in range(n):
            pid, err = self.sp.spawn(self.run_argv(rt, bundle, f"conc-{rt}-{n}-{rnd}-{i}"))
            procs[pid] = (time.perf_counter(), os.pidfd_open(pid), err)
        lat, fails, first = self._wait_batch(procs)
        wall = (time.perf_counter() - t0) * 1000
        return wall, lat, fails, first

    @staticmethod
    def _wait_batch(procs):
        """Waits for {pid: (start, pidfd, stderr path)} through their pidfds, 120 s at most;
        ([latency ms], failures, first error)."""
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
        return lat, fails, first

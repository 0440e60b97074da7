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
import datetime
import json
import os
import signal
import sys
import tempfile
import time
import traceback

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import accept  # noqa: E402
import profiling  # noqa: E402
import hostsetup  # noqa: E402
import hoststate  # noqa: E402
import inside  # noqa: E402
import report  # noqa: E402
from procs import become_subreaper, log  # noqa: E402
from runners import Runners  # noqa: E402
from workloads import FULL, SMOKE, Workloads  # noqa: E402

SECTIONS = ["run", "lifecycle", "podman", "rss", "binds", "concurrency", "accept", "profile", "phases"]


class Suite:
    """One run: its results and failures, the runtimes (runners), what is measured (workloads,
    inside) and the host checks (hoststate), in the order a run goes."""

    def __init__(self, a):
        self.a = a
        self.p = SMOKE if a.smoke else FULL
        self.failures = []
        self.results = {"schema": 1, "mode": "smoke" if a.smoke else "full"}
        self.rn = Runners({}, {}, f"vb{os.getpid()}", os.path.join(a.out, "raw"), self.failures)
        self.w = Workloads(self.p, self.rn, self.failures)
        self.host = hoststate.HostState(self.rn, self.failures)

    def sections(self):
        return {"run": self.w.run, "lifecycle": self.w.lifecycle, "podman": self.w.podman, "rss": self.w.rss,
                "binds": self.w.binds, "concurrency": self.w.concurrency, "accept": lambda: accept.measure(self.w),
                "profile": lambda: profiling.measure(self.w),
                "phases": lambda: inside.measure(self.w)}

    def main(self):
        t0 = time.monotonic()
        R = self.results
        R["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.rn.bins, self.rn.optional = hostsetup.find_tools(self.a.voidoci)
        os.makedirs(self.rn.raw, exist_ok=True)
        become_subreaper()
        actions, self.rn.ulimits = hostsetup.crun_host()
        R["setup"] = {"actions": actions}
        R["machine"] = hostsetup.machine(self.rn.bins, self.rn.optional)
        R["params"] = {k: v for k, v in self.p.items()}
        R["params"]["bind_runs"] = {str(k): v for k, v in self.p["bind_runs"].items()}
        self.setup()
        R["host_state"] = {"after": {}}
        fns = self.sections()
        for name in SECTIONS:
            self.section(name, fns[name])
        R["machine"]["loadavg_end"] = os.getloadavg()
        R["duration_s"] = round(time.monotonic() - t0, 1)

    def setup(self):
        """The run's temp dir (state roots, stderr files, bundles), the bundles, and the host as
        it was before the first section."""
        tmp = tempfile.mkdtemp(prefix=f"voidoci-bench-{os.getpid()}-")
        self.rn.attach(tmp)
        self.results["temp_dir"] = tmp
        os.chmod(tmp, 0o711)
        for d in ("state/voidoci", "state/crun", "state/runc", "err", "bundles"):
            os.makedirs(os.path.join(tmp, d))
        self.w.prepare(tmp)
        self.host.snapshot()

    def section(self, name, fn):
        if self.a.only and name not in self.a.only:
            self.results[name] = {"skipped": "not selected (--only)"}
            return
        log(f"{name} ...")
        t0 = time.monotonic()
        try:
            self.results[name] = fn()
        except Exception as e:  # a broken section must not stop the others
            self.results[name] = {"error": f"{type(e).__name__}: {e}"}
            self.failures.append(f"{name}: {type(e).__name__}: {e}")
            log(traceback.format_exc().rstrip())
        self.results[name]["seconds"] = round(time.monotonic() - t0, 1)
        self.results.setdefault("host_state", {"after": {}})["after"][name] = self.host.check(name)
        log(f"{name} done in {self.results[name]['seconds']} s")

    def cleanup(self):
        self.host.cleanup(self.w.image_name, self.results)


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


def parse_args():
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
    return ap.parse_args()


def run(suite):
    """The suite's measurements, then its clean-up whatever happened: the exit status so far."""
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, interrupted)

    status = 0
    try:
        suite.main()
    except hostsetup.SetupError as e:
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
    return status


def finish(a, suite, status):
    """results.json, and unless set-up failed results.md, chart.svg (published by a full run of
    every section) and the summary; the exit status."""
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


def main():
    a = parse_args()
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
    return finish(a, suite, run(suite))


if __name__ == "__main__":
    sys.exit(main())

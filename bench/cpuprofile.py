"""Where voidoci's CPU time goes: perf record (cpu-clock, frame-pointer call graphs) over many
`voidoci run`s; user/kernel split, top symbols self and inclusive, user time by module (the
Swift module from the mangled name, else the shared object)."""

import collections
import os
import re
import shlex
import shutil
import subprocess
import time

from procs import PATH, sh

FREQUENCY = 10000
SELF_ROW = re.compile(r"^\s+([\d.]+)%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$")
CHILDREN_ROW = re.compile(r"^\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$")


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


def record(w, bundle, data):
    """perf record over perf_runs `voidoci run`s: (wall ms per run under perf, None) or (None, error)."""
    rn, n = w.rn, w.p["perf_runs"]
    ids = [f"perf-{i}" for i in range(n)]
    script = "; ".join(shlex.join(rn.run_argv("voidoci", bundle, c)) + " || exit 1" for c in ids)
    t0 = time.perf_counter()
    r = sh(["perf", "record", "-q", "-F", str(FREQUENCY), "-e", "cpu-clock", "-g", "-o", data, "--", "sh", "-c", script],
           timeout=600)
    wall = (time.perf_counter() - t0) * 1000 / max(1, n)
    if r.returncode != 0:
        return None, {"error": f"perf record failed ({r.returncode}): {r.stderr.strip()[-300:]}"}
    return wall, None


def reports(data):
    """(self, children): perf report's two tables of voidoci's samples."""
    def rep(*args):
        return sh(["perf", "report", "-i", data, "--stdio", "--comm", "voidoci", "-g", "none",
                   "--percentage", "relative", *args], timeout=300).stdout

    self_txt = rep("--no-children", "-n", "--sort", "dso,sym")
    incl_txt = rep("--children", "--sort", "dso,sym", "--percent-limit", "2")
    try:
        os.unlink(data)
    except OSError:
        pass
    return self_txt, incl_txt


def parse_self(text):
    """(rows, total samples, kernel samples, user samples by module) of the self table."""
    rows, total, kernel = [], 0, 0
    modules = collections.Counter()
    for line in text.splitlines():
        m = SELF_ROW.match(line)
        if not m:
            continue
        smp, dso, k, sym = int(m.group(2)), m.group(3), m.group(4) == "k", m.group(5)
        total += smp
        if k:
            kernel += smp
        else:
            modules[module_of(sym, dso)] += smp
        rows.append({"samples": smp, "dso": dso, "kernel": k, "symbol": sym})
    return rows, total, kernel, modules


def parse_children(text):
    incl = []
    for line in text.splitlines():
        m = CHILDREN_ROW.match(line)
        if m and not m.group(5).startswith("0x"):
            incl.append({"children_percent": float(m.group(1)), "self_percent": float(m.group(2)),
                         "dso": m.group(3), "kernel": m.group(4) == "k", "symbol": m.group(5)})
    return incl


def profile(w, bundle):
    """The profile of results.json → phases.perf; perf's tables are kept in raw/."""
    data = os.path.join(w.tmp, "perf.data")
    n = w.p["perf_runs"]
    wall, error = record(w, bundle, data)
    if error:
        return error
    self_txt, incl_txt = reports(data)
    rows, total, kernel, modules = parse_self(self_txt)
    incl = parse_children(incl_txt)
    top = rows[:30]
    names = demangle([x["symbol"] for x in top] + [x["symbol"] for x in incl])
    for x, nm in zip(top + incl, names):
        x["symbol"] = nm[:200]
    pct = (lambda v: round(100 * v / total, 2)) if total else (lambda v: 0.0)
    for x in top:
        x["percent"] = pct(x.pop("samples"))
    with open(os.path.join(w.rn.raw, "perf-self.txt"), "w") as f:
        f.write(self_txt)
    with open(os.path.join(w.rn.raw, "perf-children.txt"), "w") as f:
        f.write(incl_txt)
    return {"runs": n, "frequency_hz": FREQUENCY, "samples": total, "event": "cpu-clock",
            "wall_ms_per_run_under_perf": round(wall, 3),
            "cpu_ms_per_run": round(total / FREQUENCY * 1000 / max(1, n), 3),
            "kernel_percent": pct(kernel), "user_percent": pct(total - kernel),
            "user_by_module": [{"module": k, "percent": pct(v)} for k, v in modules.most_common(10)],
            "top_self": top,
            "top_inclusive_user": [x for x in incl if not x["kernel"]][:20],
            "top_inclusive_kernel": [x for x in incl if x["kernel"]][:12]}

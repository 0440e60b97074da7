"""The profile section: what `voidoci profile` costs against the program's own run. Programs
from an image built from Debian packages (scripts/make-rootfs.sh --debian), each run in the
same void the profile traces (image root read-only, proc, a tmpfs /tmp, the minimal devices)
with `voidoci run`, and profiled with `voidoci profile --format json` (the traced run, then the
verification with only the grants, itself traced). Ratios are of medians, in one run."""

import json
import os
import statistics
import time

from hostsetup import REPO
from procs import sh
from stats import stats

PROGRAMS = [
    ("python json+ssl", ["/usr/bin/python3", "-c", "import json, ssl; print(json.dumps(ssl.OPENSSL_VERSION))"]),
    ("shell pipeline", ["/bin/sh", "-c", "echo hello world | tr a-z A-Z | wc -c"]),
    ("openssl dgst", ["/usr/bin/openssl", "dgst", "-sha256", "/etc/passwd"]),
]

MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
]


def config(rootfs, args, traced_void):
    c = {"ociVersion": "1.0.2",
         "process": {"user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/", "env": ["PATH=/usr/bin:/bin"]},
         "root": {"path": rootfs},
         "mounts": MOUNTS,
         "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")]}}
    if traced_void:
        c["annotations"] = {"org.voidoci.rootfs": "ro", "org.voidoci.mounts": "proc;tmpfs", "org.voidoci.dev": "minimal"}
    return c


def timed(argv, timeout=300):
    t0 = time.perf_counter()
    r = sh(argv, timeout=timeout)
    return (time.perf_counter() - t0) * 1000, r


def measure(w):
    n = w.p["profile_runs"]
    voidoci = w.rn.bins["voidoci"]
    rootfs = os.path.join(w.tmp, "profile-rootfs")
    r = sh(["bash", os.path.join(REPO, "scripts", "make-rootfs.sh"), rootfs, "--debian", "python3", "openssl", "dash",
            "coreutils"], timeout=300)
    if r.returncode != 0:
        w.failures.append(f"profile: make-rootfs.sh --debian: {r.stderr.strip()[-300:]}")
        return {"skipped": "no image"}
    res = {}
    for name, args in PROGRAMS[:w.p["profile_programs"]]:
        d = os.path.join(w.tmp, "profile", name.replace(" ", "-"))
        os.makedirs(os.path.join(d, "state"))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config(rootfs, args, True), f)
        plain, traced, total = [], [], []
        warm = 1 if n > 1 else 0
        for i in range(n + warm):  # the first of each is a warm-up (not in smoke runs)
            ms, rr = timed([voidoci, "--root", os.path.join(d, "state"), "run", "--bundle", d, w.rn.new_id(f"profile-{i}")])
            if rr.returncode != 0:
                w.failures.append(f"profile: {name}: voidoci run failed: {rr.stderr.strip()[-200:]}")
                break
            if i >= warm:
                plain.append(ms)
            ms, rp = timed([voidoci, "profile", "--timeout", "60", "--format", "json", d], timeout=150)
            try:
                prof = json.loads(rp.stdout)
            except ValueError:
                prof = None
            if rp.returncode != 0 or not prof or not prof.get("verified"):
                w.failures.append(f"profile: {name}: not verified: {rp.stderr.strip()[-300:]}")
                break
            if i >= warm:
                total.append(ms)
                traced.append(prof["traced"]["milliseconds"])
        if not plain or not total:
            continue
        m = statistics.median
        res[name] = {"run_ms": stats(plain), "traced_ms": stats(traced), "profile_ms": stats(total),
                     "traced_ratio": round(m(traced) / m(plain), 2), "profile_ratio": round(m(total) / m(plain), 2)}
    return {"results": res, "runs": n,
            "method": "voidoci run of the traced void's config (image root ro, proc, tmpfs /tmp, minimal devices) "
                      "against voidoci profile --format json of the same bundle (a traced run and a traced "
                      "verification run); traced_ms is the traced run alone, as the profile reports it"}

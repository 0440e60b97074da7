"""Where the time goes inside `voidoci run`, derived from strace output (no timestamps in voidoci).

The trace is `strace -f -ttt -T -o FILE voidoci run ...` (every syscall) or the light variant
(`--seccomp-bpf -e trace=<the marker syscalls>`, far fewer ptrace stops). Phases are cut at marker
syscalls that every voidoci run makes, in this order (see bench/README.md, "Phase breakdown"):

    execve(voidoci)                 process start
    openat(<bundle>/config.json)    startup ends: decode + plan begin
    openat(<root.path>/...)         first look into the image: the ELF closure begins
    last pread64 before clone3      ELF closure ends: voidoci then opens the files of its own
                                    cgroups and waits for the set-up thread (below)
    first open_tree                 bind sources are prepared (detached mounts of image files)
    first write to cgroup.procs     the parent moves its thread into the void's cgroups
      or tasks
    clone3(CLONE_NEW...)            the void's init is created (id maps written by the parent)
    first mount/move_mount (child)  mounts inside the void
    pivot_root (child)              root switched: caps, seccomp, exec preparation
    execve(program) (child)         the program runs
    +++ exited (child)              teardown: wait, cgroup removal, state removal
    +++ exited (voidoci)            end

A marker that is missing (a future voidoci that no longer makes that call) merges its phase into
the previous one, whose label then names both; nothing is silently dropped.

The state dir and the cgroup are made by a second thread of voidoci, from before the config is
read until after the ELF closure (Runtime.planAndClaim): its syscalls overlap the first phases
and are reported apart, as `setup_thread` (its start and end from voidoci's execve, and how
long past the end of the ELF closure it ran: what voidoci waited for it, at most).
"""

import re
import statistics

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")
DUR = re.compile(r"<(\d+\.\d+)>\s*$")
RET = re.compile(r"\)\s+=\s+(-?\d+|0x[0-9a-fA-F]+|\?)")
FIRST_INT = re.compile(r"^\s*(-?\d+)")

# The syscalls the light trace follows: exactly what the markers and the fd bookkeeping need.
LIGHT_SYSCALLS = ["execve", "openat", "openat2", "pread64", "open_tree", "write", "clone3", "clone",
                  "mount", "move_mount", "pivot_root", "exit_group"]

MOUNT_CALLS = {"mount", "move_mount"}


class Event:
    __slots__ = ("pid", "t", "dur", "name", "args", "ret")

    def __init__(self, pid, t, name, args):
        self.pid, self.t, self.name, self.args = pid, t, name, args
        self.dur = 0.0
        self.ret = None

    def finish(self, text):
        m = DUR.search(text)
        if m:
            self.dur = float(m.group(1))
        m = None
        for m in RET.finditer(text):
            pass
        if m and m.group(1) != "?":
            v = m.group(1)
            self.ret = int(v, 16) if v.startswith("0x") else int(v)


def parse(text):
    """Events in time order: syscalls (start time, duration from -T, return value) and
    '+++exit' pseudo-events for process exits."""
    events, pending = [], {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        if rest.startswith("+++"):
            events.append(Event(pid, t, "+++exit", rest))
            continue
        if rest.startswith("---"):
            continue
        r = RESUMED.match(rest)
        if r:
            ev = pending.pop(pid, None)
            if ev is None or ev.name != r.group(1):
                ev = Event(pid, t, r.group(1), "")
                events.append(ev)
            ev.args += r.group(2)
            ev.finish(r.group(2))
            continue
        c = CALL.match(rest)
        if not c:
            continue
        ev = Event(pid, t, c.group(1), c.group(2))
        events.append(ev)
        if rest.rstrip().endswith("<unfinished ...>"):
            pending[pid] = ev
        else:
            ev.finish(rest)
    events.sort(key=lambda e: e.t)
    return events


def _first_string(args):
    m = re.search(r'"((?:[^"\\]|\\.)*)"', args)
    return m.group(1) if m else None

OPENS = {"openat", "openat2", "open"}


def _first(events, pred, after=None, before=None):
    for e in events:
        if after is not None and e.t < after:
            continue
        if before is not None and e.t > before:
            break
        if pred(e):
            return e
    return None


def _parent_markers(events, main, bundle, rootfs):
    """The marker times in voidoci's own process: config read, first look into the image, end of
    the ELF closure, first open_tree, clone3 of the init (None where missing)."""
    cfg = _first(events, lambda e: e.pid == main and e.name in OPENS and (bundle.rstrip("/") + "/config.json") in e.args)
    if cfg is None:
        cfg = _first(events, lambda e: e.pid == main and e.name in OPENS and "config.json" in e.args)
    clone = _first(events, lambda e: e.pid == main and e.name in ("clone3", "clone") and "CLONE_NEW" in e.args)
    t_cfg = cfg.t if cfg else None
    t_clone = clone.t if clone else None
    img = _first(events, lambda e: e.pid == main and e.name in OPENS and rootfs in e.args,
                 after=t_cfg, before=t_clone) if t_cfg is not None else None
    t_img = img.t if img else None
    t_closure_end = None
    if t_img is not None:
        for e in events:
            if e.t < t_img or (t_clone is not None and e.t >= t_clone):
                continue
            if e.pid == main and e.name == "pread64":
                t_closure_end = e.t + e.dur
    after_closure = t_closure_end if t_closure_end is not None else t_img
    bind = _first(events, lambda e: e.pid == main and e.name == "open_tree", after=after_closure,
                  before=t_clone) if after_closure is not None else None
    return {"cfg": t_cfg, "img": t_img, "closure_end": t_closure_end, "bind": bind.t if bind else None,
            "clone": t_clone}


def _cgroup_join(events, ours, child, t_clone):
    """The init's first write into a cgroup.procs or tasks file, which voidoci opened before the
    clone (the init inherits the fd numbers) and never writes itself."""
    fds = {}
    for e in events:
        if e.pid in ours and (t_clone is None or e.t < t_clone):
            if e.name in OPENS and e.ret is not None and e.ret >= 0:
                fds[e.ret] = _first_string(e.args) or ""
            elif e.name == "close":
                m = FIRST_INT.match(e.args)
                if m:
                    fds.pop(int(m.group(1)), None)
        elif child is not None and e.pid == child and e.name == "write":
            m = FIRST_INT.match(e.args)
            if m and fds.get(int(m.group(1)), "").endswith(("/cgroup.procs", "/tasks")):
                return e.t
    return None


def _child_markers(events, ours, program, t_clone):
    """(the init's pid, its marker times): cgroup join, first mount, pivot_root, execve of the
    program, exit. The init is the process that execs the program (the last such execve)."""
    child_exec = None
    for e in events:
        if e.pid not in ours and e.name == "execve" and f'"{program}"' in e.args:
            child_exec = e
    child = child_exec.pid if child_exec else None
    t = {"cgjoin": _cgroup_join(events, ours, child, t_clone), "mount": None, "pivot": None,
         "exec": child_exec.t if child_exec else None, "exit": None}
    if child is not None:
        m = _first(events, lambda e: e.pid == child and e.name in MOUNT_CALLS)
        t["mount"] = m.t if m else None
        p = _first(events, lambda e: e.pid == child and e.name in ("pivot_root", "chroot"))
        t["pivot"] = p.t if p else None
        x = _first(events, lambda e: e.pid == child and e.name == "+++exit")
        t["exit"] = x.t if x else None
    return child, t


def _keep_in_order(markers):
    """Phases whose start marker is missing or out of order merge into the previous one:
    (kept [(label, start, pid)], missing labels)."""
    kept, missing = [], []
    for label, t, pid in markers:
        if t is None or (kept and t < kept[-1][1]):
            missing.append(label)
            if kept:
                kept[-1] = (kept[-1][0] + " + " + label, kept[-1][1], kept[-1][2])
            continue
        kept.append((label, t, pid))
    return kept, missing


def _phase(events, label, a, b, pid, main):
    """One phase from a to b: its wall time, the syscalls started in it, and the time its
    critical-path process spent inside syscalls, with the top ones."""
    inside = [e for e in events if a <= e.t < b and e.name != "+++exit"]
    mine = [e for e in inside if e.pid == pid]
    # A call that outlasts the phase (the parent blocked on the init's report) counts only up to
    # the phase's end.
    clip = {id(e): max(0.0, min(e.t + e.dur, b) - e.t) for e in mine}
    by = {}
    for e in mine:
        c, s = by.get(e.name, (0, 0.0))
        by[e.name] = (c + 1, s + clip[id(e)])
    top = sorted(by.items(), key=lambda kv: -kv[1][1])[:4]
    return {
        "phase": label,
        "process": "voidoci" if pid == main else "void init",
        "ms": round((b - a) * 1000, 3),
        # Every syscall started in the phase, any process: each is one ptrace stop.
        "syscalls": len(inside),
        # The critical-path process only: its time inside syscalls, the rest is its own
        # user-space work (plus, traced, the tracer's cost per stop).
        "in_syscalls_ms": round(sum(clip.values()) * 1000, 3),
        "top": [{"syscall": n, "count": c, "ms": round(s * 1000, 3)} for n, (c, s) in top],
    }


def _setup_thread(events, threads, t0, t_closure_end):
    thread_events = [e for e in events if e.pid in threads]
    if not thread_events:
        return None
    a, b = thread_events[0].t, thread_events[-1].t + (thread_events[-1].dur or 0.0)
    return {"start_ms": round((a - t0) * 1000, 3), "end_ms": round((b - t0) * 1000, 3),
            "ms": round((b - a) * 1000, 3), "syscalls": sum(1 for e in thread_events if e.name != "+++exit"),
            "past_closure_ms": round(max(0.0, b - t_closure_end) * 1000, 3) if t_closure_end else None}


def derive(text, bundle, rootfs, program):
    """Phases of one traced `voidoci run`. bundle, rootfs: absolute paths as voidoci sees them;
    program: the path the void execs (process.args[0]). Returns a dict with the marker times,
    the phases (label, wall ms, syscalls started, ms inside syscalls, top syscalls) and totals;
    or {"error": ...} when the trace has no voidoci execve."""
    events = parse(text)
    if not events or events[0].name != "execve":
        return {"error": "trace does not start with execve"}
    main = events[0].pid
    t0 = events[0].t
    # voidoci's own threads (the set-up thread): they share its fd table, and are not the init.
    threads = {e.ret for e in events if e.pid == main and e.name in ("clone3", "clone")
               and "CLONE_THREAD" in e.args and isinstance(e.ret, int) and e.ret > 0}
    ours = {main} | threads
    pm = _parent_markers(events, main, bundle, rootfs)
    child, cm = _child_markers(events, ours, program, pm["clone"])
    end = _first(events, lambda e: e.pid == main and e.name == "+++exit")
    t_end = end.t if end else events[-1].t
    # Each phase with the process on its critical path: the parent until the void's init starts
    # mounting, the init until it exits, the parent again for the teardown.
    kept, missing = _keep_in_order([
        ("startup (exec, runtime init, arguments)", t0, main),
        ("decode + plan", pm["cfg"], main),
        ("ELF closure", pm["img"], main),
        ("own cgroups' files + waiting for the set-up thread", pm["closure_end"], main),
        ("bind sources (open_tree)", pm["bind"], main),
        ("clone3", pm["clone"], main),
        ("cgroup join (by the init) + id maps", cm["cgjoin"], child),
        ("mounts in the void", cm["mount"], child),
        ("pivot_root → execve (caps, seccomp)", cm["pivot"], child),
        ("program (/bin/true)", cm["exec"], child),
        ("teardown (wait, cgroup + state removal)", cm["exit"], main),
    ])
    phases = [_phase(events, label, a, kept[i + 1][1] if i + 1 < len(kept) else t_end, pid, main)
              for i, (label, a, pid) in enumerate(kept)]
    calls = [e for e in events if e.name != "+++exit"]
    return {
        "setup_thread": _setup_thread(events, threads, t0, pm["closure_end"]),
        "total_ms": round((t_end - t0) * 1000, 3),
        "syscalls": len(calls),
        "syscalls_main": sum(1 for e in calls if e.pid == main),
        "syscalls_void": sum(1 for e in calls if child is not None and e.pid == child),
        "processes": len({e.pid for e in events}),
        "phases": phases,
        "missing_markers": missing,
    }


def aggregate(traces):
    """Median per phase over several derived traces with the same phase labels (traces whose
    labels differ from the most common set are left out and counted)."""
    good = [t for t in traces if "phases" in t]
    if not good:
        return {"error": "no usable trace", "traces": len(traces)}
    keyset = statistics.mode([tuple(p["phase"] for p in t["phases"]) for t in good])
    same = [t for t in good if tuple(p["phase"] for p in t["phases"]) == keyset]
    phases = []
    for i, label in enumerate(keyset):
        col = [t["phases"][i] for t in same]
        phases.append({
            "phase": label,
            "process": col[0].get("process"),
            "ms": round(statistics.median(p["ms"] for p in col), 3),
            "min_ms": round(min(p["ms"] for p in col), 3),
            "max_ms": round(max(p["ms"] for p in col), 3),
            "syscalls": int(statistics.median(p["syscalls"] for p in col)),
            "in_syscalls_ms": round(statistics.median(p["in_syscalls_ms"] for p in col), 3),
            "top": col[len(col) // 2]["top"],
        })
    threads = [t["setup_thread"] for t in same if t.get("setup_thread")]
    setup = {k: round(statistics.median(x[k] for x in threads), 3) for k in ("start_ms", "end_ms", "ms", "past_closure_ms")
             if all(x.get(k) is not None for x in threads)} if threads else None
    return {
        "traces": len(traces),
        "used": len(same),
        "setup_thread": setup,
        "total_ms": round(statistics.median(t["total_ms"] for t in same), 3),
        "syscalls": int(statistics.median(t["syscalls"] for t in same)),
        "syscalls_main": int(statistics.median(t["syscalls_main"] for t in same)),
        "syscalls_void": int(statistics.median(t["syscalls_void"] for t in same)),
        "phases": phases,
        "missing_markers": same[0]["missing_markers"],
    }


def strace_summary(text):
    """`strace -c -f` table → {"total": {...}, "syscalls": [{syscall, calls, errors, seconds,
    percent}]} sorted by time."""
    rows, total = [], None
    for line in text.splitlines():
        f = line.split()
        if not f or f[0].startswith("%") or f[0].startswith("-"):
            continue
        try:
            pct, secs, usecs, calls = float(f[0]), float(f[1]), int(f[2]), int(f[3])
        except (ValueError, IndexError):
            continue
        if len(f) == 6:
            errors, name = int(f[4]), f[5]
        elif len(f) == 5:
            errors, name = 0, f[4]
        else:
            continue
        row = {"syscall": name, "calls": calls, "errors": errors, "seconds": secs, "percent": pct}
        if name == "total":
            total = row
        else:
            rows.append(row)
    rows.sort(key=lambda r: -r["seconds"])
    if total is None:
        total = {"calls": sum(r["calls"] for r in rows), "errors": sum(r["errors"] for r in rows),
                 "seconds": round(sum(r["seconds"] for r in rows), 6)}
    return {"total_calls": total["calls"], "total_errors": total["errors"],
            "total_seconds": total["seconds"], "syscalls": rows}

"""The results of a benchmark run: the targets judged from them, results.json, the Markdown
tables (results.md), a few lines for the terminal, and the copy of the README-facing files
into bench/. The chart is chart.py; both render from results.json alone."""

import json
import os
import shutil

import chart
from fmt import ALL, OCI, cell, get, machine_line, num, rcell, target_value

BENCH = os.path.dirname(os.path.abspath(__file__))


# --- targets -------------------------------------------------------------------------------------

def targets(R):
    """Every target with its measured value, threshold and whether it is met (None: no value)."""
    t = []

    def add(name, value, threshold, met, detail):
        t.append({"target": name, "value": value, "threshold": threshold,
                  "met": None if value is None else bool(met), "detail": detail})

    v = R.get("run", {}).get("ratio_to_crun", {}).get("voidoci")
    add("voidoci run /bin/true median ≤ 0.70 × crun", v, 0.70, v is not None and v <= 0.70, "ratio of medians")
    v = (R.get("lifecycle", {}).get("ratio_to_crun", {}).get("voidoci", {})).get("create_start_delete")
    add("create + start + delete ≤ crun", v, 1.0, v is not None and v <= 1.0, "ratio of medians of the per-iteration sum")
    v = R.get("rss", {}).get("ratio_to_crun", {}).get("voidoci")
    add("peak RSS ≤ 1.5 × crun", v, 1.5, v is not None and v <= 1.5, "`run`, ratio of median peak RSS")
    _podman_targets(R, add)
    _binds_target(R, add)
    _concurrency_targets(R, add)
    _accept_targets(R, add)
    return t


def _accept_targets(R, add):
    ratio = R.get("accept", {}).get("ratio_to_socat", {})
    for par in sorted(ratio, key=int):
        add(f"org.voidoci.accept: connections/s with {par} client{'s' if par != '1' else ''} ≥ 0.5 × socat fork",
            ratio[par], 0.5, ratio[par] >= 0.5, "a fresh void per connection against socat's fork+exec per connection")


def _podman_targets(R, add):
    pod = R.get("podman", {}).get("ratio_to_crun", {}).get("voidoci", {})
    pp = R.get("podman", {}).get("slower_than_crun_p", {}).get("voidoci", {})
    for net in ("default", "none"):
        v, p = pod.get(net), pp.get(net)
        # "No slower than with crun (within noise)": met when the median is not above crun's, or
        # when the runs give no evidence that voidoci is slower (one-sided Mann-Whitney, p >= 0.05).
        noise = p is not None and p >= 0.05
        add(f"podman run --rm ({'default network' if net == 'default' else '--network none'}) with voidoci ≤ with crun, within noise",
            v, 1.0, v is not None and (v <= 1.0 or noise),
            f"ratio of medians; one-sided Mann-Whitney p = {p} that voidoci is slower"
            + (" (no evidence: within noise)" if v is not None and v > 1.0 and noise else ""))


def _binds_target(R, add):
    fit = R.get("binds", {}).get("fit", {}).get("voidoci")
    name = "binds: linear growth (voidoci; per-bind cost 100→1000 / 1→100 ≤ 2)"
    if fit and fit.get("superlinearity") is not None:
        add(name, fit["superlinearity"], 2.0, fit["superlinearity"] <= 2.0,
            f"per-bind cost {fit['per_bind_ms_high']} ms (100→1000) vs {fit['per_bind_ms_low']} ms (1→100); "
            f"≤ 2× counts as linear")
    else:
        add(name, None, 2.0, False, "needs sizes 1, 100 and 1000 (full run)")


def _concurrency_targets(R, add):
    conc = R.get("concurrency", {}).get("results", {}).get("voidoci", {})
    if not conc:
        return
    levels = sorted(conc, key=int)
    fails = sum(conc[n]["failures"] for n in levels)
    add("concurrent voids: zero failures (voidoci)", fails, 0, fails == 0, f"levels {', '.join(levels)}")
    base = conc[levels[0]]["time_per_void_ms"].get("median")
    top = conc[levels[-1]]["time_per_void_ms"].get("median")
    v = round(top / base, 3) if base and top else None
    add(f"concurrent voids: flat time per void (x{levels[-1]} ≤ 1.2 × x{levels[0]})", v, 1.2,
        v is not None and v <= 1.2, "ratio of median time per void")


# --- Markdown ------------------------------------------------------------------------------------

def markdown(R):
    L = []
    hw, tools, load = machine_line(R)
    L.append(f"Run of {R.get('started', '?')} ({R.get('mode', '?')} run, {R.get('duration_s', '?')} s, {load}).  ")
    L.append(f"Machine: {hw}.  ")
    L.append(f"Tools: {tools}.")
    L.append("")
    L.append("Every figure is a median over the runs, with p10–p90 in brackets, in ms unless said; the "
             "ratio column is voidoci / crun. Same bundle (config.json and a copy of the same image), "
             "same program (`/bin/true`) for every runtime.")
    L.append("")
    L.append("| target | measured | goal | met |")
    L.append("|---|---|---|---|")
    for t in R.get("targets", []):
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        L.append(f"| {t['target']} | {target_value(t['value'])} | {t['threshold']} | {met} |")
    L.append("")
    side_by_side(L, R)
    hs = R.get("host_state", {})
    if hs:
        L.append("")
        L.append(f"Host state after every section and after clean-up: **{'clean' if hs.get('clean') else 'NOT clean'}** "
                 "(no leftover process, mount, cgroup, state directory or podman container). "
                 f"Failed runs: {len(R.get('failures', []))}.")
    L.append("")
    accept_table(L, R)
    profile_table(L, R)
    inside(L, R)
    if R.get("failures"):
        L.append("Failures:")
        L.append("")
        for f in R["failures"]:
            L.append(f"- {f}")
        L.append("")
    return "\n".join(L)


def side_by_side(L, R):
    """The table of every measurement, one column per contender."""
    L.append("| measurement | unshare floor | bwrap | voidoci | crun | runc | voidoci / crun |")
    L.append("|---|---|---|---|---|---|---|")

    def row(label, cells, r):
        L.append(f"| {label} | " + " | ".join(cells) + f" | {rcell(r)} |")

    run = get(R, "run", "results") or {}
    if run:
        row(f"`run` {get(R, 'run', 'program')} (ms)", [cell(run.get(k)) for k in ALL], get(R, "run", "ratio_to_crun", "voidoci"))
        row("`run` CPU user + sys (ms, hyperfine)",
            [f"{num(run[k]['user_ms'])} + {num(run[k]['system_ms'])}" if k in run else "–" for k in ALL], None)
    lc = get(R, "lifecycle", "results") or {}
    if lc:
        for step, label in (("create", "create"), ("start", "start"), ("wait", "wait (start → exit seen)"),
                            ("delete", "delete"), ("create_start_delete", "create + start + delete"),
                            ("total", "create + start + wait + delete")):
            row(f"lifecycle: {label} (ms)", ["–", "–"] + [cell(lc[k].get(step)) for k in OCI],
                get(R, "lifecycle", "ratio_to_crun", "voidoci", step))
    pod = get(R, "podman", "results") or {}
    if pod:
        for net, label in (("default", "`podman run --rm` (ms)"), ("none", "`podman run --rm --network none` (ms)")):
            row(label, ["–", "–"] + [cell(pod[k][net]) for k in OCI], get(R, "podman", "ratio_to_crun", "voidoci", net))
    _rss_rows(R, row)
    _scaling_rows(R, row)
    sc = get(R, "phases", "strace_c") or {}
    if sc:
        row("syscalls per `run` (strace -c -f)", ["–", "–"] + [str(get(sc, k, "total_calls_median") or "–") for k in OCI], None)


def _rss_rows(R, row):
    rss = get(R, "rss", "results") or {}
    if not rss:
        return
    row("peak RSS of `run` (MiB)", [cell(get(rss, k, "run"), 1 / 1024, False) for k in ALL], get(R, "rss", "ratio_to_crun", "voidoci"))
    for step in ("create", "start", "delete"):
        r = None
        a, b = get(rss, "voidoci", step), get(rss, "crun", step)
        if a and b and a.get("n") and b.get("n"):
            r = a["median"] / b["median"]
        row(f"peak RSS of `{step}` (MiB)", ["–", "–"] + [cell(get(rss, k, step), 1 / 1024, False) for k in OCI], r)


def _scaling_rows(R, row):
    """binds and concurrency."""
    binds = get(R, "binds", "results") or {}
    if binds:
        for n in get(R, "binds", "sizes"):
            row(f"`run` with {n} bind{'s' if n != 1 else ''} (ms)", ["–", "–"] + [cell(binds[k][str(n)]) for k in OCI],
                get(R, "binds", "ratio_to_crun", "voidoci", str(n)))
        fit = get(R, "binds", "fit") or {}
        row("per bind, least-squares slope (ms)", ["–", "–"] + [num(get(fit, k, "per_bind_ms"), 3) for k in OCI], None)
    conc = get(R, "concurrency", "results") or {}
    if conc:
        for n in get(R, "concurrency", "levels"):
            cells = []
            for k in OCI:
                c = conc[k][str(n)]
                f = c["failures"]
                cells.append(cell(c["time_per_void_ms"]) + (f" **{f} failed**" if f else ", 0 failed"))
            row(f"{n} concurrent: time per void (ms)", ["–", "–"] + cells,
                get(R, "concurrency", "ratio_to_crun", "voidoci", str(n)))


def accept_table(L, R):
    """org.voidoci.accept against socat's fork per connection (bench/accept.py)."""
    acc = R.get("accept", {})
    res = acc.get("results") or {}
    if not res.get("voidoci") or not res.get("socat"):
        return
    L.append("### A void per connection (`org.voidoci.accept`) against a fork per connection")
    L.append("")
    L.append("Each connection sends one line, half-closes and reads the echo to EOF; `/bin/cat` serves it, "
             "in a fresh void (`org.voidoci.accept=stdio` under `voidoci run`) or forked and exec'd by "
             "`socat TCP-LISTEN:…,fork EXEC:/bin/cat`.")
    L.append("")
    L.append("| clients | voidoci: connections/s | per connection (ms) | socat fork: connections/s | per connection (ms) | voidoci / socat |")
    L.append("|---|---|---|---|---|---|")
    for par in sorted(res["voidoci"], key=int):
        v, s = res["voidoci"][par], res["socat"][par]
        L.append(f"| {par} | {v['per_second']} | {cell(v['connection_ms'])} | {s['per_second']} | {cell(s['connection_ms'])} | "
                 f"{acc.get('ratio_to_socat', {}).get(par, '–')}× |")
    L.append("")


def profile_table(L, R):
    """What `voidoci profile` costs against the program's own run (bench/profiling.py)."""
    res = (R.get("profile") or {}).get("results") or {}
    if not res:
        return
    L.append("### `voidoci profile` against the program's own run")
    L.append("")
    L.append("The program alone: `voidoci run` of the void the profile traces (image root read-only, proc, "
             "a tmpfs /tmp, the minimal devices). The profile: a traced run, then the verification with only "
             "the grants (itself traced, to name a cause), and the grants worked out in between.")
    L.append("")
    L.append("| program | voidoci run (ms) | traced run (ms) | whole profile (ms) | traced / run | profile / run |")
    L.append("|---|---|---|---|---|---|")
    for name, v in res.items():
        L.append(f"| {name} | {cell(v['run_ms'])} | {cell(v['traced_ms'])} | {cell(v['profile_ms'])} | "
                 f"{v['traced_ratio']}× | {v['profile_ratio']}× |")
    L.append("")


def inside(L, R):
    """Inside `voidoci run`: the untraced breakdown, the strace phases, the anchors, the cgroup
    join probe, syscall totals and the CPU profile."""
    ph = R.get("phases", {})
    light = ph.get("light", {})
    ub = ph.get("untraced_breakdown") or {}
    if light.get("phases") or ub:
        L.append("### Inside `voidoci run`: where the time goes")
        L.append("")
    if ub:
        L.append("Untraced (nothing attached; medians of separate measurements, so approximate):")
        L.append("")
        L.append("| part of `voidoci run` | ms | share |")
        L.append("|---|---|---|")
        for p in ub["parts"]:
            L.append(f"| {p['part']} | {num(p['ms'])} | {100 * p['ms'] / ub['total_ms']:.0f} % |")
        L.append(f"| **`voidoci run`, untraced median** | **{num(ub['total_ms'])}** | |")
        L.append("")
    if light.get("phases"):
        _phase_table(L, ph)
    _anchors(L, ph)
    _cgroup_join(L, ph)
    sc = get(R, "phases", "strace_c") or {}
    if sc.get("voidoci"):
        L.append("Syscalls of one `run` (`strace -c -f`), most time-consuming first: " + "; ".join(
            f"**{k}** {sc[k]['total_calls']} calls ({sc[k]['total_errors']} failed): " + ", ".join(
                f"{s['syscall']} {s['calls']}" for s in sc[k]["syscalls"][:6]) for k in OCI if k in sc) + ".")
        L.append("")
    _perf(L, ph.get("perf", {}))


def _phase_table(L, ph):
    light, full = ph.get("light", {}), ph.get("full", {})
    w = ph.get("wall_ms", {})
    L.append("Phases from strace, cut at marker syscalls (method in bench/README.md). *light*: "
             "`strace --seccomp-bpf` stopping on the marker syscalls only; *full*: every syscall traced. "
             f"Tracing stretches a run (untraced {num(get(w, 'untraced', 'median'))} ms, under strace with no "
             f"syscall stopped {num(get(w, 'strace_trace_none', 'median'))} ms, light "
             f"{num(get(w, 'strace_light', 'median'))} ms): read these as shares and counts. "
             "Process: the one on the critical path in that phase.")
    L.append("")
    L.append("| phase | process | light trace (ms) | share | full trace (ms) | syscalls (full) | in syscalls (full, ms) | top syscalls (full: count, ms) |")
    L.append("|---|---|---|---|---|---|---|---|")
    fmap = {p["phase"]: p for p in full.get("phases", [])}
    tot = sum(p["ms"] for p in light["phases"]) or 1
    for p in light["phases"]:
        f = fmap.get(p["phase"], {})
        top = ", ".join(f"{t['syscall']}×{t['count']} {num(t['ms'])}" for t in f.get("top", [])[:3])
        L.append(f"| {p['phase']} | {p.get('process', '')} | {num(p['ms'])} | {100 * p['ms'] / tot:.0f} % | "
                 f"{num(f.get('ms'))} | {f.get('syscalls', '–')} | {num(f.get('in_syscalls_ms'))} | {top} |")
    L.append(f"| **total** | | {num(light.get('total_ms'))} | | {num(full.get('total_ms'))} | "
             f"{full.get('syscalls', '–')} (voidoci {full.get('syscalls_main', '–')}, void init {full.get('syscalls_void', '–')}) | | |")
    L.append("")
    st = light.get("setup_thread")
    if st:
        L.append(f"The state dir and the cgroup are made by a second thread of voidoci, overlapping the phases above "
                 f"(light trace, medians): from {num(st.get('start_ms'))} to {num(st.get('end_ms'))} ms after voidoci's "
                 f"execve, {num(st.get('past_closure_ms'))} ms past the end of the ELF closure (what voidoci waited "
                 f"for it, at most).")
        L.append("")


def _anchors(L, ph):
    anc = get(ph, "anchors", "results") or {}
    if not anc:
        return
    d = get(ph, "anchors", "derived_ms") or {}
    L.append("Untraced anchors (hyperfine, nothing attached): "
             f"`voidoci --version` {cell(anc.get('voidoci --version'))} ms (crun {cell(anc.get('crun --version'))}, "
             f"runc {cell(anc.get('runc --version'))}): exec, dynamic linking, Swift runtime start-up, argument parsing. "
             f"`voidoci explain --format json` {cell(anc.get('voidoci explain'))} ms, so decode + plan + ELF closure "
             f"(and encoding the plan as JSON) ≈ {num(d.get('decode + plan + ELF closure (explain - version)'))} ms. "
             f"`voidoci run` {cell(anc.get('voidoci run'))} ms, so state, cgroups, clone, mounts, exec and teardown ≈ "
             f"{num(d.get('state, cgroups, clone, mounts, exec, teardown (run - explain)'))} ms.")
    L.append("")


def _cgroup_join(L, ph):
    cg = ph.get("cgroup_attach") or {}
    if not cg.get("first_write_ms"):
        return
    L.append(f"The kernel's price of a cgroup join here (untraced, {cg['hierarchy']}): writing a pid into "
             f"`cgroup.procs` after 100 ms of quiet takes {cell(cg['first_write_ms'])} ms (an RCU grace period on "
             f"cgroup v1), a second write right after {cell(cg['immediately_after_ms'])} ms. crun and runc pay it for every container."
             + (f" Moving only the caller's own thread through `tasks`, as voidoci does, takes {cell(cg['own_thread_via_tasks_ms'])} ms."
                if cg.get("own_thread_via_tasks_ms") else ""))
    L.append("")


def _perf(L, perf):
    if not perf.get("samples"):
        return
    L.append(f"CPU profile of `voidoci run` (perf, {perf['runs']} runs, {perf['samples']} samples at "
             f"{perf['frequency_hz']} Hz: ≈{num(perf['cpu_ms_per_run'])} ms CPU per run): kernel "
             f"{num(perf['kernel_percent'])} %, user {num(perf['user_percent'])} %. User time by module (% of all "
             "samples): " + ", ".join(f"{m['module']} {num(m['percent'])}" for m in perf.get("user_by_module", [])[:7]) + ".")
    L.append("")
    tops = [s for s in perf.get("top_self", []) if not s["kernel"]][:6]
    ktops = [s for s in perf.get("top_self", []) if s["kernel"]][:6]
    incl = perf.get("top_inclusive_user", [])[:10]
    if tops:
        L.append("- top user symbols (self): " + "; ".join(f"`{s['symbol'][:80]}` {num(s['percent'])} %" for s in tops))
    if ktops:
        L.append("- top kernel symbols (self): " + "; ".join(f"`{s['symbol'][:50]}` {num(s['percent'])} %" for s in ktops))
    if incl:
        L.append("- inclusive (user functions and everything they call): " +
                 "; ".join(f"`{s['symbol'][:70]}` {num(s['children_percent'])} %" for s in incl))
    L.append("")


# --- the terminal --------------------------------------------------------------------------------

def summary(R):
    """A few lines for the terminal."""
    out = []
    run = get(R, "run", "results") or {}
    if run:
        out.append("run /bin/true (median ms): " + ", ".join(
            f"{k} {num(run[k]['median'])}" for k in ALL if k in run and run[k].get("n")))
    for t in R.get("targets", []):
        v = t["value"]
        vs = "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
        out.append(f"  [{'n/a' if t['met'] is None else 'met' if t['met'] else 'MISSED'}] {t['target']}: {vs}")
    ub = get(R, "phases", "untraced_breakdown")
    if ub:
        out.append("inside voidoci run, untraced (ms): " + ", ".join(f"{p['part'].split(':')[0]} {num(p['ms'])}" for p in ub["parts"]))
    light = get(R, "phases", "light", "phases")
    if light:
        top = sorted(light, key=lambda p: -p["ms"])[:4]
        out.append("largest strace phases (light trace, ms): " + ", ".join(f"{p['phase']} {num(p['ms'])}" for p in top))
    hs = R.get("host_state", {})
    out.append(f"host state: {'clean' if hs.get('clean') else 'NOT clean'}; failures: {len(R.get('failures', []))}")
    return "\n".join(out)


# --- files ---------------------------------------------------------------------------------------

def write_json(R, path):
    with open(path, "w") as f:
        json.dump(R, f, indent=1)


def write_rendered(R, out):
    """results.md and chart.svg into the directory out."""
    md = markdown(R)
    svg = chart.svg(R)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "chart.svg"), "w") as f:
        f.write(svg)


def publish(out):
    """The README-facing copies: bench/results.md and bench/chart.svg."""
    shutil.copyfile(os.path.join(out, "results.md"), os.path.join(BENCH, "results.md"))
    shutil.copyfile(os.path.join(out, "chart.svg"), os.path.join(BENCH, "chart.svg"))

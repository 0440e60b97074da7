"""chart.svg: a hand-written SVG (no third-party modules) from results.json alone: one panel per
measurement, the targets as badges, and where the time goes inside `voidoci run`."""

import math

from fmt import ALL, OCI, get, machine_line, num, target_value

RT_COLORS = {"voidoci": "#2563eb", "crun": "#ea580c", "runc": "#16a34a", "bwrap": "#9333ea", "floor": "#6b7280"}
RT_NAMES = {"floor": "unshare (floor)", "bwrap": "bwrap", "voidoci": "voidoci", "crun": "crun", "runc": "runc"}
STEP_COLORS = {"create": "#1e3a8a", "start": "#3b82f6", "wait": "#93c5fd", "delete": "#94a3b8"}
PHASE_COLORS = ["#0f172a", "#7c3aed", "#db2777", "#ea580c", "#ca8a04", "#dc2626", "#16a34a", "#0891b2",
                "#2563eb", "#64748b", "#a3a3a3", "#84cc16", "#f472b6"]
W, M, G = 1200, 24, 24  # width, margin, gap between the two panels of a row
PW = (W - 2 * M - G) / 2  # a panel's width
X1, X2 = M, M + PW + G  # the left and the right panel
CH = 210  # height of the line charts
LW = 150  # label width of the phase bars


# --- drawing -------------------------------------------------------------------------------------

def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class Svg:
    def __init__(self, w):
        self.w = w
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def rect(self, x, y, w, h, fill, rx=0, extra=""):
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(0, w):.1f}" height="{max(0, h):.1f}" rx="{rx}" fill="{fill}" {extra}/>')

    def line(self, x1, y1, x2, y2, stroke="#334155", w=1, extra=""):
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{w}" {extra}/>')

    def text(self, x, y, s, size=12, anchor="start", fill="#0f172a", weight="normal", extra=""):
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
                 f'font-weight="{weight}" {extra}>{esc(s)}</text>')

    def render(self, h):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{h}" viewBox="0 0 {self.w} {h}" '
                f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
                f'<rect width="{self.w}" height="{h}" fill="#ffffff"/>\n')
        return head + "\n".join(self.parts) + "\n</svg>\n"


def nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def panel_title(s, x, y, w, title, sub=None):
    s.text(x, y + 16, title, size=14, weight="bold")
    if sub:
        s.text(x + w, y + 16, sub, size=10.5, anchor="end", fill="#64748b")


def hbars(s, x, y, w, rows, unit, label_w=118, row_h=26, scale=1.0, digits=None, marks=()):
    """rows: [(key, label, stats, reference stats or None)] → horizontal bars (median) with
    p10–p90 whiskers, the value and the ratio to the reference; marks: [(value, label)] dashed
    vertical lines (a target)."""
    vals = [r for r in rows if r[2] and r[2].get("n")]
    if not vals:
        s.text(x, y + 20, "no data", fill="#64748b")
        return y + 30
    top = nice_max(max(max(st.get("p90", st["median"]), st["median"]) * scale for _, _, st, _ in vals))
    bw = w - label_w - 150
    for i, (k, lab, st, ref) in enumerate(vals):
        yy = y + i * row_h
        col = RT_COLORS.get(k.split("/")[0], "#475569")
        s.text(x + label_w - 8, yy + 15, lab, anchor="end", size=12, weight="bold" if k.startswith("voidoci") else "normal")
        m = st["median"] * scale
        s.rect(x + label_w, yy + 4, bw * m / top, row_h - 10, col, rx=2)
        hi = m
        if st["n"] >= 3:
            x1, x2 = x + label_w + bw * st["p10"] * scale / top, x + label_w + bw * st["p90"] * scale / top
            cy = yy + row_h / 2 - 1
            s.line(x1, cy, x2, cy, "#0f172a", 1)
            s.line(x1, cy - 4, x1, cy + 4, "#0f172a", 1)
            s.line(x2, cy - 4, x2, cy + 4, "#0f172a", 1)
            hi = max(m, st["p90"] * scale)
        t = f"{num(m, digits)} {unit}"
        if ref and ref.get("n") and ref is not st:
            t += f"  {st['median'] / ref['median']:.2f}× crun"
        s.text(x + label_w + bw * hi / top + 6, yy + 15, t, size=11, fill="#334155")
    for v, lab in marks:
        if v is None:
            continue
        mx = x + label_w + bw * v * scale / top
        s.line(mx, y - 4, mx, y + len(vals) * row_h - 4, "#dc2626", 1, extra='stroke-dasharray="4,3"')
        s.text(mx, y - 7, lab, size=10, anchor="middle", fill="#dc2626")
    return y + len(vals) * row_h


def legend(s, x, y, items, size=11):
    for lab, col in items:
        s.rect(x, y - 9, 10, 10, col, rx=2)
        s.text(x + 14, y, lab, size=size, fill="#334155")
        x += 22 + len(lab) * size * 0.58
    return x


def line_chart(s, x, y, w, h, series, xs, xlabels, log_x, ylab, fails=None, xtitle=None):
    """series: {key: [y or None]} at xs. Axes, gridlines, a line and dots per series."""
    allv = [v for vs in series.values() for v in vs if v is not None]
    if not allv:
        s.text(x, y + 20, "no data", fill="#64748b")
        return
    top = nice_max(max(allv))
    left, bottom = x + 46, y + h - 24
    pw, ph = w - 60, h - 34
    if log_x:
        lo, hi = math.log10(min(xs)), math.log10(max(xs))
        px = [left + (pw * (math.log10(v) - lo) / (hi - lo) if hi > lo else pw / 2) for v in xs]
    else:
        px = [left + pw * (i / (len(xs) - 1) if len(xs) > 1 else 0.5) for i in range(len(xs))]
    for i in range(5):
        v = top * i / 4
        yy = bottom - ph * v / top
        s.line(left, yy, left + pw, yy, "#e2e8f0", 1)
        s.text(left - 6, yy + 4, num(v), size=10, anchor="end", fill="#64748b")
    s.line(left, bottom, left + pw, bottom, "#94a3b8", 1)
    for xx, lab in zip(px, xlabels):
        s.line(xx, bottom, xx, bottom + 4, "#94a3b8", 1)
        s.text(xx, bottom + 16, lab, size=10.5, anchor="middle", fill="#334155")
    s.text(x + 2, y + 6, ylab, size=10, fill="#64748b")
    if xtitle:
        s.text(left + pw / 2, bottom + 30, xtitle, size=10, anchor="middle", fill="#64748b")
    for k, vs in series.items():
        col = RT_COLORS.get(k, "#475569")
        pts = [(px[i], bottom - ph * v / top) for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            s.add(f'<polyline fill="none" stroke="{col}" stroke-width="{2.5 if k == "voidoci" else 1.8}" points="' +
                  " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for i, (a, b) in enumerate(pts):
            s.add(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.2" fill="{col}"/>')
        if fails:
            for i, f in enumerate(fails.get(k, [])):
                if f and vs[i] is not None:
                    s.text(px[i] + 5, bottom - ph * vs[i] / top - 6, f"✗{f}", size=10, fill="#dc2626", weight="bold")


# --- the chart -----------------------------------------------------------------------------------

def svg(R):
    s = Svg(W)
    y = header(s, R, M)
    y = badges(s, R, y)
    y = row_run_lifecycle(s, R, y)
    y = row_podman_rss(s, R, y)
    y = row_binds_concurrency(s, R, y)
    y = row_phases(s, R, y)
    hs = R.get("host_state", {})
    y += 10
    s.text(M, y + 4, f"host state after every section: {'clean' if hs.get('clean') else 'NOT CLEAN'} · "
           f"failed runs: {len(R.get('failures', []))} · generated by bench/run.py from results.json",
           size=11, fill="#16a34a" if hs.get("clean") and not R.get("failures") else "#dc2626")
    return s.render(int(y + 20))


def header(s, R, y):
    s.text(M, y + 20, "voidoci benchmarks", size=22, weight="bold")
    s.text(W - M, y + 20, f"{R.get('started', '')[:10]} · {R.get('mode', '')} run · medians, whiskers p10–p90",
           size=12, anchor="end", fill="#475569")
    hw, tools, load = machine_line(R)
    s.text(M, y + 42, hw, size=11.5, fill="#475569")
    s.text(M, y + 58, tools + (f"; {load}" if load else ""), size=11.5, fill="#475569")
    return y + 74


def badges(s, R, y):
    """The targets as badges, wrapped to the width."""
    x = M
    for t in R.get("targets", []):
        ok = t["met"]
        label = f"{'✓' if ok else '✗' if ok is not None else '?'} {t['target']}: {target_value(t['value'])}"
        wdt = 10 + len(label) * 6.1
        if x + wdt > W - M:
            x = M
            y += 26
        fill, stroke = ("#dcfce7", "#16a34a") if ok else (("#fee2e2", "#dc2626") if ok is not None else ("#f1f5f9", "#94a3b8"))
        s.rect(x, y, wdt, 20, fill, rx=10, extra=f'stroke="{stroke}" stroke-width="1"')
        s.text(x + 8, y + 14, label, size=11, fill="#0f172a")
        x += wdt + 8
    return y + 36


def row_run_lifecycle(s, R, y):
    run = get(R, "run", "results") or {}
    panel_title(s, X1, y, PW, f"run {get(R, 'run', 'program') or '/bin/true'}: wall time",
                f"hyperfine, {get(R, 'run', 'runs')} runs")
    crun = run.get("crun")
    ya = hbars(s, X1, y + 40, PW, [(k, RT_NAMES[k], run.get(k), crun) for k in ALL], "ms",
               marks=[(0.7 * crun["median"] if crun and crun.get("n") else None, "target: 0.70× crun")])
    panel_title(s, X2, y, PW, "OCI lifecycle: create + start + wait + delete", f"{get(R, 'lifecycle', 'iterations')} iterations, medians")
    yb = lifecycle_bars(s, R, y + 28)
    return max(ya, yb) + 22


def lifecycle_bars(s, R, yb):
    """A stacked bar of the lifecycle steps per OCI runtime."""
    lc = get(R, "lifecycle", "results") or {}
    if not lc:
        return yb
    tot = nice_max(max(sum((lc[k].get(st) or {}).get("median", 0) for st in STEP_COLORS) for k in OCI) or 1)
    bw = PW - 118 - 120
    for i, k in enumerate(OCI):
        yy = yb + i * 30
        s.text(X2 + 110, yy + 16, k, anchor="end", weight="bold" if k == "voidoci" else "normal")
        xx = X2 + 118
        total = 0
        for st, col in STEP_COLORS.items():
            v = (lc[k].get(st) or {}).get("median", 0)
            s.rect(xx, yy + 5, bw * v / tot, 18, col)
            xx += bw * v / tot
            total += v
        r = get(R, "lifecycle", "ratio_to_crun", k, "total")
        s.text(xx + 6, yy + 18, f"{num(total)} ms" + (f"  {r:.2f}× crun" if r and k != "crun" else ""), size=11, fill="#334155")
    legend(s, X2 + 118, yb + 3 * 30 + 14, [(k, c) for k, c in STEP_COLORS.items()])
    return yb + 3 * 30 + 24


def row_podman_rss(s, R, y):
    pod = get(R, "podman", "results") or {}
    panel_title(s, X1, y, PW, "podman run --rm /bin/true", f"{get(R, 'podman', 'runs') or 0} runs each")
    rows = []
    for net, lab in (("default", ""), ("none", " · net none")):
        for k in OCI:
            if pod:
                rows.append((f"{k}/{net}", f"{k}{lab}", pod[k][net], pod["crun"][net]))
    if rows:
        ya = hbars(s, X1, y + 28, PW, rows, "ms", label_w=138, row_h=24)
    else:
        s.text(X1, y + 48, get(R, "podman", "skipped") or get(R, "podman", "error") or "no data", fill="#64748b")
        ya = y + 60
    rss = get(R, "rss", "results") or {}
    panel_title(s, X2, y, PW, "peak RSS of the runtime process (run)", "/usr/bin/time -f %M, median")
    yb = hbars(s, X2, y + 28, PW, [(k, RT_NAMES[k], get(rss, k, "run"), get(rss, "crun", "run")) for k in ALL if k in rss],
               "MiB", scale=1 / 1024, digits=1)
    return max(ya, yb) + 22


def row_binds_concurrency(s, R, y):
    b = R.get("binds", {})
    panel_title(s, X1, y, PW, "binds in config.json: run wall time", "ms, median")
    if b.get("results"):
        sizes = b["sizes"]
        series = {k: [get(b, "results", k, str(n), "median") for n in sizes] for k in OCI}
        line_chart(s, X1, y + 30, PW, CH - 30, series, sizes, [str(n) for n in sizes], True, "ms",
                   xtitle="binds (log scale)")
        fit = b.get("fit", {})
        legend(s, X1 + 50, y + CH + 28, [(f"{k} {num(get(fit, k, 'per_bind_ms'), 3)} ms/bind", RT_COLORS[k]) for k in OCI])
    c = R.get("concurrency", {})
    panel_title(s, X2, y, PW, "concurrent voids: time per void (batch wall / n)", "ms, median; ✗ = failures")
    if c.get("results"):
        lv = c["levels"]
        series = {k: [get(c, "results", k, str(n), "time_per_void_ms", "median") for n in lv] for k in OCI}
        fails = {k: [get(c, "results", k, str(n), "failures") for n in lv] for k in OCI}
        line_chart(s, X2, y + 30, PW, CH - 30, series, lv, [str(n) for n in lv], False, "ms / void", fails,
                   xtitle="voids started at once")
        tf = sum(f or 0 for fs in fails.values() for f in fs)
        legend(s, X2 + 50, y + CH + 28, [(k, RT_COLORS[k]) for k in OCI] + [(f"{tf} failed", "#dc2626" if tf else "#16a34a")])
    return y + CH + 54


def stacked(s, y, parts, label, sub, colors):
    """One full-width bar of parts [(name, ms)]; the y below it."""
    tot = sum(p[1] for p in parts) or 1
    bw = W - 2 * M - LW
    s.text(M + LW - 8, y + 13, label, anchor="end", size=12, weight="bold")
    s.text(M + LW - 8, y + 26, sub, anchor="end", size=10, fill="#64748b")
    xx = M + LW
    for (name, v), col in zip(parts, colors):
        wdt = bw * v / tot
        s.rect(xx, y, wdt, 26, col)
        if wdt > 40:
            s.text(xx + wdt / 2, y + 17, num(v), size=11, anchor="middle", fill="#ffffff", weight="bold")
        xx += wdt
    return y + 36


def keys(s, y, parts, colors, cols):
    """The key of a stacked bar in cols columns: name, ms and share of each part."""
    cw = (W - 2 * M) / cols
    rows_n = math.ceil(len(parts) / cols)
    tot = sum(p[1] for p in parts) or 1
    for i, ((name, v), col) in enumerate(zip(parts, colors)):
        cx = M + (i // rows_n) * cw
        cy = y + 6 + (i % rows_n) * 17
        s.rect(cx, cy - 10, 11, 11, col, rx=2)
        s.text(cx + 16, cy, f"{name}: {num(v)} ms ({100 * v / tot:.0f} %)", size=11, fill="#334155")
    return y + rows_n * 17 + 14


def row_phases(s, R, y):
    ph = R.get("phases", {})
    panel_title(s, M, y, W - 2 * M, "inside voidoci run: where the time goes", "see bench/README.md for the method")
    y += 30
    ub = ph.get("untraced_breakdown") or {}
    light = get(ph, "light", "phases") or []
    if ub:
        parts = [(p.get("short", p["part"]), p["ms"]) for p in ub["parts"]]
        cols = ["#0f172a", "#7c3aed", "#dc2626", "#0891b2"]
        y = stacked(s, y, parts, "untraced", f"run {num(ub['total_ms'])} ms", cols)
        y = keys(s, y, parts, cols, 2)
    if light:
        parts = [(p["phase"], p["ms"]) for p in light]
        cols = [PHASE_COLORS[i % len(PHASE_COLORS)] for i in range(len(parts))]
        w = ph.get("wall_ms", {})
        y = stacked(s, y, parts, "light strace",
                    f"stretched ×{(get(w, 'strace_light', 'median') or 0) / (get(w, 'untraced', 'median') or 1):.1f}", cols)
        y = keys(s, y, parts, cols, 3)
    if not (ub or light):
        s.text(M, y + 14, get(ph, "error") or "no phase data", fill="#64748b")
        return y + 24
    for f in phase_facts(ph):
        s.text(M, y + 4, f, size=11, fill="#475569")
        y += 17
    return y


def phase_facts(ph):
    """One line each: syscalls of the full trace, strace -c per runtime, the CPU profile."""
    full = ph.get("full", {})
    sc = ph.get("strace_c", {})
    perf = ph.get("perf", {})
    facts = []
    if full.get("syscalls"):
        facts.append(f"full trace: {full['syscalls']} syscalls (voidoci {full.get('syscalls_main')}, void init {full.get('syscalls_void')})")
    if sc:
        facts.append("strace -c per run: " + ", ".join(f"{k} {get(sc, k, 'total_calls_median')}" for k in OCI if k in sc))
    if perf.get("samples"):
        mods = ", ".join(f"{m['module']} {num(m['percent'])}%" for m in perf.get("user_by_module", [])[:4])
        facts.append(f"perf: {num(perf['cpu_ms_per_run'])} ms CPU per run, kernel {num(perf['kernel_percent'])}%, "
                     f"user {num(perf['user_percent'])}% ({mods})")
    return facts

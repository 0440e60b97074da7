"""How figures are written in results.md and chart.svg alike: numbers, 'median (p10–p90)'
cells, ratios, target values, the machine's description; and a safe path lookup in results."""

ALL = ["floor", "bwrap", "voidoci", "crun", "runc"]
OCI = ["voidoci", "crun", "runc"]


def num(x, digits=None):
    if x is None:
        return "–"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:.{digits}f}"


def cell(s, scale=1.0, spread=True):
    """'median (p10–p90)' of a stats dict."""
    if not s or not s.get("n"):
        return "–"
    m = s["median"] * scale
    if not spread or s["n"] < 3:
        return num(m)
    return f"{num(m)} ({num(s['p10'] * scale)}–{num(s['p90'] * scale)})"


def rcell(r):
    return "–" if r is None else f"{r:.2f}×"


def target_value(v):
    """A target's measured value: a ratio as 0.77×, a count as is."""
    return "–" if v is None else (f"{v:.2f}×" if isinstance(v, float) else str(v))


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def machine_line(R):
    """(hardware and system, tools and versions, load at start) of results.json → machine."""
    m = R.get("machine", {})
    v = m.get("versions", {})
    parts = [f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB",
             f"{m.get('os', '?')}, kernel {m.get('kernel', '?')}, cgroups {m.get('cgroups', '?')}"]
    if m.get("virtualization"):
        parts[0] += f" ({m['virtualization']})"
    tools = [f"voidoci {(v.get('voidoci') or '?').replace('voidoci version ', '')}"
             + (f" ({v['voidoci_commit']})" if v.get("voidoci_commit") else "")]
    for t in ("crun", "runc", "bwrap", "podman", "hyperfine"):
        if v.get(t):
            tools.append(v[t].replace(" version", ""))
    la = m.get("loadavg_start")
    load = f"load average {la[0]:.2f} at start" if la else ""
    return "; ".join(parts), ", ".join(tools), load

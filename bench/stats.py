"""The statistics of the suite: median and spread of a sample, ratios of medians, a one-sided
Mann-Whitney test, and the least-squares line of the binds section."""

import math
import statistics


def stats(values):
    """Median and spread of a list of numbers (ms or KiB); None entries are ignored."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return {"n": 0}
    out = {"n": len(v), "median": statistics.median(v), "mean": statistics.fmean(v),
           "stddev": statistics.stdev(v) if len(v) > 1 else 0.0, "min": v[0], "max": v[-1]}
    if len(v) >= 2:
        q = statistics.quantiles(v, n=20, method="inclusive")  # 5% steps
        out.update(p10=q[1], p25=q[4], p75=q[14], p90=q[17])
    else:
        out.update(p10=v[0], p25=v[0], p75=v[0], p90=v[0])
    return {k: (round(x, 4) if isinstance(x, float) else x) for k, x in out.items()}


def _ranks(pooled):
    """Ranks of a sorted sample (ties get their mean rank) and the tie correction Σ(t³ − t)."""
    n = len(pooled)
    ranks, ties, i = [0.0] * n, 0.0, 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    return ranks, ties


def slower_p(a, b):
    """One-sided p-value that the values in a tend to be larger than those in b: Mann-Whitney U,
    normal approximation with tie correction and continuity correction (n of 20 or more each).
    None when either sample is too small."""
    n1, n2 = len(a), len(b)
    if n1 < 8 or n2 < 8:
        return None
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    n = n1 + n2
    ranks, ties = _ranks(pooled)
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (u1 - n1 * n2 / 2 - 0.5) / sigma
    return round(0.5 * math.erfc(z / math.sqrt(2)), 4)


def ratio(a, b):
    """a's median / b's median; None when either is missing or had failed runs."""
    if not a or not b or a.get("n", 0) == 0 or b.get("n", 0) == 0 or not b["median"]:
        return None
    if a.get("failures") or b.get("failures"):
        return None
    return round(a["median"] / b["median"], 3)


def linear_fit(xs, ys):
    """Least squares t = a + b·n over the sizes, R², and the per-bind cost in the low (1→100) and
    high (100→1000) ranges: their ratio ("superlinearity") is ~1 for linear growth."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in pts)
    d = dict(pts)
    low = (d[100] - d[1]) / 99 if 1 in d and 100 in d else None
    high = (d[1000] - d[100]) / 900 if 100 in d and 1000 in d else None
    sup = round(high / low, 3) if low and high and low > 0 else None
    return {"intercept_ms": round(a, 3), "per_bind_ms": round(b, 5),
            "r2": round(1 - ss_res / ss_tot, 5) if ss_tot else None,
            "per_bind_ms_low": round(low, 5) if low is not None else None,
            "per_bind_ms_high": round(high, 5) if high is not None else None,
            "superlinearity": sup}

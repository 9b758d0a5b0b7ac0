#!/usr/bin/env python3
"""Plots docs/perf-scaling.csv (time per machine input against population size) as
docs/perf-scaling.svg: log-log axes, one line per series. Rows whose value is TODO are skipped.
Standard library only; the SVG is written by hand.

    python3 docs/perf-scaling.py
"""
import csv
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "perf-scaling.csv")
SVG = os.path.join(HERE, "perf-scaling.svg")
W, H = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 190, 40, 60
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def read_series():
    series = {}
    with open(CSV) as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            value = row["ns_per_input"].strip()
            if not value or value == "TODO":
                continue
            series.setdefault(row["series"], []).append((float(row["users"]), float(value)))
    return {name: sorted(points) for name, points in series.items()}


def decades(lo, hi):
    return list(range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1))


def main():
    series = read_series()
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    xd, yd = decades(min(xs), max(xs)), decades(min(ys), max(ys))
    x0, x1, y0, y1 = xd[0], xd[-1], yd[0], yd[-1]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log10(x) - x0) / (x1 - x0) * pw

    def py(y):
        return TOP + ph - (math.log10(y) - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">'
        "Time per machine input vs population (log-log)</text>",
    ]
    for d in xd:
        x = px(10**d)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 18}" text-anchor="middle">1e{d}</text>')
    for d in yd:
        y = py(10**d)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{10**d:g}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 18}" text-anchor="middle">users</text>')
    out.append(
        f'<text x="18" y="{TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + ph / 2})">ns per input (wall)</text>'
    )
    for i, (name, points) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}"/>')
            out.append(
                f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}" font-size="10" fill="{color}">{y:g}</text>'
            )
        ly = TOP + 16 + 20 * i
        out.append(f'<line x1="{LEFT + pw + 14}" y1="{ly}" x2="{LEFT + pw + 36}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{LEFT + pw + 42}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(SVG, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {SVG}: {', '.join(f'{k} ({len(v)} points)' for k, v in sorted(series.items()))}")


if __name__ == "__main__":
    main()

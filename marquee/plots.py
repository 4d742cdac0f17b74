"""Small dependency-free SVG charts for Dagster asset metadata.

The Dagster UI renders Markdown metadata, including images given as data URIs, so a learning
curve or a metric comparison can be seen on the asset page without a plotting library.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

PALETTE = ("#4f46e5", "#db2777", "#059669", "#d97706", "#0891b2", "#7c3aed")


def line_chart_svg(
    series: dict[str, Sequence[float | None]],
    title: str,
    x_label: str = "epoch",
    width: int = 560,
    height: int = 260,
) -> str:
    """One line per series over x = 1..n; each series scaled to its own min..max (labelled)."""
    left, right, top, bottom = 48, 150, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(v) for v in series.values()), default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_esc(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">{_esc(x_label)}</text>',
    ]
    for i in range(n):
        x = left + (plot_w * i / max(n - 1, 1))
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{i + 1}</text>')
    for idx, (name, values) in enumerate(series.items()):
        color = PALETTE[idx % len(PALETTE)]
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        if not points:
            continue
        lo, hi = min(v for _, v in points), max(v for _, v in points)
        span = (hi - lo) or 1.0
        coords = [
            (left + plot_w * i / max(n - 1, 1), top + plot_h - plot_h * (v - lo) / span) for i, v in points
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in coords]
        ly = top + 14 + idx * 30
        parts.append(f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{left + plot_w + 26}" y="{ly}">{_esc(name)}</text>')
        parts.append(
            f'<text x="{left + plot_w + 26}" y="{ly + 13}" fill="#666">{lo:.4g} – {hi:.4g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart_svg(values: dict[str, float], title: str, width: int = 560, bar_h: int = 22) -> str:
    """Horizontal bars, one per label, scaled to the largest value."""
    left, top = 130, 30
    height = top + bar_h * len(values) + 16
    top_value = max(values.values(), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{_esc(title)}</text>',
    ]
    for i, (label, value) in enumerate(values.items()):
        y = top + i * bar_h
        w = (width - left - 70) * value / top_value
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_esc(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}">{value:.4f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_markdown(svg: str, alt: str) -> str:
    """Markdown image with the SVG inlined as a data URI (renders in the Dagster UI)."""
    data = base64.b64encode(svg.encode()).decode()
    return f"![{_esc(alt)}](data:image/svg+xml;base64,{data})"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

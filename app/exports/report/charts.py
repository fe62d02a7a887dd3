"""Charts of the report as inline SVG, drawn on the server (no script, no external asset).

A horizontal bar chart scales to the page (``viewBox`` with ``width=100%``) and handles negative
values (credits) with a zero line; labels are shortened so nothing leaves the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
ROW = 26
LABEL_W = 230
VALUE_W = 90
PALETTE = ("#2f6f9f", "#4c9a6a", "#c98a2b", "#8a5a9e", "#b44b4b", "#5b7f8c", "#7d8a2e")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def bar_chart(bars: Sequence[Bar], *, title: str, chart_id: str, unit: str) -> str:
    """An accessible SVG bar chart (``role=img`` with a title; each bar a ``rect`` with
    ``data-value``)."""
    if not bars:
        return ""
    lo = min(0.0, *(b.value for b in bars))
    hi = max(0.0, *(b.value for b in bars))
    span = (hi - lo) or 1.0
    plot_x = LABEL_W
    plot_w = WIDTH - LABEL_W - VALUE_W
    zero = plot_x + (0 - lo) / span * plot_w
    height = ROW * len(bars) + 34
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="{escape(chart_id)}-title">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    for i, b in enumerate(bars):
        y = 8 + i * ROW
        x0 = zero if b.value >= 0 else zero + b.value / span * plot_w
        w = abs(b.value) / span * plot_w
        colour = PALETTE[i % len(PALETTE)] if b.value >= 0 else "#888888"
        out.append(
            f'<text x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'class="bar-label">{escape(_short(b.label, 34))}</text>'
        )
        out.append(
            f'<rect class="bar" x="{x0:.2f}" y="{y + 3}" width="{max(w, 0.5):.2f}" '
            f'height="{ROW - 8}" '
            f'fill="{colour}" data-label="{escape(b.label)}" data-value="{b.value!r}"/>'
        )
        out.append(
            f'<text x="{WIDTH - VALUE_W + 6}" y="{y + 15}" font-size="12" class="bar-value">'
            f"{escape(b.text)}</text>"
        )
    axis_y = 8 + len(bars) * ROW
    out.append(
        f'<line x1="{zero:.2f}" y1="4" x2="{zero:.2f}" y2="{axis_y}" stroke="#333" '
        'stroke-width="1"/>'
    )
    out.append(
        f'<text x="{plot_x + plot_w / 2:.2f}" y="{axis_y + 20}" text-anchor="middle" '
        f'font-size="11" fill="#555">{escape(unit)}</text>'
    )
    out.append("</svg>")
    return "".join(out)

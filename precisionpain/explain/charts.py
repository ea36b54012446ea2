"""Inline SVG charts for the clinician report, drawn in Python (no scripts, no fonts or images to fetch).

- :func:`waterfall_svg`: a SHAP waterfall for one option. Bars run in log-odds (bottom axis) from the
  average patient's value to this patient's model output; the top axis shows the same positions as a
  chance of response, and every bar is labelled with its log-odds and its change in percentage points along
  the path. Arrow-shaped bars carry the direction as well as the colour (orange up, blue down; Okabe-Ito
  colour-blind-safe). The chart has a ``<title>`` and a ``<desc>`` that reads it out in full. Text colours
  come from the page's stylesheet (classes ``wf-*``).
- :func:`probability_bar_svg`: a small bar with the calibrated probability and its interval (decorative;
  the numbers are printed next to it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from precisionpain.explain import display

if TYPE_CHECKING:
    from precisionpain.explain.report import OptionWhy

UP_FILL = "#D55E00"  # Okabe-Ito vermilion: raises the chance of response
DOWN_FILL = "#0072B2"  # Okabe-Ito blue: lowers it
NET_FILL = "#4B5563"
GRID = "#E5E7EB"
AXIS = "#6B7280"
INK = "#111827"

PROBABILITY_TICKS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.45,
    0.5,
    0.55,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.9,
    0.95,
    0.98,
    0.99,
)
LOG_ODDS_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class WaterfallLayout:
    width: int = 740
    plot_x0: int = 300
    plot_x1: int = 580
    value_x: int = 592
    row_h: int = 26
    top: int = 40
    bottom: int = 38
    bar_h: int = 16
    label_chars: int = 46  # longest single-line label + value before it wraps onto two lines
    min_span: float = 1.0  # narrowest x range in log-odds, so small effects do not look large


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _x_range(points: Sequence[float], min_span: float) -> tuple[float, float]:
    lo, hi = min(points), max(points)
    span = hi - lo
    if span < min_span:
        mid = (lo + hi) / 2
        lo, hi, span = mid - min_span / 2, mid + min_span / 2, min_span
    pad = 0.06 * span
    return lo - pad, hi + pad


def _probability_ticks(lo: float, hi: float, scale: float, min_gap_px: float = 34.0) -> list[float]:
    inside = [p for p in PROBABILITY_TICKS if lo <= display.logit(p) <= hi]
    chosen: list[float] = []
    # 50% first when visible, then outwards, keeping labels apart
    for p in sorted(inside, key=lambda q: abs(q - 0.5)):
        x = display.logit(p) * scale
        if all(abs(x - display.logit(c) * scale) >= min_gap_px for c in chosen):
            chosen.append(p)
    return sorted(chosen)


def _log_odds_ticks(lo: float, hi: float) -> list[float]:
    for step in LOG_ODDS_STEPS:
        first = math.ceil(lo / step)
        last = math.floor(hi / step)
        if last - first <= 6:
            return [round(k * step, 6) for k in range(first, last + 1)]
    step = LOG_ODDS_STEPS[-1]
    return [round(k * step, 6) for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def _arrow(x0: float, x1: float, y: float, h: float) -> str:
    """A horizontal bar from x0 to x1 with a pointed end at x1 (direction readable without colour)."""
    half = h / 2
    length = abs(x1 - x0)
    if length < 1.0:
        return f'<line x1="{_fmt(x0)}" y1="{_fmt(y - half)}" x2="{_fmt(x0)}" y2="{_fmt(y + half)}" stroke-width="2"/>'
    tip = min(6.0, length)
    sign = 1.0 if x1 >= x0 else -1.0
    shoulder = x1 - sign * tip
    pts = [(x0, y - half), (shoulder, y - half), (x1, y), (shoulder, y + half), (x0, y + half)]
    return '<polygon points="' + " ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in pts) + '"/>'


def _label(x: float, y: float, label: str, value: str, chars: int) -> str:
    lab = escape(label)
    val = escape(value)
    if len(label) + len(value) + 3 <= chars:
        return (
            f'<text x="{_fmt(x)}" y="{_fmt(y + 4)}" class="wf-label">{lab}'
            f'<tspan class="wf-value"> = {val}</tspan></text>'
        )
    if len(label) > chars:
        lab = escape(label[: chars - 1] + "\u2026")
    if len(value) > chars:
        val = escape(value[: chars - 1] + "\u2026")
    return (
        f'<text x="{_fmt(x)}" y="{_fmt(y - 2)}" class="wf-label">{lab}</text>'
        f'<text x="{_fmt(x)}" y="{_fmt(y + 10)}" class="wf-value">{val}</text>'
    )


def waterfall_description(why: OptionWhy) -> str:
    """The chart read out in words (the SVG's ``<desc>``)."""
    parts = [
        f"Starts at the average patient: {display.percent(why.p_base)} "
        f"({display.signed(why.base_value)} log-odds)."
    ]
    for s in why.steps:
        if s.kind == "other":
            what = f"{s.label} together"
            direction = "raise" if s.shap_value > 0 else "lower" if s.shap_value < 0 else "do not change"
        else:
            what = f"{s.label} = {s.display_value}"
            direction = "raises" if s.shap_value > 0 else "lowers" if s.shap_value < 0 else "does not change"
        parts.append(
            f"{what} {direction} it by {abs(s.shap_value):.2f} log-odds "
            f"({display.points(s.delta_p, suffix=' percentage points')})."
        )
    parts.append(
        f"Model output for this patient: {display.percent(why.p_margin)} ({display.signed(why.margin)} log-odds) "
        f"before calibration; calibrated estimate {display.percent(why.p_response)}."
    )
    return " ".join(parts)


def waterfall_svg(why: OptionWhy, chart_id: str, layout: WaterfallLayout | None = None) -> str:
    """One option's SHAP waterfall as an inline SVG element."""
    lay = layout or WaterfallLayout()
    points = [why.base_value, why.margin, *(s.start for s in why.steps), *(s.end for s in why.steps)]
    lo, hi = _x_range(points, lay.min_span)
    scale = (lay.plot_x1 - lay.plot_x0) / (hi - lo)

    def x(v: float) -> float:
        return lay.plot_x0 + (v - lo) * scale

    n_rows = len(why.steps) + 2
    plot_top = lay.top
    plot_bottom = lay.top + n_rows * lay.row_h
    height = plot_bottom + lay.bottom
    out: list[str] = []
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    out.append(
        f'<svg class="waterfall" viewBox="0 0 {lay.width} {height}" width="{lay.width}" height="{height}" '
        f'role="img" aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">'
    )
    out.append(
        f'<title id="{title_id}">Why the model estimates {escape(display.percent(why.p_response))} for '
        f"{escape(why.display_name)}: contributions of this patient's inputs</title>"
    )
    out.append(f'<desc id="{desc_id}">{escape(waterfall_description(why))}</desc>')

    # grid and top axis: chance of response
    p_ticks = _probability_ticks(lo, hi, scale)
    out.append(f'<g class="wf-grid" stroke="{GRID}" stroke-width="1">')
    for p in p_ticks:
        xp = x(display.logit(p))
        out.append(f'<line x1="{_fmt(xp)}" y1="{plot_top - 6}" x2="{_fmt(xp)}" y2="{plot_bottom}"/>')
    out.append("</g>")
    out.append(f'<g class="wf-axis" fill="{AXIS}" font-size="11">')
    out.append(
        f'<text x="{lay.plot_x0 - 10}" y="{plot_top - 12}" text-anchor="end" class="wf-caption">'
        "Chance of response</text>"
    )
    for p in p_ticks:
        out.append(
            f'<text x="{_fmt(x(display.logit(p)))}" y="{plot_top - 12}" text-anchor="middle">'
            f"{escape(display.percent(p))}</text>"
        )
    # bottom axis: log-odds
    out.append(
        f'<line x1="{lay.plot_x0}" y1="{plot_bottom + 2}" x2="{lay.plot_x1}" y2="{plot_bottom + 2}" '
        f'stroke="{AXIS}"/>'
    )
    for t in _log_odds_ticks(lo, hi):
        xt = x(t)
        out.append(
            f'<line x1="{_fmt(xt)}" y1="{plot_bottom + 2}" x2="{_fmt(xt)}" y2="{plot_bottom + 6}" stroke="{AXIS}"/>'
        )
        if xt < lay.plot_x0 + 16:  # keep clear of the axis caption
            continue
        out.append(
            f'<text x="{_fmt(xt)}" y="{plot_bottom + 18}" text-anchor="middle">'
            f"{escape(display.tick(t))}</text>"
        )
    out.append(
        f'<text x="{lay.plot_x0 - 10}" y="{plot_bottom + 18}" text-anchor="end" class="wf-caption">'
        "Log-odds (model scale)</text>"
    )
    out.append("</g>")

    # reference line at the average patient
    xb = x(why.base_value)
    out.append(
        f'<line x1="{_fmt(xb)}" y1="{plot_top}" x2="{_fmt(xb)}" y2="{plot_bottom}" stroke="{AXIS}" '
        'stroke-dasharray="3 3"/>'
    )

    def row_y(i: int) -> float:
        return plot_top + i * lay.row_h + lay.row_h / 2

    # row 0: starting point
    y0 = row_y(0)
    out.append(
        f'<text x="0" y="{_fmt(y0 + 4)}" class="wf-label wf-total">Average patient (starting point)</text>'
    )
    out.append(f'<circle cx="{_fmt(xb)}" cy="{_fmt(y0)}" r="4.5" fill="{INK}"/>')
    out.append(
        f'<text x="{lay.value_x}" y="{_fmt(y0 + 4)}" class="wf-num">'
        f"{escape(display.percent(why.p_base))} · {escape(display.signed(why.base_value))}</text>"
    )

    # contributions
    for i, s in enumerate(why.steps, start=1):
        y = row_y(i)
        up = s.shap_value >= 0
        fill = UP_FILL if up else DOWN_FILL
        direction = "up" if up else "down"
        value = s.display_value
        if s.outside_training_range:
            value += " (outside training range)"
        if s.kind == "other":
            out.append(f'<text x="0" y="{_fmt(y + 4)}" class="wf-label wf-other">{escape(s.label)}</text>')
        else:
            out.append(_label(0, y, s.label, value, lay.label_chars))
        out.append(
            f'<g fill="{fill}" stroke="{fill}" class="wf-bar wf-{direction}">'
            f"{_arrow(x(s.start), x(s.end), y, lay.bar_h)}</g>"
        )
        if i < len(why.steps):
            out.append(
                f'<line class="wf-link" x1="{_fmt(x(s.end))}" y1="{_fmt(y + lay.bar_h / 2)}" '
                f'x2="{_fmt(x(s.end))}" y2="{_fmt(y + lay.row_h - lay.bar_h / 2)}"/>'
            )
        out.append(
            f'<text x="{lay.value_x}" y="{_fmt(y + 4)}" class="wf-num wf-num-{direction}">'
            f"{escape(display.signed(s.shap_value))} "
            f'<tspan class="wf-pts">({escape(display.points(s.delta_p))})</tspan></text>'
        )

    # last row: this patient's model output (net bar from the starting point)
    y_end = row_y(n_rows - 1)
    xm = x(why.margin)
    out.append(
        f'<text x="0" y="{_fmt(y_end + 4)}" class="wf-label wf-total">This patient (model output)</text>'
    )
    out.append(
        f'<line x1="{_fmt(xb)}" y1="{_fmt(y_end)}" x2="{_fmt(xm)}" y2="{_fmt(y_end)}" stroke="{NET_FILL}" '
        'stroke-width="3"/>'
    )
    out.append(
        f'<rect x="{_fmt(xm - 4.5)}" y="{_fmt(y_end - 4.5)}" width="9" height="9" fill="{INK}" '
        f'transform="rotate(45 {_fmt(xm)} {_fmt(y_end)})"/>'
    )
    out.append(
        f'<text x="{lay.value_x}" y="{_fmt(y_end + 4)}" class="wf-num wf-total">'
        f"{escape(display.percent(why.p_margin))} · {escape(display.signed(why.margin))}</text>"
    )
    out.append("</svg>")
    return "".join(out)


def probability_bar_svg(
    p: float, lower: float, upper: float, *, muted: bool = False, width: int = 150
) -> str:
    """A decorative bar: the calibrated probability with its interval (the numbers sit next to it)."""
    h = 18
    fill = "#9CA3AF" if muted else "#5B8DB8"
    whisker = "#374151" if muted else "#0B2545"

    def px(v: float) -> float:
        return max(0.0, min(1.0, v)) * width

    return (
        f'<svg class="pbar" viewBox="0 0 {width} {h}" width="{width}" height="{h}" aria-hidden="true" '
        'focusable="false" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="4" width="{width}" height="10" rx="2" fill="#E5E7EB"/>'
        f'<rect x="0" y="4" width="{_fmt(px(p))}" height="10" rx="2" fill="{fill}"/>'
        f'<line x1="{_fmt(px(0.5))}" y1="2" x2="{_fmt(px(0.5))}" y2="16" stroke="#FFFFFF" '
        'stroke-width="1"/>'
        f'<line x1="{_fmt(px(lower))}" y1="9" x2="{_fmt(px(upper))}" y2="9" stroke="{whisker}" stroke-width="2"/>'
        f'<line x1="{_fmt(px(lower))}" y1="5" x2="{_fmt(px(lower))}" y2="13" stroke="{whisker}" stroke-width="2"/>'
        f'<line x1="{_fmt(px(upper))}" y1="5" x2="{_fmt(px(upper))}" y2="13" stroke="{whisker}" stroke-width="2"/>'
        f'<circle cx="{_fmt(px(p))}" cy="9" r="3" fill="{whisker}"/>'
        "</svg>"
    )

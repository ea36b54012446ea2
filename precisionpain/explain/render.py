"""Render a :class:`~precisionpain.explain.report.Report` as one self-contained HTML page.

The page has no scripts and fetches nothing: the CSS (templates/report.css) is inlined, charts are inline
SVG, links are only followed when clicked, and a Content-Security-Policy forbids every network load. The
Jinja2 environment is built on first use (nothing happens at import time) and autoescapes all text.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from precisionpain.explain import charts, display
from precisionpain.explain.report import (
    ACTION_LABELS,
    BIN_LABELS,
    TIER_LABELS,
    OptionWhy,
    PgxBin,
    Report,
    WaterfallStep,
)
from precisionpain.models.card import MetricKind, ValidationGroup, ValidationRow, validation_table
from precisionpain.schema import CPIC_GROUP_LABELS, BiogeographicGroup, Severity, WarningKind

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"

BIN_ICONS = {
    PgxBin.use_as_directed: "\u2713",
    PgxBin.caution: "!",
    PgxBin.avoid: "\u2715",
    PgxBin.no_recommendation: "\u2013",
    PgxBin.not_tested: "?",
}
BIN_ORDER = (
    PgxBin.use_as_directed,
    PgxBin.caution,
    PgxBin.avoid,
    PgxBin.no_recommendation,
    PgxBin.not_tested,
)

SEVERITY_TITLES = {
    Severity.critical: "Critical",
    Severity.warning: "Warning",
    Severity.info: "Note",
}

SOURCE_LABELS = {"CPIC": "CPIC", "guideline": "Guideline", "catalog": "General", "rule": "Safety rule"}

WARNING_HEADINGS = {
    WarningKind.missing_input: "Missing inputs",
    WarningKind.outside_training_range: "Values outside the range seen in training",
    WarningKind.pgx_not_tested: "Pharmacogenomic results not available",
    WarningKind.pgx_indeterminate: "Indeterminate pharmacogenomic results",
    WarningKind.safety_not_checked: "Safety checks not made (an input they need is missing)",
}

VERDICT_LABELS = {"usable": "Usable", "warning": "Usable with warning", "excluded": "Excluded"}
LEVEL_LABELS = {"contraindicated": "Contraindicated", "warning": "Warning", "info": "Note"}

STRATEGY_TEXT = {
    "t_learner": "a separate gradient-boosted tree model (XGBoost) for each option (T-learner)",
    "s_learner": "one gradient-boosted tree model (XGBoost) with the option as an input (S-learner)",
    "ipw_t_learner": "a separate gradient-boosted tree model (XGBoost) for each option, weighted for who "
    "received which option in the training data (inverse-propensity-weighted T-learner)",
    "x_learner": "gradient-boosted tree models (XGBoost) combined as an X-learner",
    "dr_learner": "gradient-boosted tree models (XGBoost) combined as a doubly robust learner",
}

REPORT_LIMITATIONS = (
    "Drug-drug interactions, kidney and liver function, pregnancy, allergies and the patient's preferences "
    "are not inputs of the model; check them before prescribing.",
    "CPIC guidance covers gene-drug pairs only. Inhibitors such as paroxetine, fluoxetine or bupropion can "
    "make a CYP2D6 normal metabolizer act like a poor metabolizer (phenoconversion).",
    "A probability is an estimate for patients like this one, not a promise for this patient; the interval "
    "shows how uncertain it is.",
)


def _when(iso: str) -> str:
    """``2026-11-22T10:05:00Z`` -> ``22 Nov 2026, 10:05 UTC`` (unparseable text is shown as it is)."""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    text = f"{dt.day} {dt:%b %Y, %H:%M}"
    offset = dt.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return f"{text} UTC"
    return f"{text} (UTC{dt:%z})"


def _group_label(name: str) -> str:
    try:
        return CPIC_GROUP_LABELS[BiogeographicGroup(name)]
    except ValueError:
        return display.humanize(name)


def _figure(kind: MetricKind, value: float) -> str:
    if kind == "rate":
        return f"{100 * value:.0f}%"
    if kind == "points":
        return f"{100 * value:.1f} pts"
    if kind == "gain":
        return display.points(value)
    if kind == "yes_no":
        return "yes" if value >= 0.5 else "no"
    return f"{value:.3f}"


def _metric_value(row: ValidationRow) -> str:
    """The figure as it reads (rates as percentages, probability differences in percentage points, scores with
    three decimals), with its interval when the run recorded one."""
    shown = _figure(row.kind, row.value)
    if row.low is None or row.high is None:
        return shown
    if row.kind == "rate":
        return f"{shown} ({display.percent_range(row.low, row.high)})"
    return f"{shown} ({_figure(row.kind, row.low)} to {_figure(row.kind, row.high)})"


def _validation(report: Report) -> tuple[ValidationGroup, ...]:
    """The validation figures in plain language, grouped and ordered; the per-subgroup gaps have their own
    table (with each group's figure) when it is present."""
    skip_subgroups = bool(report.model.subgroup_gaps)
    figures = report.model.validation_metrics
    return validation_table(
        {k: v for k, v in figures.items() if not (skip_subgroups and k.startswith("subgroup_"))}
    )


GAP_METRICS = {
    "auc": ("Discrimination (AUC)", "score"),
    "ece": ("Calibration error", "points"),
    "calibration": ("Mean estimate minus observed", "points"),
}


def _gap_metric(metric: str) -> str:
    return GAP_METRICS.get(metric, (metric.upper(), "score"))[0]


def _gap_value(metric: str, value: float) -> str:
    kind: MetricKind = "points" if GAP_METRICS.get(metric, ("", "score"))[1] == "points" else "score"
    return _figure(kind, value)


def _drivers(why: OptionWhy, up: bool, n: int = 2) -> list[WaterfallStep]:
    steps = [s for s in why.steps if s.kind == "feature" and (s.shap_value > 0 if up else s.shap_value < 0)]
    return sorted(steps, key=lambda s: -abs(s.shap_value))[:n]


def _driver_text(steps: list[WaterfallStep]) -> str:
    return "; ".join(f"{s.label}: {s.display_value}" for s in steps)


def _weight_text(weight: float) -> str:
    """A utility weight in words: 0.5 -> "half a response", 1 -> "one response", 2 -> "2 responses"."""
    if weight == 0.5:
        return "half a response"
    if weight == 1.0:
        return "one response"
    return f"{weight:g} responses"


def _level(level: float) -> str:
    return f"{100 * level:.0f}%"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=display.percent,
        percent_range=display.percent_range,
        per_hundred=display.per_hundred,
        per_hundred_range=display.per_hundred_range,
        signed=display.signed,
        points=display.points,
        when=_when,
        humanize=display.humanize,
        group_label=_group_label,
        level=_level,
        weight_text=_weight_text,
    )
    env.globals.update(
        BIN_LABELS={b.value: label for b, label in BIN_LABELS.items()},
        BIN_ICONS={b.value: icon for b, icon in BIN_ICONS.items()},
        BIN_ORDER=[b.value for b in BIN_ORDER],
        ACTION_LABELS=ACTION_LABELS,
        SEVERITY_TITLES={s.value: t for s, t in SEVERITY_TITLES.items()},
        WARNING_HEADINGS={k.value: t for k, t in WARNING_HEADINGS.items()},
        SOURCE_LABELS=SOURCE_LABELS,
        VERDICT_LABELS=VERDICT_LABELS,
        TIER_LABELS={t.value: label for t, label in TIER_LABELS.items()},
        LEVEL_LABELS=LEVEL_LABELS,
        metric_value=_metric_value,
        gap_metric=_gap_metric,
        gap_value=_gap_value,
        drivers=_drivers,
        driver_text=_driver_text,
        UP_FILL=charts.UP_FILL,
        DOWN_FILL=charts.DOWN_FILL,
    )
    return env


@cache
def _stylesheet() -> str:
    return (TEMPLATES / STYLESHEET).read_text(encoding="utf-8")


def _context(report: Report) -> dict[str, Any]:
    charted = [w for w in report.explanations if w.chart]
    entries = {o.option_id: o for o in (*report.options, *report.excluded)}
    waterfalls = {w.option_id: Markup(charts.waterfall_svg(w, f"wf-{w.option_id}")) for w in charted}
    bars = {
        o.option_id: Markup(
            charts.probability_bar_svg(o.p_response, o.interval.lower, o.interval.upper, muted=o.excluded)
        )
        for o in (*report.options, *report.excluded)
    }
    warnings_by_kind: dict[str, list[Any]] = {}
    for w in report.warnings:
        warnings_by_kind.setdefault(w.kind.value, []).append(w)
    max_domain = max((abs(t.shap_value) for w in charted for t in w.domain_totals), default=0.0)
    rank_of = {o.option_id: o.rank or 0 for o in report.options}
    return {
        "report": report,
        "css": Markup(_stylesheet()),
        "waterfalls": waterfalls,
        "charted": charted,
        "summarised": [w for w in report.explanations if not w.chart and not w.excluded],
        "excluded_why": [w for w in report.explanations if not w.chart and w.excluded],
        "n_first_line_lower": sum(
            1 for w in charted if not w.excluded and rank_of.get(w.option_id, 0) > report.charted_ranks
        ),
        "entries": entries,
        "bars": bars,
        "warnings_by_kind": warnings_by_kind,
        "max_domain": max_domain or 1.0,
        "strategy_text": STRATEGY_TEXT.get(report.model.strategy, ""),
        "report_limitations": REPORT_LIMITATIONS,
        "bins_present": [b.value for b in BIN_ORDER if report.pgx.in_bin(b)],
        "validation": _validation(report),
    }


_INDENT = re.compile(r"\n[ \t]+")


def render_report(report: Report) -> str:
    """The report as one HTML document (UTF-8 text; template indentation removed to keep it small)."""
    return _INDENT.sub("\n", _environment().get_template(TEMPLATE).render(**_context(report)))

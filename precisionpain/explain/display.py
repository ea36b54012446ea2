"""Plain-language display of values for the clinician report: numbers with units, probabilities, log-odds.

Everything here is a pure function from numbers and catalog metadata to short strings. Units come from the
feature catalog (features/*.yaml): a unit with a space is a scale or a description (``NRS 0-10``,
``CPIC activity score``) and is shown in brackets after the value; a unit starting with ``%`` is glued to the
value; any other unit follows the value after a space. Ordinal codes written in the unit (``PM=0 IM=1 ...``)
are decoded back to their names.
"""

from __future__ import annotations

import math
import re

from precisionpain.catalog.types import FeatureSpec, FeatureType
from precisionpain.pgx.translate import PHENOTYPE_ABBREVIATIONS
from precisionpain.schema import GuidelineTier

MINUS = "\u2212"
EN_DASH = "\u2013"
MISSING = "missing"

#: how the report and the CLI name a guideline tier
#: What a clinician calls each option class (precisionpain.catalog.types.OptionClass); every class has one.
OPTION_CLASS_LABELS: dict[str, str] = {
    "opioid": "Opioid",
    "nsaid": "NSAID",
    "tricyclic_antidepressant": "Tricyclic antidepressant",
    "snri": "SNRI",
    "gabapentinoid": "Gabapentinoid",
    "anticonvulsant": "Anticonvulsant",
    "physical": "Physical therapy",
    "psychological": "Psychological therapy",
    "mind_body": "Mind-body therapy",
    "digital": "Digital therapy",
    "social": "Social support",
    "topical_nsaid": "Topical NSAID",
    "topical": "Topical (patch or plaster)",
    "multidisciplinary": "Multidisciplinary programme",
}


def option_class_label(option_class: str) -> str:
    """An option class in a clinician's words (an id the table lacks is made readable, never shown raw)."""
    return OPTION_CLASS_LABELS.get(option_class) or humanize(option_class)


TIER_LABELS: dict[GuidelineTier, str] = {
    GuidelineTier.first_line: "First line",
    GuidelineTier.second_line: "Second line",
    GuidelineTier.third_line: "Third line",
    GuidelineTier.recommended_against: "Recommended against",
    GuidelineTier.not_addressed: "Not addressed",
}

_CODE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(-?\d+(?:\.\d+)?)")
_RANGE = re.compile(r"(\d)-(\d)")
_NEGATIVE = re.compile(r"(^|\s)-(\d)")


def sigmoid(x: float) -> float:
    """The logistic function, safe for large arguments."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def number(x: float) -> str:
    """A measurement as a clinician writes it: no trailing zeros, thousands separated, a real minus sign."""
    if math.isnan(x):
        return MISSING
    if abs(x - round(x)) < 1e-9:
        text = f"{round(x):,}"
    elif abs(x) >= 100:
        text = f"{x:,.0f}"
    elif abs(x) >= 10:
        text = f"{x:.1f}".rstrip("0").rstrip(".")
    else:
        text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


def unit_text(unit: str) -> str:
    """A catalog unit for display: en dashes in ranges (``NRS 0-10`` -> ``NRS 0–10``); "1" means none."""
    if unit in ("", "1"):
        return ""
    return _RANGE.sub(rf"\1{EN_DASH}\2", _NEGATIVE.sub(rf"\1{MINUS}\2", unit))


def with_unit(value: str, unit: str) -> str:
    """Join a formatted value and a catalog unit (see the module docstring for the three forms)."""
    shown = unit_text(unit)
    if not shown:
        return value
    if shown.startswith("%"):
        return f"{value}{shown}"
    if " " in shown:
        return f"{value} ({shown})"
    return f"{value} {shown}"


def ordinal_codes(unit: str) -> dict[float, str]:
    """Codes written into an ordinal unit, e.g. ``PM=0 IM=1`` -> {0.0: "PM", 1.0: "IM"}."""
    return {float(v): name for name, v in _CODE.findall(unit)}


def _code_name(code: str) -> str:
    full = PHENOTYPE_ABBREVIATIONS.get(code)
    return full[0] + full[1:].lower() if full else code


def unit_in_label(unit: str, label: str) -> bool:
    """True when the label already names the unit (``CYP2D6 activity score`` / ``CPIC activity score``)."""
    if not unit or unit == "1" or unit.startswith("%"):
        return False
    tail = " ".join(unit.split()[-2:]).lower()
    return tail in label.lower()


def feature_value(spec: FeatureSpec, value: float | None) -> str:
    """A model feature's value as the clinician reads it, with its unit ("missing" when absent)."""
    if value is None or math.isnan(value):
        return MISSING
    if spec.type is FeatureType.binary:
        return "yes" if value >= 0.5 else "no"
    if spec.type is FeatureType.ordinal:
        codes = ordinal_codes(spec.unit)
        if codes and value in codes:
            return _code_name(codes[value])
    if unit_in_label(spec.unit, spec.label):
        return number(value)
    return with_unit(number(value), spec.unit)


def percent(p: float) -> str:
    """A probability as a whole percentage ("<1%" and ">99%" at the ends)."""
    pct = 100.0 * p
    if 0.0 < pct < 0.5:
        return "<1%"
    if 99.5 <= pct < 100.0:
        return ">99%"
    return f"{pct:.0f}%"


def percent_range(lower: float, upper: float) -> str:
    return f"{100 * lower:.0f}{EN_DASH}{100 * upper:.0f}%"


def per_hundred(x: float) -> str:
    """A net benefit (a difference of probabilities) per 100 patients: ``45``, ``−3``."""
    value = round(100.0 * x)
    return f"{MINUS if value < 0 else ''}{abs(value)}"


def per_hundred_range(lower: float, upper: float) -> str:
    return f"{per_hundred(lower)} to {per_hundred(upper)}"


def tick(x: float) -> str:
    """An axis tick in log-odds: ``0``, ``+0.25``, ``−1``."""
    if abs(x) < 1e-12:
        return "0"
    text = f"{abs(x):.2f}".rstrip("0").rstrip(".")
    return ("+" if x > 0 else MINUS) + text


def signed(x: float, digits: int = 2) -> str:
    """A signed log-odds value: ``+0.42``, ``−0.40``, ``0.00``."""
    text = f"{abs(x):.{digits}f}"
    if float(text) == 0.0:
        return text
    return ("+" if x > 0 else MINUS) + text


def points(delta: float, *, suffix: str = " pts") -> str:
    """A change in probability (as a fraction) in percentage points: ``+8 pts``, ``−0.6 pts``, ``≈0 pts``."""
    pts = 100.0 * delta
    if abs(pts) < 0.05:
        return f"\u22480{suffix}"
    sign = "+" if pts > 0 else MINUS
    magnitude = abs(pts)
    text = f"{magnitude:.1f}" if magnitude < 10 else f"{magnitude:.0f}"
    return f"{sign}{text}{suffix}"


def humanize(identifier: str) -> str:
    """``tricyclic_antidepressant`` -> ``Tricyclic antidepressant``."""
    text = identifier.replace("_", " ").strip()
    return text[:1].upper() + text[1:]

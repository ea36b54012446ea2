"""Rule levels -> option verdicts: the ONE table (looked up, never re-decided elsewhere).

A level not in the table is a bug, raised as such; the ranking obeys the verdict and never re-decides it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from precisionpain.catalog.safety import RuleLevel


class Verdict(StrEnum):
    usable = "usable"
    warning = "warning"  # ranked, with a prominent caution
    excluded = "excluded"  # never ranked, like a CPIC avoid


#: The one table: what a reason of each level makes of the option it hits.
VERDICT_BY_LEVEL: Mapping[RuleLevel, Verdict] = {
    RuleLevel.contraindicated: Verdict.excluded,
    RuleLevel.warning: Verdict.warning,
    RuleLevel.info: Verdict.usable,
}

#: Severity order of verdicts and levels, worst first (reasons are listed in this order).
VERDICT_SEVERITY: Mapping[Verdict, int] = {Verdict.excluded: 0, Verdict.warning: 1, Verdict.usable: 2}
LEVEL_SEVERITY: Mapping[RuleLevel, int] = {
    level: VERDICT_SEVERITY[v] for level, v in VERDICT_BY_LEVEL.items()
}


def verdict_for(levels: Iterable[RuleLevel]) -> Verdict:
    """The verdict of an option hit by reasons of these levels (no reason: usable)."""
    worst = Verdict.usable
    for level in levels:
        v = VERDICT_BY_LEVEL[level]
        if VERDICT_SEVERITY[v] < VERDICT_SEVERITY[worst]:
            worst = v
    return worst

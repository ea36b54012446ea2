"""CDS Hooks 2.0 cards from the engine's answer: pure functions, no I/O.

Every card has a ``uuid``, a ``summary`` of fewer than 140 characters, an ``indicator`` (info, warning, critical), a
``source`` with a label and, where one exists, a URL (the CPIC guideline or the safety rule's source), a
``detail`` in GitHub-flavoured markdown that opens with the demonstration-model banner while the model learned
from synthetic patients, and links of type ``absolute``. A card about an order that is excluded or warned for the
patient offers ``suggestions`` (``selectionBehavior: at-most-one``): each replaces the draft order with a draft
of a usable alternative, best ranked first, for the alternatives with an RxNorm code (an EHR cannot order an
uncoded medicine; those are named in the detail). Text comes from the catalogs and the engine, escaped for markdown;
patient identifiers never appear.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from precisionpain.schema import DataWarning, RankedOption, RankedRecommendation, SafetyReason, Severity

#: CDS Hooks 2.0: a "One-sentence, <140-character summary".
MAX_SUMMARY_CHARS = 139
#: Ranked options listed on the patient-view card; alternatives offered on an order card.
TOP_OPTIONS = 5
MAX_ALTERNATIVES = 3
BANNER = (
    "> **Demonstration model.** It learned from synthetic patients, not real ones: do not use it to choose "
    "treatment."
)
INDICATOR_ORDER = {"info": 0, "warning": 1, "critical": 2}
OVERRIDE_SYSTEM = "urn:precisionpain:cds-override-reason"
OVERRIDE_REASONS = (
    ("benefit-outweighs-risk", "Benefit outweighs the risk for this patient"),
    ("tolerated-before", "Patient has taken it before without problems"),
    ("data-incorrect", "The patient data behind this alert are wrong"),
)
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"})


def md(text: str) -> str:
    """Text from a catalog or the engine, safe inside markdown (and a table cell): one line, specials escaped."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def fit(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis so it has at most ``limit`` characters."""
    t = " ".join(text.split())
    if len(t) <= limit:
        return t
    cut = t[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class CardContext:
    """What every card shows besides its own subject: the model, the banner, the source page, the report link,
    and the catalogs' versions (a provenance line)."""

    synthetic: bool
    model_label: str
    about_url: str
    report_url: str | None
    provenance: str

    def source(self, label: str | None = None, url: str | None = None) -> dict[str, Any]:
        demo = " (demonstration model)" if self.synthetic else ""
        out: dict[str, Any] = {"label": fit(label or f"PrecisionPain{demo}", 200)}
        out["url"] = url or self.about_url
        return out

    def detail(self, *sections: str) -> str:
        parts = [BANNER] if self.synthetic else []
        parts += [s for s in sections if s]
        parts.append(f"<sub>{md(self.provenance)}</sub>")
        return "\n\n".join(parts)

    def links(self) -> list[dict[str, Any]]:
        if self.report_url is None:
            return []
        return [{"label": "Full PrecisionPain report", "url": self.report_url, "type": "absolute"}]


def card(
    ctx: CardContext,
    summary: str,
    indicator: str,
    detail: str,
    *,
    source: dict[str, Any] | None = None,
    suggestions: Sequence[dict[str, Any]] = (),
    override: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": fit(summary),
        "indicator": indicator,
        "source": source or ctx.source(),
        "detail": detail,
    }
    if suggestions:
        out["suggestions"] = list(suggestions)
        out["selectionBehavior"] = "at-most-one"
    if override:
        out["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": c, "display": d} for c, d in OVERRIDE_REASONS
        ]
    links = ctx.links()
    if links:
        out["links"] = links
    return out


# ------------------------------------------------------------------------------------------ patient-view


def _interval(o: RankedOption) -> str:
    return f"{o.p_response:.0%} ({o.interval.lower:.0%}–{o.interval.upper:.0%})"


def _first_reason(o: RankedOption) -> SafetyReason | None:
    return o.safety_reasons[0] if o.safety_reasons else None


def _reason_line(r: SafetyReason) -> str:
    facts = f" — {md('; '.join(r.facts))}" if r.facts else ""
    sources = ", ".join(f"[{md(s.label)}]({s.url})" if s.url else md(s.label) for s in r.sources)
    cited = f" ({sources})" if sources else ""
    return f"- **{r.level.value}**: {md(r.text)}{facts}{cited}"


def _ranked_table(rec: RankedRecommendation, n: int) -> str:
    rows = ["| # | Option | Chance of response (90% interval) | Safety |", "|---|---|---|---|"]
    for o in rec.options[:n]:
        first = _first_reason(o)
        safety = "usable" if o.verdict == "usable" else f"{o.verdict}: {first.text if first else ''}"
        rows.append(f"| {o.rank} | {md(o.display_name)} | {_interval(o)} | {md(safety)} |")
    more = len(rec.options) - n
    if more > 0:
        rows.append(f"\n{more} more usable option{'s' if more != 1 else ''} in the full report.")
    return "### Ranked options\n\n" + "\n".join(rows)


def _excluded_list(rec: RankedRecommendation) -> str:
    if not rec.excluded:
        return ""
    lines = [f"- **{md(o.display_name)}**: {md(o.exclusion_reason)}" for o in rec.excluded]
    return "### Not to be used for this patient\n\n" + "\n".join(lines)


def _flags(rec: RankedRecommendation) -> str:
    if not rec.safety_flags:
        return ""
    return "### Safety\n\n" + "\n".join(
        f"- **{f.severity.value}**: {md(f.message)}" for f in rec.safety_flags
    )


def _warnings(engine: Iterable[DataWarning], mapping: Iterable[Any], title: str = "### Data") -> str:
    lines = [f"- {md(w.message)}" for w in engine] + [f"- {md(w.message)}" for w in mapping]
    return f"{title}\n\n" + "\n".join(lines) if lines else ""


def indicator_of(rec: RankedRecommendation) -> str:
    severities = {f.severity for f in rec.safety_flags}
    if Severity.critical in severities:
        return "critical"
    return "warning" if Severity.warning in severities else "info"


def patient_view_cards(
    ctx: CardContext, rec: RankedRecommendation | None, problems: Sequence[Any], warnings: Sequence[Any]
) -> list[dict[str, Any]]:
    """The ranked-options summary card (with the report link), or why there is no ranking; and a data card listing
    the FHIR data that could not be used, when there are such data."""
    cards: list[dict[str, Any]] = []
    if rec is None:
        missing = ", ".join(sorted({p.path for p in problems}))
        cards.append(
            card(
                ctx,
                f"PrecisionPain could not rank options: {missing} missing or unusable",
                "warning",
                ctx.detail(
                    "### Inputs it needs\n\n" + "\n".join(f"- {md(p.describe())}" for p in problems),
                    _warnings((), warnings, "### FHIR data not used"),
                ),
            )
        )
        return cards
    top = ", ".join(f"{o.display_name} {o.p_response:.0%}" for o in rec.options[:3])
    excluded = f"; {len(rec.excluded)} not to be used" if rec.excluded else ""
    summary = f"Best-ranked options: {top}{excluded}" if rec.options else f"No usable option{excluded}"
    cards.append(
        card(
            ctx,
            summary,
            indicator_of(rec),
            ctx.detail(
                _ranked_table(rec, TOP_OPTIONS),
                _excluded_list(rec),
                _flags(rec),
                _warnings(rec.warnings, ()),
            ),
        )
    )
    if warnings:
        cards.append(
            card(
                ctx,
                f"{len(warnings)} item{'s' if len(warnings) != 1 else ''} of the FHIR record could not be used",
                "warning",
                ctx.detail(_warnings((), warnings, "### FHIR data not used")),
            )
        )
    return cards


# ------------------------------------------------------------------------------------------ orders


@dataclass(frozen=True)
class DraftOrder:
    """A draft MedicationRequest under review: its relative reference (for delete), what it orders as a catalog
    option (None: not an option, or not recognised), and the order itself (for the replacement's subject and
    intent)."""

    reference: str | None
    option_id: str | None
    medicine: str | None
    known: bool
    resource: Mapping[str, Any]
    label: str  # its medication coding, for a message (``RXNORM 12345``)


@dataclass(frozen=True)
class Alternative:
    option: RankedOption
    rxcui: str | None
    name: str


def _replacement(order: DraftOrder, alt: Alternative, rxnorm_uri: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": alt.option.display_name}
    if alt.rxcui:
        concept["coding"] = [{"system": rxnorm_uri, "code": alt.rxcui, "display": alt.name}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": str(order.resource.get("intent") or "order"),
        "medicationCodeableConcept": concept,
    }
    for key in ("subject", "encounter", "requester"):
        if isinstance(order.resource.get(key), dict):
            resource[key] = order.resource[key]
    return resource


def _suggestions(
    order: DraftOrder, ordered: str, alternatives: Sequence[Alternative], rxnorm_uri: str
) -> list[dict[str, Any]]:
    out = []
    # only a coded alternative can become an order in the EHR; the others are named in the card's detail
    for i, alt in enumerate(a for a in alternatives if a.rxcui):
        actions: list[dict[str, Any]] = []
        if order.reference:
            actions.append(
                {
                    "type": "delete",
                    "description": f"Remove the {ordered} order",
                    "resourceId": order.reference,  # CDS Hooks 2.0: a relative reference (a string)
                }
            )
        actions.append(
            {
                "type": "create",
                "description": f"Order {alt.option.display_name} instead (dose to be set)",
                "resource": _replacement(order, alt, rxnorm_uri),
            }
        )
        out.append(
            {
                "label": fit(
                    f"Replace {ordered} with {alt.option.display_name} ({alt.option.p_response:.0%} chance of response)",
                    80,
                ),
                "uuid": new_uuid(),
                "isRecommended": i == 0,
                "actions": actions,
            }
        )
    return out


def _alternatives_text(alternatives: Sequence[Alternative]) -> str:
    if not alternatives:
        return "### Alternatives\n\nNo other drug option is usable without a warning for this patient; see the full report."
    lines = [
        f"{i + 1}. **{md(a.option.display_name)}** — {_interval(a.option)}"
        + ("" if a.rxcui else " (no RxNorm code in the medication catalog: order it by name)")
        for i, a in enumerate(alternatives)
    ]
    return "### Usable alternatives, best ranked first\n\n" + "\n".join(lines)


def order_card(
    ctx: CardContext,
    order: DraftOrder,
    option: RankedOption,
    alternatives: Sequence[Alternative],
    rec: RankedRecommendation,
    rxnorm_uri: str,
) -> dict[str, Any] | None:
    """A critical card for an excluded option, a warning card for a warned one, nothing for a usable one."""
    if option.verdict == "usable":
        return None
    excluded = option.verdict == "excluded"
    reasons = [r for r in option.safety_reasons if r.level.value != "info"] or list(option.safety_reasons)
    first = reasons[0] if reasons else None
    name = option.display_name
    why = (first.facts[0] if first and first.facts else first.text) if first else option.exclusion_reason
    kind = "CPIC" if first is not None and first.is_cpic else "safety rule"
    summary = f"Avoid {name}: {why} ({kind})" if excluded else f"Caution with {name}: {why} ({kind})"
    source = None
    if first is not None and first.sources:
        s = first.sources[0]
        source = ctx.source(s.label, s.url or None)
    relevant = [w for w in rec.warnings if w.kind.value == "safety_not_checked"]
    detail = ctx.detail(
        f"### Why {md(name)} {'is not to be used' if excluded else 'needs care'} for this patient\n\n"
        + "\n".join(_reason_line(r) for r in reasons),
        _alternatives_text(alternatives),
        _warnings(relevant, (), "### Not checked"),
    )
    return card(
        ctx,
        summary,
        "critical" if excluded else "warning",
        detail,
        source=source,
        suggestions=_suggestions(order, name, alternatives, rxnorm_uri),
        override=excluded,
    )


def unknown_order_card(ctx: CardContext, order: DraftOrder, label: str) -> dict[str, Any]:
    return card(
        ctx,
        f"PrecisionPain could not check this order: {label} is not a medicine it knows",
        "warning",
        ctx.detail(
            "The medication code of this draft order is not in PrecisionPain's medication catalog "
            f"({md(label)}), so its CPIC guidance, contraindications and interactions were **not checked**."
        ),
    )


def unchecked_orders_card(ctx: CardContext, problems: Sequence[Any], names: Sequence[str]) -> dict[str, Any]:
    missing = ", ".join(sorted({p.path for p in problems}))
    return card(
        ctx,
        f"PrecisionPain could not check {', '.join(names)}: {missing} missing or unusable",
        "warning",
        ctx.detail("### Inputs it needs\n\n" + "\n".join(f"- {md(p.describe())}" for p in problems)),
    )

"""The report's "Guideline tiers" section: the pain condition (or that it was not given and the pain type used),
every option's tier with its sources, and the tier beside each ranked option."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from precisionpain.catalog.guidelines import load_guideline_catalog
from precisionpain.explain.report import (
    TIER_LABELS,
    Report,
    build_report,
    render_html,
    report_from_json,
    report_json,
)
from precisionpain.schema import GuidelineTier, PainCondition, PainType
from tests.report.report_html import Node, parse
from tests.report.report_testdata import build_explained, load_raw, model_summary


def _rows(doc: Node) -> dict[str, Node]:
    table = doc.find("section", id="guidelines").find("table")
    return {tr.find("th").text: tr for tr in table.find("tbody").find_all("tr")}


def _report(raw: dict[str, Any], feature_catalog, option_catalog, pgx_tables) -> Report:  # type: ignore[no-untyped-def]
    explained, profile = build_explained(raw, feature_catalog, option_catalog, pgx_tables)
    return build_report(explained, profile, model_summary(), feature_catalog, pgx_tables, options=option_catalog)


def test_condition_and_every_tier_with_sources(feature_catalog, option_catalog, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    raw = copy.deepcopy(load_raw("phq9_item9_positive"))
    raw["clinical"]["pain_condition"] = "fibromyalgia"
    report = _report(raw, feature_catalog, option_catalog, pgx_tables)
    g = report.guidelines
    assert g is not None and g.condition == "Fibromyalgia" and g.table == "fibromyalgia"
    table = load_guideline_catalog(option_catalog).table(PainCondition.fibromyalgia, PainType.nociplastic)
    assert {r.option_id for r in g.rows} == set(option_catalog.ids)
    for row in g.rows:
        assert row.tier is table[row.option_id].tier
        assert row.source_ids == tuple(src.source_id for src in table[row.option_id].sources)
        assert all(g.sources[g.number(sid) - 1].source_id == sid for sid in row.source_ids)
    assert [r.option_id for r in g.rows][: len(report.options)] == [o.option_id for o in report.options]
    assert all(o.guideline_tier is table[o.option_id].tier for o in (*report.options, *report.excluded))

    doc = parse(render_html(report))
    section = doc.find("section", id="guidelines")
    assert "Pain condition: fibromyalgia" in section.text
    rows = _rows(doc)
    assert TIER_LABELS[GuidelineTier.first_line] in rows["Physical therapy (exercise)"].text
    assert "EULAR" in rows["Physical therapy (exercise)"].text  # the note names the guideline
    cite = rows["Physical therapy (exercise)"].find("a")  # and links to the section's list of sources
    listed = section.find("li", id=cite.attrs["href"].removeprefix("#"))
    assert listed is not None and listed.find("a").attrs["href"].startswith("https://")
    oxycodone = rows["Oxycodone"].text
    assert TIER_LABELS[GuidelineTier.recommended_against] in oxycodone and "NICE NG193" in oxycodone
    # the ranked options table shows each option's tier beside its estimate
    options = doc.find("section", id="options")
    assert TIER_LABELS[GuidelineTier.first_line] in options.text
    # a saved report reads back and renders the same
    again = report_from_json(report_json(report))
    assert again == report and render_html(again) == render_html(report)


def test_condition_not_given_is_said(report_for: Callable[[str], Report]) -> None:
    report = report_for("mostly_missing")
    g = report.guidelines
    assert g is not None and g.condition == ""
    doc = parse(render_html(report))
    text = doc.find("section", id="guidelines").text
    assert "Pain condition not given" in text and "pain type (mixed)" in text
    assert "Pain condition" in doc.find("section", id="patient").text  # listed among the missing inputs

"""The "Why" section with 28 options: full waterfalls for the options a clinician would consider (the top ranks
and every first-line option of the guideline tiers), one summary row for each other ranked option, and the
reasons for exclusion (not the model's) for excluded options; every option keeps its full data in the JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from precisionpain.errors import ValidationError
from precisionpain.explain.report import (
    DEFAULT_CHARTED_RANKS,
    Report,
    build_report,
    render_html,
    report_from_json,
    report_json,
)
from precisionpain.schema import GuidelineTier
from tests.report.report_html import Node, parse
from tests.report.report_testdata import EXAMPLE_NAMES, model_summary


def _considered(report: Report, charted_ranks: int = DEFAULT_CHARTED_RANKS) -> list[str]:
    """The ranked options a clinician would consider, in ranked order: the top ranks and the first-line ones."""
    return [
        o.option_id
        for o in report.options
        if (o.rank is not None and o.rank <= charted_ranks) or o.guideline_tier is GuidelineTier.first_line
    ]


def _why(doc: Node) -> Node:
    return doc.find("section", id="why")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_full_charts_for_the_options_a_clinician_would_consider(
    name: str, report_for: Callable[[str], Report]
) -> None:
    report = report_for(name)
    considered = _considered(report)
    assert [w.option_id for w in report.explanations if w.chart] == considered
    # every option keeps its explanation in the report's data, charted or not
    assert [w.option_id for w in report.explanations] == [o.option_id for o in (*report.options, *report.excluded)]

    why = _why(parse(render_html(report)))
    charts = why.find_all("svg", class_="waterfall")
    assert [svg.attrs["aria-labelledby"].split()[0] for svg in charts] == [f"wf-{i}-title" for i in considered]
    assert [a.attrs["id"] for a in why.find_all("article")] == [f"why-{i}" for i in considered]


def test_first_line_options_ranked_lower_are_charted_too(
    feature_catalog: Any, option_catalog: Any, pgx_tables: Any
) -> None:
    # ordered by net benefit alone (under the default policy first-line options come first): for this fibromyalgia
    # patient exercise is first line and ranked below the top 8
    from precisionpain.benefit_harm import Preferences
    from precisionpain.schema import RankingPolicy
    from tests.report.report_testdata import build_explained, load_raw

    only = Preferences(policy=RankingPolicy.net_benefit_only)
    explained, profile = build_explained(
        load_raw("phq9_item9_positive"), feature_catalog, option_catalog, pgx_tables, preferences=only
    )
    report = build_report(explained, profile, model_summary(), feature_catalog, pgx_tables, options=option_catalog)
    lower = [
        o for o in report.options if o.rank > DEFAULT_CHARTED_RANKS and o.guideline_tier is GuidelineTier.first_line
    ]
    assert lower, "the example needs a first-line option ranked below the top ranks"
    why = _why(parse(render_html(report)))
    for o in lower:
        article = why.find("article", id=f"why-{o.option_id}")
        assert article.find_all("svg", class_="waterfall")
        assert f"rank {o.rank}" in article.find("h4").text and "first line" in article.find("h4").text.lower()


@pytest.mark.parametrize("name", ["phq9_item9_positive", "older_adult_ckd"])
def test_other_ranked_options_get_one_summary_row(name: str, report_for: Callable[[str], Report]) -> None:
    report = report_for(name)
    considered = set(_considered(report))
    rest = [o for o in report.options if o.option_id not in considered]
    assert rest
    why = _why(parse(render_html(report)))
    table = why.find("table", class_="why-rows")
    rows = table.find("tbody").find_all("tr")
    assert [tr.attrs["id"] for tr in rows] == [f"why-{o.option_id}" for o in rest]
    for tr, o in zip(rows, rest, strict=True):
        w = report.explanation(o.option_id)
        text = tr.text
        assert tr.find("th").text == o.display_name
        assert str(o.rank) in text and f"{round(100 * o.p_response)}%" in text
        strongest = max((s for s in w.steps if s.kind == "feature"), key=lambda s: abs(s.shap_value))
        assert strongest.label in text  # the input that moves the estimate most
        assert not tr.find_all("svg")


@pytest.mark.parametrize("name", ["cyp2d6_poor_metabolizer", "older_adult_ckd"])
def test_excluded_options_show_their_reasons_not_the_models(
    name: str, report_for: Callable[[str], Report]
) -> None:
    report = report_for(name)
    assert report.excluded
    why = _why(parse(render_html(report)))
    table = why.find("table", class_="why-excluded")
    rows = table.find("tbody").find_all("tr")
    assert [tr.attrs["id"] for tr in rows] == [f"why-{o.option_id}" for o in report.excluded]
    for tr, o in zip(rows, report.excluded, strict=True):
        assert " ".join(o.exclusion_reason.split()) in tr.text
        assert "Raise it most" not in tr.text and not tr.find_all("svg")


def test_the_report_says_what_is_summarised_and_where_the_full_data_is(
    report_for: Callable[[str], Report],
) -> None:
    report = report_for("older_adult_ckd")
    n_charted = sum(1 for w in report.explanations if w.chart)
    n_rows = len(report.options) - n_charted
    lead = _why(parse(render_html(report))).find("p", class_="why-scope").text
    assert f"{n_charted} ranked options" in lead and f"other {n_rows} ranked options" in lead
    assert f"{len(report.excluded)} excluded options" in lead
    assert "JSON" in lead and "recommend --save" in lead


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_link_in_the_page_has_a_target(name: str, report_for: Callable[[str], Report]) -> None:
    doc = parse(render_html(report_for(name)))
    ids = {n.attrs["id"] for n in doc.iter() if "id" in n.attrs}
    targets = {a.attrs["href"][1:] for a in doc.find_all("a") if a.attrs.get("href", "").startswith("#")}
    assert targets and targets <= ids, sorted(targets - ids)


def test_more_charted_ranks_chart_more_options(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any, option_catalog: Any
) -> None:
    explained, profile = explained_for("phenotype_only_report")
    report = build_report(
        explained, profile, model_summary(), feature_catalog, pgx_tables, options=option_catalog, charted_ranks=12
    )
    assert [w.option_id for w in report.explanations if w.chart] == _considered(report, 12)
    assert len(_why(parse(render_html(report))).find_all("svg", class_="waterfall")) == len(_considered(report, 12))
    with pytest.raises(ValidationError, match="charted_ranks"):
        build_report(explained, profile, model_summary(), feature_catalog, pgx_tables, charted_ranks=-1)


def test_a_report_saved_before_the_summary_rows_charts_every_option(report_for: Callable[[str], Report]) -> None:
    data = json.loads(report_json(report_for("cyp2d6_poor_metabolizer")))
    for w in data["explanations"]:
        del w["chart"]
    data.pop("charted_ranks", None)
    old = report_from_json(json.dumps(data))
    assert all(w.chart for w in old.explanations)
    why = _why(parse(render_html(old)))
    assert len(why.find_all("svg", class_="waterfall")) == len(old.explanations)
    assert not why.find_all("table", class_="why-rows")

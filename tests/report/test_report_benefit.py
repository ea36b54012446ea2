"""The report explains benefit against harm in a clinician's words: the ordering rule and the net benefit's
weights, each option's components ("52% response, 14% stop for side effects") and net benefit with its interval,
what the intervals cover, and the tier policy in the guideline section; a saved report keeps all of it."""

from __future__ import annotations

from typing import Any

import pytest

from precisionpain.explain.report import build_report, render_html, report_from_json, report_json
from precisionpain.features.validate import validate_profile
from precisionpain.recommender import Recommender
from tests.conftest import load_example
from tests.report.report_html import parse


@pytest.fixture(scope="module")
def made(small_package: Any) -> Any:
    engine = Recommender(small_package)
    profile = validate_profile(load_example("cyp2d6_ultrarapid_diabetic_neuropathy"))
    explained = engine.recommend(profile)
    report = build_report(
        explained, profile, engine.summary, small_package.catalog, small_package.tables, options=small_package.options
    )
    return report, parse(render_html(report))


def test_the_rule_the_weights_and_what_the_intervals_cover(made: Any) -> None:
    report, doc = made
    text = doc.find("section", id="options").text
    assert "How the options are ordered." in text and report.ranking.rule in text
    assert "less half a response for each who would stop because of side effects" in text
    assert "net benefit = P(response) - 0.5 x P(stop for side effects)" in text
    assert "how certain the estimate is for patients with the same recorded information" in text
    assert "not the range of this patient's own chance" in text


def test_each_option_shows_its_components_and_net_benefit(made: Any) -> None:
    report, doc = made
    rows = [r for r in doc.find("table", class_="options").find("tbody").find_all("tr") if r.find_all("td")]
    assert len(rows) == len(report.options)
    for row, option in zip(rows, report.options, strict=True):
        ae = next(h.probability for h in option.harms if h.outcome.value == "adverse_event")
        cell = row.find("td", class_="benefit").text
        assert f"{option.p_response:.0%} response, {ae:.0%} stop for side effects" in cell
        assert f"net benefit {round(100 * option.net_benefit.value)} per 100" in cell.replace("\u2212", "-")
    excluded = doc.find("table", class_="excluded")
    for option in report.excluded:
        assert option.net_benefit.text in excluded.text


def test_the_guideline_section_says_the_tier_comes_first(made: Any) -> None:
    _, doc = made
    assert "the ranking puts the tier first" in doc.find("section", id="guidelines").text


def test_a_saved_report_keeps_benefit_and_harm(made: Any) -> None:
    report, _ = made
    again = report_from_json(report_json(report))
    assert again == report and again.ranking == report.ranking
    assert all(o.net_benefit is not None and o.harms for o in again.options)


def test_the_options_table_shows_the_groups(made: Any) -> None:
    report, doc = made
    table = doc.find("table", class_="options")
    headers = table.find_all("tr", class_="tie-group")
    assert [h.find("th").text.split("their net")[0].strip() for h in headers] == [g.text for g in report.ranking.groups]
    first = report.ranking.groups[0]
    if len(first.option_ids) > 1:
        assert "cannot be told apart" in headers[0].text
    for option in report.options:
        assert option.probability_best is not None
    assert "chance its net benefit is the highest of these options" in table.text

"""Every count the report shows agrees with every other: the patient summary's header, each domain card, the
data-quality warnings and the pharmacogenomics section count the same inputs, for the example patients and
for profiles with many missing values."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.explain.report import Report, build_report, render_html, report_from_json, report_json
from tests.report.report_html import Node, parse
from tests.report.report_testdata import build_explained, load_raw, model_summary
from tests.strategies import profile_dicts

EXAMPLES = (
    "cyp2d6_poor_metabolizer",
    "cyp2d6_ultrarapid_diabetic_neuropathy",
    "hla_b_1502_carrier",
    "mostly_missing",
    "phenotype_only_report",
    "phq9_item9_positive",
)


def _text(node: Node) -> str:
    return " ".join(node.text.split())


def _counts_agree(page: str) -> None:
    doc = parse(page)
    patient = doc.find("section", id="patient")
    header = re.search(r"(\d+) of (\d+) inputs", _text(patient.find("p", class_="lead")))
    assert header is not None, _text(patient)
    cards: dict[str, tuple[int, int, str]] = {}
    for card in patient.find_all("section"):
        if "domain" not in card.attrs.get("class", "").split():
            continue
        title = _text(card.find("h3"))
        found = re.fullmatch(r"(.+) (\d+) of (\d+) given", title)
        assert found is not None, title
        missing = card.find_all("p", class_="missing")
        listed = _text(missing[0]).removeprefix("Missing").strip() if missing else ""
        cards[found.group(1)] = (int(found.group(2)), int(found.group(3)), listed)
    assert (int(header.group(1)), int(header.group(2))) == (
        sum(given for given, _, _ in cards.values()),
        sum(total for _, total, _ in cards.values()),
    )

    quality = " ".join(_text(li) for li in doc.find("section", id="data-quality").find_all("li"))
    for domain, (given_n, total, listed) in cards.items():
        said = re.search(rf"{re.escape(domain)}: (?:all (\d+)|(\d+) of (\d+)) inputs missing \(([^;]*)\);", quality)
        if given_n == total:
            assert said is None, (domain, quality)
            continue
        assert said is not None, (domain, quality)
        n_missing = int(said.group(1) or said.group(2))
        of = int(said.group(1) or said.group(3))
        assert (n_missing, of) == (total - given_n, total), (domain, said.group(0))
        assert said.group(1) is None or given_n == 0
        assert said.group(4) == listed

    genetics = re.search(r"(\d+) of (\d+) genes or markers reported", _text(doc.find("section", id="pgx")))
    assert genetics is not None
    assert (int(genetics.group(1)), int(genetics.group(2))) == cards["Genetics"][:2]


def _report(raw: dict[str, Any], catalogs: tuple[Any, Any, Any]) -> Report:
    feature_catalog, option_catalog, pgx_tables = catalogs
    explained, profile = build_explained(raw, feature_catalog, option_catalog, pgx_tables)
    return build_report(explained, profile, model_summary(), feature_catalog, pgx_tables, options=option_catalog)


@pytest.fixture(scope="module")
def catalogs(feature_catalog: Any, option_catalog: Any, pgx_tables: Any) -> tuple[Any, Any, Any]:
    return feature_catalog, option_catalog, pgx_tables


@pytest.mark.parametrize("name", EXAMPLES)
def test_counts_agree_for_every_example_patient(name: str, catalogs: tuple[Any, Any, Any]) -> None:
    report = _report(load_raw(name), catalogs)
    _counts_agree(render_html(report))
    _counts_agree(render_html(report_from_json(report_json(report))))


def test_a_report_saved_with_the_model_feature_counts_still_reads(catalogs: tuple[Any, Any, Any]) -> None:
    report = _report(load_raw("mostly_missing"), catalogs)
    saved = json.loads(report_json(report))
    saved["patient"] |= {"n_features": 42, "n_features_missing": 36}
    assert report_from_json(json.dumps(saved)) == report


@pytest.mark.parametrize("p_missing", [0.5, 0.9])
def test_counts_agree_for_profiles_with_many_missing_values(p_missing: float, catalogs: tuple[Any, Any, Any]) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        raw = data.draw(profile_dicts(catalogs[0], p_missing=p_missing))
        _counts_agree(render_html(_report(raw, catalogs)))

    check()

"""What the report says for the example patients (built from real stages around a stand-in model)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from precisionpain.catalog.types import DOMAIN_LABELS
from precisionpain.errors import ValidationError
from precisionpain.explain.display import sigmoid
from precisionpain.explain.report import (
    REPORT_FORMAT,
    PgxBin,
    Report,
    build_report,
    render_html,
    report_from_json,
    report_json,
)
from precisionpain.schema import Severity, WarningKind
from tests.report.report_html import Node, parse
from tests.report.report_testdata import EXAMPLE_NAMES, load_raw, model_summary

EXAMPLES = (
    "cyp2d6_poor_metabolizer",
    "cyp2d6_ultrarapid_diabetic_neuropathy",
    "hla_b_1502_carrier",
    "mostly_missing",
    "phenotype_only_report",
    "phq9_item9_positive",
)


def _section(doc: Node, section_id: str) -> Node:
    return doc.find("section", id=section_id)


def _drug_names_in_bin(doc: Node, b: PgxBin) -> set[str]:
    box = _section(doc, "pgx").find("li", class_=f"bin-{b.value}")
    return {li.text for li in box.find_all("li") if li is not box}


def _excluded_rows(doc: Node) -> dict[str, str]:
    table = _section(doc, "excluded").find("table")
    return {tr.find("th").find("a").text: tr.text for tr in table.find("tbody").find_all("tr")}


# ------------------------------------------------------------------------------------------- pgx cases


@pytest.mark.parametrize("drug", ["codeine", "tramadol"])
def test_cyp2d6_poor_metabolizer_avoids_codeine_and_tramadol_with_cpic_text(
    drug: str, report_for: Callable[[str], Report], explained_for: Callable[[str], Any]
) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    explained, _ = explained_for("cyp2d6_poor_metabolizer")
    ranked = {o.option_id: o for o in explained.recommendation.excluded}
    cpic_text = next(g.recommendation for g in ranked[drug].guidance if g.action == "AVOID")

    entry = next(o for o in report.excluded if o.option_id == drug)
    assert entry.pgx_bin is PgxBin.avoid
    assert cpic_text in entry.exclusion_reason
    assert drug not in {o.option_id for o in report.options}
    drug_pgx = next(d for d in report.pgx.drugs if d.option_id == drug)
    assert drug_pgx.bin is PgxBin.avoid
    item = next(i for i in drug_pgx.items if i.action == "AVOID")
    assert item.classification == "Strong"
    assert item.guideline_url.startswith("https://cpicpgx.org/")
    assert any(p.url.startswith("https://pubmed.ncbi.nlm.nih.gov/") for p in item.publications)

    doc = parse(render_html(report))
    name = entry.display_name
    assert name in _drug_names_in_bin(doc, PgxBin.avoid)
    assert name not in _drug_names_in_bin(doc, PgxBin.use_as_directed)
    assert cpic_text in _excluded_rows(doc)[name]
    ranked_names = {a.text for a in _section(doc, "options").find("tbody").find_all("a")}
    assert name not in ranked_names


def test_hla_b_1502_carrier_excludes_carbamazepine(
    report_for: Callable[[str], Report], explained_for: Callable[[str], Any]
) -> None:
    report = report_for("hla_b_1502_carrier")
    explained, _ = explained_for("hla_b_1502_carrier")
    guidance = next(o for o in explained.recommendation.excluded if o.option_id == "carbamazepine").guidance
    cpic_text = next(g.recommendation for g in guidance if g.action == "AVOID")

    entry = next(o for o in report.excluded if o.option_id == "carbamazepine")
    assert cpic_text in entry.exclusion_reason
    hla = next(g for g in report.pgx.genes if g.gene == "HLA-B*15:02")
    assert hla.tested and hla.result == "Positive" and "carrier" in hla.phenotype

    doc = parse(render_html(report))
    assert "Carbamazepine" in _drug_names_in_bin(doc, PgxBin.avoid)
    assert cpic_text in _excluded_rows(doc)["Carbamazepine"]
    gene_rows = {
        tr.find("th").text: tr.text
        for tr in _section(doc, "pgx").find("table", class_="genes").find_all("tr")[1:]
    }
    assert "Positive" in gene_rows["HLA-B*15:02"]


def test_bins_follow_cpic_actions(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_ultrarapid_diabetic_neuropathy")
    severity = {PgxBin.use_as_directed: 1, PgxBin.caution: 2, PgxBin.avoid: 3}
    action_bin = {
        "USE_LABEL_DOSING": PgxBin.use_as_directed,
        "REDUCE_DOSE": PgxBin.caution,
        "CONSIDER_ALTERNATIVE": PgxBin.caution,
        "USE_WITH_CAUTION": PgxBin.caution,
        "AVOID": PgxBin.avoid,
    }
    for d in report.pgx.drugs:
        for item in d.items:
            assert item.bin is action_bin[item.action]
        if d.items:
            assert d.bin is max((i.bin for i in d.items), key=severity.__getitem__)
    # a CYP2C9 *3/*3 poor metabolizer gets dose changes or avoidance for the NSAIDs, never "use as directed"
    nsaids = [d for d in report.pgx.drugs if d.option_id in {"celecoxib", "ibuprofen", "meloxicam"}]
    assert nsaids and all(d.bin in {PgxBin.caution, PgxBin.avoid} for d in nsaids)
    # ranked options carry the same bin as the pharmacogenomics section
    bins = {d.option_id: d.bin for d in report.pgx.drugs}
    for o in (*report.options, *report.excluded):
        assert o.pgx_bin == bins.get(o.option_id)


def test_drugs_without_cpic_guideline_and_untested_genes(
    report_for: Callable[[str], Report], option_catalog: Any, pgx_tables: Any
) -> None:
    """Every drug of the option catalog is either in the CPIC tables (then binned by the rows for the genes
    tested) or listed as having no CPIC guideline; the expectation is read from the catalogs."""
    report = report_for("phq9_item9_positive")  # CYP2D6 and CYP2C19 tested, CYP2C9 and HLA not
    tested = {g.gene.split()[0].split("*")[0] for g in report.pgx.genes if g.tested}
    assert {"CYP2D6", "CYP2C19"} <= tested and not {"CYP2C9", "HLA-A", "HLA-B"} & tested
    drug_options = [o for o in option_catalog.options if o.modality == "drug"]

    def cpic_rows(option: Any) -> tuple[Any, ...]:
        return tuple(pgx_tables.recommendations_for(option.cpic_drug or option.id))

    names = {d.option_id: d for d in report.pgx.drugs}
    assert set(report.pgx.drugs_without_guideline) == {o.display_name for o in drug_options if not cpic_rows(o)}
    assert set(names) == {o.id for o in drug_options if cpic_rows(o)}
    for option in drug_options:
        rows = cpic_rows(option)
        if not rows:
            continue
        actionable = {g for r in rows if r.action_code != "NO_RECOMMENDATION" for g in r.genes}
        drug = names[option.id]
        if not actionable:  # e.g. oxycodone: CPIC finds the evidence too weak
            assert drug.bin is PgxBin.no_recommendation, option.id
        elif actionable & tested:
            assert drug.bin in {PgxBin.use_as_directed, PgxBin.caution, PgxBin.avoid}, option.id
            assert drug.items, option.id
        else:
            assert drug.bin is PgxBin.not_tested, option.id
        for gene in actionable - tested:
            assert f"{gene} not tested." in drug.notes, (option.id, gene)
    # the options added with the pain conditions: six drugs without CPIC guidance, two dosed by CYP2D6
    new_without = ("naproxen", "topical_diclofenac", "tapentadol", "buprenorphine_transdermal",
                   "lidocaine_plaster", "capsaicin_patch")
    assert {option_catalog.get(i).display_name for i in new_without} <= set(report.pgx.drugs_without_guideline)
    for option_id in ("nortriptyline", "venlafaxine"):  # CYP2D6 *1/*2, a normal metabolizer
        drug = names[option_id]
        assert drug.bin is PgxBin.use_as_directed
        assert all(i.genes.startswith("CYP2D6") for i in drug.items) and not drug.notes
    for nsaid in ("celecoxib", "ibuprofen", "meloxicam"):
        assert names[nsaid].bin is PgxBin.not_tested


def test_option_catalog_is_optional(
    explained_for: Callable[[str], Any],
    feature_catalog: Any,
    pgx_tables: Any,
    report_for: Callable[[str], Report],
) -> None:
    """Without the option catalog, options whose id is a CPIC drug are looked up as that drug."""
    for name in ("cyp2d6_poor_metabolizer", "phq9_item9_positive", "mostly_missing"):
        explained, profile = explained_for(name)
        bare = build_report(explained, profile, model_summary(), feature_catalog, pgx_tables)
        full = report_for(name)
        assert bare.pgx == full.pgx
        assert all(o.description == "" for o in bare.options)
        assert any(o.description for o in full.options)


# ------------------------------------------------------------------------------------------- safety


def test_phq9_item9_positive_raises_a_prominent_critical_alert(report_for: Callable[[str], Report]) -> None:
    report = report_for("phq9_item9_positive")
    critical = report.critical_flags
    assert [f.code for f in critical] == ["phq9_item9_positive"]
    assert report.safety_flags[0].severity is Severity.critical  # shown first

    html = render_html(report)
    doc = parse(html)
    alerts = doc.find_all(role="alert")
    assert len(alerts) == 1
    assert "suicide" in alerts[0].text.lower()
    assert "alert-critical" in alerts[0].classes
    # the alert comes before every other section of the report body
    assert html.index('role="alert"') < html.index('id="patient"') < html.index('id="options"')


@pytest.mark.parametrize("name", [e for e in EXAMPLES if e != "phq9_item9_positive"])
def test_no_critical_alert_without_a_positive_item_9(name: str, report_for: Callable[[str], Report]) -> None:
    report = report_for(name)
    assert not report.critical_flags
    assert not parse(render_html(report)).find_all(role="alert")


def test_unscreened_item_9_is_pointed_out(report_for: Callable[[str], Report]) -> None:
    assert "phq9_item9_not_recorded" in {f.code for f in report_for("mostly_missing").safety_flags}
    assert "phq9_item9_not_recorded" not in {
        f.code for f in report_for("cyp2d6_poor_metabolizer").safety_flags
    }


# ------------------------------------------------------------------------------------------- data quality


def test_mostly_missing_lists_missing_domains_and_warnings(report_for: Callable[[str], Report]) -> None:
    report = report_for("mostly_missing")
    expected_missing = {DOMAIN_LABELS[d] for d in DOMAIN_LABELS} - {"Clinical"}
    assert set(report.patient.missing_domains) == expected_missing
    kinds = {w.kind for w in report.warnings}
    assert WarningKind.missing_input in kinds and WarningKind.pgx_not_tested in kinds
    assert all(not g.tested for g in report.pgx.genes)

    doc = parse(render_html(report))
    banner = _section(doc, "patient").find("p", class_="missing-domains")
    for domain in expected_missing:
        assert domain in banner.text
    dq = _section(doc, "data-quality")
    items = [li.text for li in dq.find_all("li")]
    assert len(items) == len(report.warnings)
    for w in report.warnings:
        assert " ".join(w.message.split()) in items


def test_values_outside_training_range_are_flagged(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_poor_metabolizer")  # hs-CRP 4.2 mg/L, above the stand-in training range
    outside = [w for w in report.warnings if w.kind is WarningKind.outside_training_range]
    assert [w.field for w in outside] == ["hs_crp_mg_per_l"]
    marked = {s.feature_id for why in report.explanations for s in why.steps if s.outside_training_range}
    assert marked == {"hs_crp_mg_per_l"}


def test_patient_summary_shows_values_with_units(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    raw = load_raw("cyp2d6_poor_metabolizer")
    items = {i.field_id: i for d in report.patient.domains for i in d.items}
    assert items["hs_crp_mg_per_l"].display_value == f"{raw['biomarkers']['hs_crp_mg_per_l']} mg/L"
    assert items["steps_per_day"].display_value == "4,300 steps/day"
    assert items["sleep_efficiency_pct"].display_value == f"{raw['wearables']['sleep_efficiency_pct']}%"
    assert items["cyp2d6"].display_value == "Poor Metabolizer"
    assert not items["dn4_score"].given and items["dn4_score"].display_value == "missing"


@pytest.mark.parametrize("name", EXAMPLES)
def test_patient_reference_never_appears(name: str, report_for: Callable[[str], Report]) -> None:
    ref = load_raw(name).get("patient_ref")
    report = report_for(name)
    html, text = render_html(report), report_json(report)
    assert "patient_ref" not in text
    if ref:
        assert ref not in html and ref not in text


# ------------------------------------------------------------------------------------------- waterfall


@pytest.mark.parametrize("name", EXAMPLES)
def test_waterfall_steps_add_up_from_base_to_margin(name: str, report_for: Callable[[str], Report]) -> None:
    report = report_for(name)
    option_ids = [o.option_id for o in (*report.options, *report.excluded)]
    assert [w.option_id for w in report.explanations] == option_ids
    for why in report.explanations:
        features = [s for s in why.steps if s.kind == "feature"]
        assert why.steps[-1].kind == "other" and len(features) == len(why.steps) - 1
        assert len(features) <= 8
        assert [abs(s.shap_value) for s in features] == sorted(
            (abs(s.shap_value) for s in features), reverse=True
        )
        assert why.steps[0].start == why.base_value
        for a, b in zip(why.steps, why.steps[1:], strict=False):
            assert b.start == a.end
        for s in why.steps:
            assert s.end == pytest.approx(s.start + s.shap_value)
            assert s.delta_p == pytest.approx(sigmoid(s.end) - sigmoid(s.start))
        assert why.steps[-1].end == pytest.approx(why.margin, abs=1e-9)
        assert why.p_margin == pytest.approx(sigmoid(why.margin))
        assert sum(t.shap_value for t in why.domain_totals) == pytest.approx(why.margin - why.base_value)
        assert [t.domain for t in why.domain_totals] == [
            "Clinical",
            "Psychosocial",
            "Biomarkers",
            "Wearables",
            "Genetics",
        ]


def test_waterfall_labels_use_catalog_labels_values_and_units(
    report_for: Callable[[str], Report], feature_catalog: Any
) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    seen = {s.feature_id: s for why in report.explanations for s in why.steps if s.kind == "feature"}
    for fid, s in seen.items():
        assert s.label == feature_catalog.feature(fid).label
        assert s.display_value
    if "hs_crp_mg_per_l" in seen:
        assert seen["hs_crp_mg_per_l"].display_value == "4.2 mg/L"
    if "cyp2d6_phenotype_ordinal" in seen:
        assert seen["cyp2d6_phenotype_ordinal"].display_value == "Poor metabolizer"


def test_waterfall_svg_has_text_alternatives_and_direction(report_for: Callable[[str], Report]) -> None:
    report = report_for("hla_b_1502_carrier")
    doc = parse(render_html(report))
    svgs = doc.find_all("svg", class_="waterfall")
    charted = [w for w in report.explanations if w.chart]
    assert len(svgs) == len(charted)
    for svg, why in zip(svgs, charted, strict=True):
        assert svg.attrs["role"] == "img"
        title_id, desc_id = svg.attrs["aria-labelledby"].split()
        assert svg.find("title", id=title_id).text.startswith("Why the model estimates")
        desc = svg.find("desc", id=desc_id).text
        for s in why.steps:
            assert s.label in desc
        ups = sum(1 for s in why.steps if s.shap_value >= 0)
        assert len(svg.find_all("g", class_="wf-up")) == ups
        assert len(svg.find_all("g", class_="wf-down")) == len(why.steps) - ups


def test_max_contributions_folds_the_rest_into_other(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any
) -> None:
    explained, profile = explained_for("cyp2d6_poor_metabolizer")
    report = build_report(
        explained, profile, model_summary(), feature_catalog, pgx_tables, max_contributions=3
    )
    for why in report.explanations:
        assert sum(1 for s in why.steps if s.kind == "feature") == 3
        assert why.n_other_features == len(explained.features.names) - 3
        assert why.steps[-1].end == pytest.approx(why.margin, abs=1e-9)
    with pytest.raises(ValidationError, match="max_contributions"):
        build_report(explained, profile, model_summary(), feature_catalog, pgx_tables, max_contributions=0)


# ------------------------------------------------------------------------------------------- inputs checked


def test_build_report_lists_every_problem_at_once(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any
) -> None:
    explained, profile = explained_for("cyp2d6_poor_metabolizer")
    bad_first = explained.explanations[0].model_copy(
        update={"margin": explained.explanations[0].margin + 0.5}
    )
    broken = explained.model_copy(
        update={
            "explanations": (bad_first, *explained.explanations[2:]),
            "features": explained.features.model_copy(
                update={"catalog": explained.features.catalog.model_copy(update={"sha256": "0" * 64})}
            ),
        }
    )
    with pytest.raises(ValidationError) as err:
        build_report(broken, profile, model_summary(), feature_catalog, pgx_tables)
    paths = [v.path for v in err.value.violations]
    assert "features.catalog.sha256" in paths
    assert "explanations[0]" in paths
    assert any(p.endswith(".option_id") for p in paths)  # the option whose explanation was dropped
    assert len(paths) == 3


def test_generated_at_defaults_to_the_recommendation_time(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any
) -> None:
    explained, profile = explained_for("phenotype_only_report")
    default = build_report(explained, profile, model_summary(), feature_catalog, pgx_tables)
    assert default.generated_at == explained.recommendation.provenance.generated_at
    later = build_report(
        explained, profile, model_summary(), feature_catalog, pgx_tables, generated_at="2027-01-02T03:04:05Z"
    )
    assert later.generated_at == "2027-01-02T03:04:05Z"
    assert "2 Jan 2027" in render_html(later)


# ------------------------------------------------------------------------------------------- header, card


def test_header_and_footer_carry_provenance(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    prov = report.provenance
    doc = parse(render_html(report))
    header, footer = doc.find("header"), doc.find("footer")
    for text in (
        prov.model_name,
        prov.model_version,
        prov.catalog_id,
        prov.catalog_version,
        prov.cpic_data_version,
    ):
        assert text in header.text
    assert report.intended_use in header.text
    for text in (
        prov.catalog_sha256,
        prov.options_catalog_sha256,
        prov.code_version,
        prov.model_alias,
        prov.model_run_id,
        prov.cpic_data_version,
    ):
        assert text in footer.text


def test_model_card_section(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    section = _section(parse(render_html(report)), "model")
    text = section.text
    assert "supports and does not replace clinical judgment" in text
    assert "synthetic" in text.lower()
    for limitation in report.model.limitations:
        assert limitation in text
    gap_rows = section.find("table", class_="gaps").find("tbody").find_all("tr")
    assert len(gap_rows) == len(report.model.subgroup_gaps)
    assert "Discrimination (AUC)" in gap_rows[0].text
    rows = _validation_rows(section)
    assert [group for group, _ in rows] == ["Discrimination", "Discrimination", "Calibration", "Ranking quality",
                                            "Policy value"]  # subgroup figures are in their own table
    policy = rows[-1][1]
    assert "Response rate if the top option is followed" in policy
    assert "46% (44\u201349%)" in policy  # the interval on its own figure's row
    assert "3.1 pts" in rows[3][1]  # regret in percentage points


def _validation_rows(section: Node) -> list[tuple[str, str]]:
    """(group, row text) of each figure of the validation table, in order."""
    out = []
    for body in section.find("table", class_="metrics").find_all("tbody"):
        group = body.find("tr", class_="group").text.strip()
        out += [(group, " ".join(tr.text.split())) for tr in body.find_all("tr") if "group" not in tr.attrs.get("class", "")]
    return out


def test_validation_figures_are_grouped_and_named_for_a_clinician(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any
) -> None:
    """Every figure a training run records, as the model summary carries it (a proto map: no order)."""
    from precisionpain.models.card import VALIDATION_GROUPS, VALIDATION_METRICS

    figures = {key: 0.5 for key in VALIDATION_METRICS}
    figures |= {"dr_policy_value_ci_low": 0.41, "dr_policy_value_ci_high": 0.59, "ipw_policy_value_ci_low": 0.4,
                "ipw_policy_value_ci_high": 0.6, "subgroup_sex_auc_gap": 0.02, "subgroup_age_band_ece_gap": 0.01}
    shuffled = dict(sorted(figures.items(), key=lambda kv: kv[0][::-1]))
    explained, profile = explained_for("cyp2d6_poor_metabolizer")
    summary = model_summary().model_copy(update={"validation_metrics": shuffled, "subgroup_gaps": ()})
    report = build_report(explained, profile, summary, feature_catalog, pgx_tables)
    section = _section(parse(render_html(report)), "model")
    rows = _validation_rows(section)
    assert len(rows) == len(figures) - 4  # each interval is on its figure's row
    groups = [g for g, _ in rows]
    assert sorted(set(groups), key=groups.index) == list(VALIDATION_GROUPS)
    assert groups == sorted(groups, key=VALIDATION_GROUPS.index)
    text = " ".join(t for _, t in rows)
    assert "_" not in text and "Ece" not in text and "Dr gain" not in text
    for key, meaning in VALIDATION_METRICS.items():
        assert meaning.name in text and meaning.meaning in text, key
    dr = next(t for _, t in rows if t.startswith(VALIDATION_METRICS["dr_policy_value"].name + " "))
    assert "50% (41\u201359%)" in dr
    assert "sex groups" in text and "age band groups" in text


def test_real_data_model_has_no_synthetic_banner(
    explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any
) -> None:
    explained, profile = explained_for("cyp2d6_poor_metabolizer")
    report = build_report(explained, profile, model_summary(synthetic=False), feature_catalog, pgx_tables)
    assert not parse(render_html(report)).find_all("p", class_="synthetic")


def test_references_include_applied_cpic_guidelines(report_for: Callable[[str], Report]) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    urls = [r.url for r in report.references]
    assert len(urls) == len(set(urls))
    applied = {i.guideline_url for d in report.pgx.drugs for i in d.items}
    assert applied <= set(urls)
    assert all(u.startswith("https://") for u in urls)
    ref_links = {a.attrs["href"] for a in _section(parse(render_html(report)), "references").find_all("a")}
    assert set(urls) == ref_links


def test_text_is_escaped(explained_for: Callable[[str], Any], feature_catalog: Any, pgx_tables: Any) -> None:
    explained, profile = explained_for("mostly_missing")
    hostile = model_summary().model_copy(update={"limitations": ("<script>alert(1)</script>",)})
    html = render_html(build_report(explained, profile, hostile, feature_catalog, pgx_tables))
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ------------------------------------------------------------------------------------------- self-contained


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_html_is_self_contained_and_small(name: str, report_for: Callable[[str], Report]) -> None:
    html = render_html(report_for(name))
    doc = parse(html)
    assert not doc.find_all("script") and not doc.find_all("link") and not doc.find_all("img")
    assert not doc.find_all("iframe") and not doc.find_all("object")
    assert all("src" not in n.attrs for n in doc.iter())
    assert "url(" not in html and "@import" not in html
    assert len(html.encode()) < 300_000


def test_headings_and_tables_are_structured(report_for: Callable[[str], Report]) -> None:
    doc = parse(render_html(report_for("cyp2d6_poor_metabolizer")))
    assert doc.find("html").attrs["lang"] == "en"
    assert len(doc.find_all("h1")) == 1 and len(doc.find_all("main")) == 1
    for section in doc.find("main").find_all("section"):
        if "aria-labelledby" in section.attrs:
            assert section.find(id=section.attrs["aria-labelledby"]).tag in {"h2", "h3"}
    for table in doc.find_all("table"):
        assert table.find_all("caption"), "every table has a caption"
        head = table.find("thead")
        assert all(th.attrs.get("scope") == "col" for th in head.find_all("th"))
        for body in table.find_all("tbody"):
            for tr in body.find_all("tr"):
                row_headers = [th for th in tr.find_all("th")]
                scopes = {"row", "rowgroup"} if "group" in tr.attrs.get("class", "") else {"row"}
                assert all(th.attrs.get("scope") in scopes for th in row_headers)


# ------------------------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("name", EXAMPLES)
def test_report_round_trips_through_json(name: str, report_for: Callable[[str], Report]) -> None:
    report = report_for(name)
    text = report_json(report)
    assert json.loads(text)["report_format"] == REPORT_FORMAT
    again = report_from_json(text)
    assert again == report
    assert render_html(again) == render_html(report)
    assert report_from_json(report.model_dump_json()) == report


def test_report_from_json_explains_what_is_wrong(explained_for: Callable[[str], Any]) -> None:
    explained, _ = explained_for("mostly_missing")
    with pytest.raises(ValidationError, match="explained recommendation, not a report"):
        report_from_json(explained.model_dump_json())
    with pytest.raises(ValidationError, match="not valid JSON"):
        report_from_json("{")
    with pytest.raises(ValidationError, match="report_format"):
        report_from_json('{"report_format": "something-else"}')
    with pytest.raises(ValidationError) as err:
        report_from_json(json.dumps({"report_format": REPORT_FORMAT, "title": 3}))
    paths = {v.path for v in err.value.violations}
    assert {"title", "generated_at", "provenance"} <= paths


def test_nan_free_json(report_for: Callable[[str], Report]) -> None:
    data = json.loads(report_json(report_for("mostly_missing")))

    def walk(x: Any) -> None:
        if isinstance(x, float):
            assert math.isfinite(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)

"""The guideline catalog (models/guidelines.yaml) is strict, complete and says what the guidelines say: every
condition and pain type has a table, every option of the option catalog a row in each, every row a source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from precisionpain.catalog.guidelines import NO_ROW_NOTE, load_guideline_catalog
from precisionpain.catalog.loader import load_treatment_options
from precisionpain.errors import CatalogError
from precisionpain.schema import GuidelineBasis, GuidelineTier, PainCondition, PainType

GUIDELINES = Path("models") / "guidelines.yaml"
STRONG_OPIOIDS = ("oxycodone", "tapentadol", "buprenorphine_transdermal")


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _load(root: Path):  # type: ignore[no-untyped-def]
    return load_guideline_catalog(load_treatment_options(root), root)


def _problems(root: Path) -> str:
    with pytest.raises(CatalogError) as err:
        _load(root)
    assert err.value.what == "models/guidelines.yaml"
    return " | ".join(v.describe() for v in err.value.violations)


def _tables(catalog: Any) -> list[tuple[str, Any]]:
    """Every table a patient can get: each condition with each pain type it allows, and each pain type alone."""
    out = [(f"pain type {p.value}", catalog.table(None, p)) for p in PainType]
    out += [(f"condition {c.value}", catalog.table(c, PainType.mixed)) for c in PainCondition]
    return out


def test_repository_catalog_loads_complete(repo_root: Path, option_catalog) -> None:  # type: ignore[no-untyped-def]
    catalog = _load(repo_root)
    assert catalog.version.count(".") == 2 and len(catalog.sha256) == 64
    assert catalog.missing_rows == ()  # every option of the option catalog has a row in every table
    for name, table in _tables(catalog):
        assert set(table) == set(option_catalog.ids), name
        for option_id, position in table.items():
            assert position.sources, (name, option_id)
            assert all(s.label and s.source_id in catalog.sources for s in position.sources)
            assert not position.judgement or position.note.strip(), (name, option_id)


def test_what_the_guidelines_say(repo_root: Path) -> None:
    catalog = _load(repo_root)
    tier = {name: {o: p.tier for o, p in table.items()} for name, table in _tables(catalog)}
    # carbamazepine is first line in trigeminal neuralgia and nowhere else (NICE CG173, EAN 2019)
    first = {name for name, t in tier.items() if t["carbamazepine"] is GuidelineTier.first_line}
    assert first == {"condition trigeminal_neuralgia"}
    # strong opioids are never first or second line (NeuPSIG third line, CDC 2022 prefers non-opioid therapy)
    for name, t in tier.items():
        for o in STRONG_OPIOIDS:
            assert t[o] in (
                GuidelineTier.third_line, GuidelineTier.recommended_against, GuidelineTier.not_addressed
            ), (name, o)
    # NeuPSIG's first line for neuropathic conditions; NICE NG59 against gabapentinoids for sciatica
    for c in ("condition painful_diabetic_neuropathy", "condition postherpetic_neuralgia", "pain type neuropathic"):
        assert {o for o, t in tier[c].items() if t is GuidelineTier.first_line} == {
            "amitriptyline", "nortriptyline", "duloxetine", "venlafaxine", "pregabalin", "gabapentin"
        }
    assert tier["condition lumbar_radiculopathy"]["pregabalin"] is GuidelineTier.recommended_against
    # fibromyalgia: exercise first (EULAR's only strong-for), opioids and NSAIDs against
    fm = tier["condition fibromyalgia"]
    assert fm["physical_therapy"] is GuidelineTier.first_line
    assert fm["oxycodone"] is fm["ibuprofen"] is GuidelineTier.recommended_against
    # osteoarthritis: topical NSAID first line (OARSI/ACR strong for the knee)
    assert tier["condition knee_hip_osteoarthritis"]["topical_diclofenac"] is GuidelineTier.first_line


def test_condition_tables_and_pain_type_fallback(repo_root: Path) -> None:
    catalog = _load(repo_root)
    fm = catalog.table(PainCondition.fibromyalgia, PainType.nociplastic)
    assert fm["physical_therapy"].basis is GuidelineBasis.condition and fm["physical_therapy"].table == "fibromyalgia"
    unknown = catalog.table(None, PainType.neuropathic)
    assert unknown["pregabalin"].basis is GuidelineBasis.pain_type and unknown["pregabalin"].table == "neuropathic"
    # "other" reads the patient's own pain type; "other_neuropathic" the neuropathic table whatever the type
    assert catalog.table(PainCondition.other, PainType.nociceptive) is catalog.table(None, PainType.nociceptive)
    assert catalog.table(PainCondition.other_neuropathic, PainType.mixed) is unknown
    ctx = catalog.context(None, PainType.neuropathic)
    assert ctx.pain_condition is None and ctx.basis is GuidelineBasis.pain_type
    assert ctx.text == "Pain condition not given: guideline tiers from the pain type (neuropathic)."
    ctx = catalog.context(PainCondition.trigeminal_neuralgia, PainType.neuropathic)
    assert ctx.basis is GuidelineBasis.condition and ctx.table == "trigeminal_neuralgia"


def test_an_option_without_a_row_is_not_addressed_and_listed(catalog_copy: Path) -> None:
    def drop(d: dict[str, Any]) -> None:
        for row in d["conditions"]["fibromyalgia"]["rows"]:
            if "peer_support" in row["options"]:
                row["options"].remove("peer_support")

    _edit(catalog_copy / GUIDELINES, drop)
    catalog = _load(catalog_copy)
    assert catalog.missing_rows == (("fibromyalgia", "peer_support"),)
    position = catalog.table(PainCondition.fibromyalgia, PainType.mixed)["peer_support"]
    assert position.tier is GuidelineTier.not_addressed and position.note == NO_ROW_NOTE and not position.sources


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][0].update(colour="red"), ["rows[0].colour", "unknown key"]),
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][0]["options"].append("aspirin"), ["'aspirin'", "not an option id"]),
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][1]["options"].append("physical_therapy"), ["a second time"]),
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][0]["sources"].append("who_2030"), ["'who_2030'", "not in `sources`"]),
        (lambda d: d["conditions"].pop("fibromyalgia"), ["'fibromyalgia'", "every condition"]),
        (lambda d: d["pain_types"].pop("mixed"), ["'mixed'", "every pain type"]),
        (lambda d: d["conditions"].update(migraine=d["conditions"]["other"]), ["conditions.migraine"]),
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][0].update(tier="first"), ["rows[0].tier"]),
        (lambda d: d["conditions"]["fibromyalgia"]["rows"][0].update(judgement=True, note=""), ["judgement"]),
        (lambda d: d["conditions"]["other"].update(rows=d["conditions"]["fibromyalgia"]["rows"]), ["from_pain_type"]),
        (lambda d: d["sources"]["cdc_2022"].pop("verified"), ["sources.cdc_2022.verified"]),
    ],
    ids=[
        "unknown-key", "unknown-option", "option-twice", "unknown-source", "condition-missing", "pain-type-missing",
        "unknown-condition", "unknown-tier", "judgement-without-note", "rows-and-pain-type", "source-unverified-unsaid",
    ],
)
def test_the_catalog_is_strict(catalog_copy: Path, change, fragments: list[str]) -> None:  # type: ignore[no-untyped-def]
    _edit(catalog_copy / GUIDELINES, change)
    text = _problems(catalog_copy)
    for fragment in fragments:
        assert fragment in text, text


def test_sha256_tracks_content(catalog_copy: Path) -> None:
    before = _load(catalog_copy).sha256
    _edit(catalog_copy / GUIDELINES, lambda d: d.update(description="changed"))
    assert _load(catalog_copy).sha256 != before

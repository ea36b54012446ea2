"""The rules catalog covers the option catalog: every drug option meets at least one rule that can warn or exclude;
the rules that only say "CPIC guidance uses the functional phenotype" name exactly the options CPIC has rows for
that gene; and docs/safety.md lists every rule with its level."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from precisionpain.catalog.safety import Condition
from precisionpain.catalog.types import Modality
from precisionpain.schema import RuleLevel
from tests.unit.safety.conftest import REPO

DOC = REPO / "docs" / "safety.md"


def _conditions(c: Condition) -> Iterator[Condition]:
    yield c
    for sub in (*(c.all_ or ()), *(c.any_ or ()), *((c.not_,) if c.not_ is not None else ())):
        yield from _conditions(sub)


def _cpic_genes(catalogs: Any, option: Any) -> set[str]:
    """The genes CPIC's rows for the option's drug are keyed on (none without a CPIC drug)."""
    if not option.cpic_drug:
        return set()
    return {g for r in catalogs.tables.recommendations_for(option.cpic_drug) for g in r.genes}


def _actionable_genes(catalogs: Any, option: Any) -> set[str]:
    """The genes of CPIC rows whose action the rules turn into a reason (cpic_action_levels)."""
    if not option.cpic_drug:
        return set()
    acting = {a.value for a in catalogs.rules.cpic_action_levels}
    return {
        g
        for r in catalogs.tables.recommendations_for(option.cpic_drug)
        if r.action_code in acting
        for g in r.genes
    }


def test_every_drug_option_meets_a_rule_that_can_warn_or_exclude(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    targets = safety_catalogs.rule_option_ids()
    acting = {
        oid
        for rule in safety_catalogs.rules.rules
        if rule.level is not RuleLevel.info and not rule.data_warning
        for oid in targets[rule.id]
    }
    drugs = [o.id for o in safety_catalogs.options.options if o.modality is Modality.drug]
    assert [oid for oid in drugs if oid not in acting] == []


def test_non_drug_options_meet_no_rule(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    non_drug = {o.id for o in safety_catalogs.options.options if o.modality is Modality.non_drug}
    hit = {rid: set(oids) & non_drug for rid, oids in safety_catalogs.rule_option_ids().items()}
    assert {rid: oids for rid, oids in hit.items() if oids} == {}


def test_functional_phenotype_rules_name_exactly_the_options_cpic_covers(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    options = {o.id: o for o in safety_catalogs.options.options}
    targets = safety_catalogs.rule_option_ids()
    named: dict[str, set[str]] = {}
    for rule in safety_catalogs.rules.rules:
        for c in _conditions(rule.when):
            gene = c.phenoconverted or c.assumed_activity_score
            if gene is None:
                continue
            named.setdefault(gene, set()).update(targets[rule.id])
            without_rows = [oid for oid in targets[rule.id] if gene not in _cpic_genes(safety_catalogs, options[oid])]
            assert without_rows == [], f"{rule.id}: CPIC has no {gene} rows for {without_rows}"
    for gene in safety_catalogs.rules.phenoconversion.genes:
        covered = {oid for oid, o in options.items() if gene in _actionable_genes(safety_catalogs, o)}
        assert covered <= named.get(gene, set()), f"{gene} phenoconversion is not said for {covered - named.get(gene, set())}"


def test_the_rule_table_of_docs_safety_md_lists_every_rule_with_its_level(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([a-z]+)", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    documented = {rid: level for rid, level in rows if rid not in safety_catalogs.rules.sources}
    assert documented == {r.id: r.level.value for r in safety_catalogs.rules.rules}

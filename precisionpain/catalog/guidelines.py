"""The guideline catalog, read strictly: models/guidelines.yaml.

Per pain condition, and per pain type for patients whose condition is not given, every option's guideline tier
(first_line, second_line, third_line, recommended_against, not_addressed), each row with its sources and, where
the tier rests on the project's own reading, ``judgement: true`` and a note. A condition may take a pain type's
table instead of rows of its own (``from_pain_type``: a pain type, or ``given`` for the patient's own).

The loader raises one :class:`CatalogError` with every problem: unknown keys, a condition or pain type missing
from the file, an option id not in models/treatment_options.yaml, an option listed twice in one table, a source
id not in ``sources``. An option of the option catalog that a table does not list is answered ``not_addressed``
with a note saying it has no row (:attr:`GuidelineCatalog.missing_rows` lists them; the catalog tests require
none), so adding an option to the option catalog never stops the service before its rows are written.

Positions are resolved once at load: a lookup per patient returns shared frozen objects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import OptionCatalog, file_sha256, parse_as, read_yaml, resolve_root
from precisionpain.catalog.safety import VERSION, Source
from precisionpain.errors import CatalogError, Violation
from precisionpain.schema import (
    GuidelineBasis,
    GuidelineContext,
    GuidelinePosition,
    GuidelineTier,
    PainCondition,
    PainType,
    SourceRef,
)

GUIDELINES_FILE = "models/guidelines.yaml"
#: The pain type the patient gave, as a condition's ``from_pain_type``.
GIVEN = "given"
NO_ROW_NOTE = "This option has no row in the guideline catalog for this table: it has not been reviewed."


class GuidelineRow(FrozenModel):
    """One tier for one or more options of a table, with its sources."""

    options: tuple[str, ...] = Field(min_length=1)
    tier: GuidelineTier
    sources: tuple[str, ...] = Field(min_length=1)
    judgement: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _judgement_note(self) -> GuidelineRow:
        if self.judgement and not self.note.strip():
            raise ValueError("a tier resting on judgement says why in `note`")
        return self


class ConditionTable(FrozenModel):
    """A condition's tiers: rows of its own, or a pain type's table (``from_pain_type``)."""

    from_pain_type: PainType | Literal["given"] | None = None
    rows: tuple[GuidelineRow, ...] = ()
    note: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> ConditionTable:
        if (self.from_pain_type is None) == (not self.rows):
            raise ValueError("a condition has either rows or from_pain_type, not both and not neither")
        return self


class PainTypeTable(FrozenModel):
    rows: tuple[GuidelineRow, ...] = Field(min_length=1)
    note: str = ""


class GuidelinesFile(FrozenModel):
    catalog_id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(pattern=VERSION)
    description: str = ""
    sources: dict[str, Source] = Field(min_length=1)
    conditions: dict[PainCondition, ConditionTable]
    pain_types: dict[PainType, PainTypeTable]


Table = Mapping[str, GuidelinePosition]


@dataclass(frozen=True, eq=False)
class GuidelineCatalog:
    """models/guidelines.yaml, validated against the option catalog, every position resolved."""

    catalog_id: str
    version: str
    sha256: str
    path: Path
    sources: Mapping[str, Source]
    conditions: Mapping[PainCondition, ConditionTable]
    #: Per table (condition or pain type), per option id of the option catalog, its position.
    _by_condition: Mapping[PainCondition, Table] = field(repr=False, default_factory=dict)
    _by_pain_type: Mapping[PainType, Table] = field(repr=False, default_factory=dict)
    _contexts: Mapping[tuple[PainCondition | None, PainType], GuidelineContext] = field(
        repr=False, default_factory=dict
    )
    #: (table, option id) of every option the option catalog holds and a table does not list.
    missing_rows: tuple[tuple[str, str], ...] = ()

    @property
    def identity(self) -> dict[str, str]:
        return {"catalog_id": self.catalog_id, "version": self.version, "sha256": self.sha256}

    def table(self, condition: PainCondition | None, pain_type: PainType) -> Table:
        """The positions of every option for a patient with this condition (None: not given) and pain type."""
        return _table_for(condition, pain_type, self.conditions, self._by_condition, self._by_pain_type)

    def context(self, condition: PainCondition | None, pain_type: PainType) -> GuidelineContext:
        """Which table a patient's tiers come from, said in words."""
        return self._contexts[(condition, pain_type)]


def _table_for(
    condition: PainCondition | None,
    pain_type: PainType,
    conditions: Mapping[PainCondition, ConditionTable],
    by_condition: Mapping[PainCondition, Table],
    by_pain_type: Mapping[PainType, Table],
) -> Table:
    if condition is not None:
        own = by_condition.get(condition)
        if own is not None:
            return own
        source = conditions[condition].from_pain_type
        if source is not None and source != GIVEN:
            return by_pain_type[PainType(source)]
    return by_pain_type[pain_type]


def _context(
    condition: PainCondition | None,
    pain_type: PainType,
    conditions: Mapping[PainCondition, ConditionTable],
    positions: Table,
) -> GuidelineContext:
    """Which table a patient reads, said in words, with every source that table cites (once)."""

    def label(value: str) -> str:
        return value.replace("_", " ")

    cited: dict[str, SourceRef] = {}
    for position in positions.values():
        for src in position.sources:
            cited.setdefault(src.source_id, src)
    sources = tuple(cited.values())
    if condition is None:
        return GuidelineContext(
            pain_type=pain_type,
            basis=GuidelineBasis.pain_type,
            table=pain_type.value,
            text=f"Pain condition not given: guideline tiers from the pain type ({label(pain_type.value)}).",
            sources=sources,
        )
    source = conditions[condition].from_pain_type
    if source is None:
        return GuidelineContext(
            pain_condition=condition,
            pain_type=pain_type,
            basis=GuidelineBasis.condition,
            table=condition.value,
            text=f"Pain condition: {label(condition.value)}; guideline tiers for {label(condition.value)}.",
            sources=sources,
        )
    table = pain_type.value if source == GIVEN else str(source)
    return GuidelineContext(
        pain_condition=condition,
        pain_type=pain_type,
        basis=GuidelineBasis.pain_type,
        table=table,
        text=f"Pain condition: {label(condition.value)}; guideline tiers from the pain type ({label(table)}).",
        sources=sources,
    )


def _resolve(
    where: str,
    name: str,
    basis: GuidelineBasis,
    rows: tuple[GuidelineRow, ...],
    options: OptionCatalog,
    sources: Mapping[str, Source],
    out: list[Violation],
    missing: list[tuple[str, str]],
) -> dict[str, GuidelinePosition]:
    known = set(options.ids)
    positions: dict[str, GuidelinePosition] = {}
    for i, row in enumerate(rows):
        for s in row.sources:
            if s not in sources:
                out.append(
                    Violation(f"{where}.rows[{i}].sources", f"names source {s!r}, which is not in `sources`")
                )
        refs = tuple(
            SourceRef(
                source_id=s, label=sources[s].label, url=sources[s].url or "", verified=sources[s].verified
            )
            for s in row.sources
            if s in sources
        )
        position = GuidelinePosition(
            tier=row.tier, basis=basis, table=name, sources=refs, judgement=row.judgement, note=row.note
        )
        for j, option_id in enumerate(row.options):
            if option_id not in known:
                out.append(
                    Violation(
                        f"{where}.rows[{i}].options[{j}]",
                        f"names {option_id!r}, which is not an option id in models/treatment_options.yaml",
                    )
                )
            elif option_id in positions:
                out.append(Violation(f"{where}.rows[{i}].options[{j}]", f"lists {option_id!r} a second time"))
            else:
                positions[option_id] = position
    unreviewed = GuidelinePosition(
        tier=GuidelineTier.not_addressed, basis=basis, table=name, note=NO_ROW_NOTE
    )
    for option_id in options.ids:
        if option_id not in positions:
            missing.append((name, option_id))
            positions[option_id] = unreviewed
    return positions


def load_guideline_catalog(
    options: OptionCatalog, root: str | os.PathLike[str] | None = None
) -> GuidelineCatalog:
    """Read and check models/guidelines.yaml of ``root`` against its option catalog; raise once with every problem."""
    base = resolve_root(root)
    path = base / GUIDELINES_FILE
    data = parse_as(GuidelinesFile, read_yaml(path), GUIDELINES_FILE)
    out: list[Violation] = []
    missing: list[tuple[str, str]] = []
    for condition in PainCondition:
        if condition not in data.conditions:
            out.append(
                Violation("conditions", f"has no entry for {condition.value!r}: every condition has one")
            )
    for pain_type in PainType:
        if pain_type not in data.pain_types:
            out.append(
                Violation("pain_types", f"has no table for {pain_type.value!r}: every pain type has one")
            )
    by_condition = {
        c: _resolve(
            f"conditions.{c.value}",
            c.value,
            GuidelineBasis.condition,
            t.rows,
            options,
            data.sources,
            out,
            missing,
        )
        for c, t in data.conditions.items()
        if t.rows
    }
    by_pain_type = {
        p: _resolve(
            f"pain_types.{p.value}",
            p.value,
            GuidelineBasis.pain_type,
            t.rows,
            options,
            data.sources,
            out,
            missing,
        )
        for p, t in data.pain_types.items()
    }
    CatalogError.raise_if_any(GUIDELINES_FILE, out)
    contexts = {
        (c, p): _context(c, p, data.conditions, _table_for(c, p, data.conditions, by_condition, by_pain_type))
        for c in (None, *PainCondition)
        for p in PainType
    }
    return GuidelineCatalog(
        catalog_id=data.catalog_id,
        version=data.version,
        sha256=file_sha256(path),
        path=path,
        sources=data.sources,
        conditions=data.conditions,
        _by_condition=by_condition,
        _by_pain_type=by_pain_type,
        _contexts=contexts,
        missing_rows=tuple(missing),
    )

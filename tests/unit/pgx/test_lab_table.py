"""translate_table: the pure part of ``precisionpain pgx translate IN.tsv --out OUT.tsv``."""

from __future__ import annotations

import pytest

from precisionpain.errors import ValidationError
from precisionpain.pgx import translate_table

TABLE = (
    "sample_id\tgene\tdiplotype\n"
    "S1\tCYP2D6\t*1/*4\n"
    "S2\tCYP2D6\t*1/*999\n"
    "S3\tCYP2C9\t*1*3\n"
    "S4\tCYP3A5\t*3/*3\n"
    "S5\tCYP2C19\t*2/*17\n"
    "S6\tCYP2D6\t*1/*22\n"
    "S7\tCYP2D6\t*1/*150\n"
    "S8\tCYP2D6\n"
    "S9\tcyp2c9\t*3/*3\n"
)


def test_bad_rows_in_the_middle_are_reported_and_the_others_written(pgx_tables) -> None:
    out = translate_table(TABLE, pgx_tables)
    assert out.header == ("sample_id", "gene", "diplotype", "activity_score", "phenotype")
    assert [e.line for e in out.errors] == [3, 4, 5, 9]
    assert [e.gene for e in out.errors] == ["CYP2D6", "CYP2C9", "CYP3A5", "CYP2D6"]
    unknown = out.errors[0]
    assert "*999" in unknown.reason  # a lab-table tool may name the allele
    assert unknown.describe().startswith("line 3: CYP2D6: ")
    assert "fields" in out.errors[3].reason
    assert not out.ok
    rows = {r[0]: r for r in out.rows}
    assert list(rows) == ["S1", "S5", "S6", "S7", "S9"]
    assert rows["S1"][3:] == ("1.0", "Intermediate Metabolizer")
    assert rows["S5"][3:] == ("", "Intermediate Metabolizer")  # CYP2C19 has no activity score
    assert rows["S6"][3:] == ("n/a", "Indeterminate")
    assert rows["S7"][3:] == ("", "")  # *150: no CPIC function, so no phenotype
    assert rows["S9"][3:] == ("0.0", "Poor Metabolizer")
    assert [n.line for n in out.notes] == [7, 8]


def test_to_tsv_writes_header_and_rows(pgx_tables) -> None:
    out = translate_table("gene\tdiplotype\r\nCYP2D6\t*4/*1\r\n\r\nCYP2C9\t*1/*2\r\n", pgx_tables)
    assert out.ok
    assert out.to_tsv() == (
        "gene\tdiplotype\tactivity_score\tphenotype\n"
        "CYP2D6\t*4/*1\t1.0\tIntermediate Metabolizer\n"
        "CYP2C9\t*1/*2\t1.5\tIntermediate Metabolizer\n"
    )
    again = translate_table(out.to_tsv().replace("\tactivity_score\tphenotype", "\tas_in\tph_in"), pgx_tables)
    assert again.ok and len(again.rows) == 2


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "header"),
        ("gene\tcall\nCYP2D6\t*1/*1\n", "diplotype"),
        ("gene\tdiplotype\tphenotype\nCYP2D6\t*1/*1\tPM\n", "phenotype"),
        ("Gene\tdiplotype\tgene\n", "unique"),
    ],
)
def test_unusable_headers_raise(text: str, rule: str, pgx_tables) -> None:
    with pytest.raises(ValidationError) as err:
        translate_table(text, pgx_tables)
    assert rule in str(err.value)


def test_header_names_are_case_insensitive_and_kept(pgx_tables) -> None:
    out = translate_table("Gene\tDiplotype\nCYP2D6\tCYP2D6*1/*1x2\n", pgx_tables)
    assert out.header[:2] == ("Gene", "Diplotype")
    assert out.rows == (("CYP2D6", "CYP2D6*1/*1x2", "3.0", "Ultrarapid Metabolizer"),)

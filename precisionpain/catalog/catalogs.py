"""Everything the catalog root holds, loaded together: the feature catalog, the treatment-option catalog and
the CPIC tables, from one resolved root (so the three always come from the same place)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    load_feature_catalog,
    load_treatment_options,
    resolve_root,
)
from precisionpain.catalog.pgx_tables import load_pgx_tables
from precisionpain.pgx.tables import PgxTables


@dataclass(frozen=True)
class Catalogs:
    root: Path
    features: FeatureCatalog
    options: OptionCatalog
    tables: PgxTables


def load_catalogs(root: str | os.PathLike[str] | None = None) -> Catalogs:
    """The three catalogs of ``root`` (resolved like every catalog: flag, environment, bundled, repository)."""
    resolved = resolve_root(root)
    return Catalogs(
        resolved, load_feature_catalog(resolved), load_treatment_options(resolved), load_pgx_tables(resolved)
    )

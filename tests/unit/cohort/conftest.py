"""Small synthetic cohorts (a few thousand patients) and the DGP's internal pieces for counterfactual tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

N_SMALL = 4000
SEED = 11
CHUNK = 1500  # several chunks, so chunking is exercised


@pytest.fixture(scope="session")
def cohort(feature_catalog: Any, option_catalog: Any, pgx_tables: Any) -> pd.DataFrame:
    from precisionpain.cohort import generate_cohort

    return generate_cohort(
        N_SMALL, SEED, catalog=feature_catalog, options=option_catalog, tables=pgx_tables, chunk_size=CHUNK
    )


@dataclass(frozen=True)
class Draw:
    """True population and genotypes of n patients, to recompute outcomes under changed genotypes."""

    pop: Any
    geno: Any
    option_ids: tuple[str, ...]

    def index(self, option: str) -> int:
        return self.option_ids.index(option)


@pytest.fixture(scope="session")
def draw(pgx_tables: Any, option_catalog: Any) -> Draw:
    from precisionpain.cohort.genetics import GenotypeModel
    from precisionpain.cohort.population import draw_population

    rng = np.random.default_rng(2024)
    pop = draw_population(rng, 3000)
    geno = GenotypeModel(pgx_tables).draw(rng, pop.group)
    return Draw(pop=pop, geno=geno, option_ids=tuple(option_catalog.ids))

"""Small synthetic cohorts (a few thousand patients) and the DGP's internal pieces for counterfactual tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

N_SMALL = 4000
N_LARGE = 30_000
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
    """True population, genotypes, safety inputs and medicines of n patients, to recompute outcomes under changed
    inputs (``exposures`` is what the outcome model reads of the medicines)."""

    pop: Any
    geno: Any
    safety: Any
    medications: Any
    exposures: Any
    option_ids: tuple[str, ...]

    def index(self, option: str) -> int:
        return self.option_ids.index(option)


@pytest.fixture(scope="session")
def medicines(repo_root: Any) -> Any:
    """The generator's medicines resolved against the repository's medication catalog."""
    from precisionpain.catalog.safety import load_medication_catalog
    from precisionpain.cohort.medications import MedicationModel

    return MedicationModel(load_medication_catalog(repo_root))


@pytest.fixture(scope="session")
def draw(pgx_tables: Any, option_catalog: Any, medicines: Any) -> Draw:
    from precisionpain.cohort.genetics import GenotypeModel
    from precisionpain.cohort.population import draw_clinical_safety, draw_population

    rng = np.random.default_rng(2024)
    pop = draw_population(rng, 3000)
    geno = GenotypeModel(pgx_tables).draw(rng, pop.group)
    safety = draw_clinical_safety(rng, pop)
    meds = medicines.draw(rng, pop, safety)
    return Draw(
        pop=pop, geno=geno, safety=safety, medications=meds, exposures=medicines.exposures(meds),
        option_ids=tuple(option_catalog.ids),
    )  # fmt: skip


@pytest.fixture(scope="session")
def large_cohort(feature_catalog: Any, option_catalog: Any, pgx_tables: Any) -> pd.DataFrame:
    """30,000 patients: enough for the marginals of rare inputs (pregnancy, hepatic impairment, MAO inhibitors)."""
    from precisionpain.cohort import generate_cohort

    return generate_cohort(N_LARGE, SEED, catalog=feature_catalog, options=option_catalog, tables=pgx_tables)

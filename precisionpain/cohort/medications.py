"""The medicines patients take now: who takes which (true), how the list is recorded, and what the outcome
model reads of it (CYP2D6 inhibition, benzodiazepines, gabapentinoids, MAO inhibitors, anticoagulants).

Medicines are drawn by group (params.MEDICATION_GROUPS): an opioid for every true current opioid user, an
antidepressant more often with depression, a benzodiazepine more often with anxiety, a few MAO inhibitors,
omeprazole and anticoagulants rising with age. What a medicine does (drug class, properties, CYP2D6 inhibitor
strength) comes from the medication catalog (features/medications.yaml), the same rows the safety rules read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from precisionpain.catalog.safety import MedicationCatalog, MedicationProperty
from precisionpain.cohort import params as P
from precisionpain.cohort.population import ClinicalSafety, Population
from precisionpain.errors import ConfigError, Violation
from precisionpain.features.medications import SEPARATOR

#: Every medicine the generator can draw, in the order the recorded list names them.
MEDICINES: tuple[str, ...] = tuple(name for group in P.MEDICATION_GROUPS.values() for name in group)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Medications:
    """The medicines n patients take now: ``taking[i, j]`` is True when patient i takes MEDICINES[j]."""

    taking: np.ndarray  # bool (n, len(MEDICINES))

    def __len__(self) -> int:
        return len(self.taking)

    def names(self) -> np.ndarray:
        """Object array: the flat form of each patient's list (generic names joined by "; "), None if empty."""
        codes = self.taking.astype(np.int64) @ (1 << np.arange(len(MEDICINES), dtype=np.int64))
        unique, inverse = np.unique(codes, return_inverse=True)
        texts = np.empty(len(unique), dtype=object)
        for k, code in enumerate(unique):
            texts[k] = SEPARATOR.join(m for j, m in enumerate(MEDICINES) if int(code) >> j & 1) or None
        return texts[inverse]


@dataclass(frozen=True)
class Exposures:
    """What the outcome model reads of the medicines (and the CYP2D6 activity factor of phenoconversion)."""

    cyp2d6_activity_factor: np.ndarray  # float: 1 without a CYP2D6 inhibitor, 0 with a strong one
    benzodiazepine: np.ndarray  # bool
    gabapentinoid: np.ndarray  # bool
    maoi: np.ndarray  # bool
    anticoagulant: np.ndarray  # bool
    opioid: np.ndarray  # bool


class MedicationModel:
    """The generator's medicines resolved against the medication catalog (a name it lacks is a ConfigError)."""

    def __init__(self, catalog: MedicationCatalog) -> None:
        rows = {name: catalog.by_name(name) for name in MEDICINES}
        problems = [
            Violation(f"params.MEDICATION_GROUPS.{name}", "is not a medicine of features/medications.yaml")
            for name, row in rows.items()
            if row is None
        ]
        ConfigError.raise_if_any("cohort medicines", problems)
        known = [row for row in rows.values() if row is not None]  # every medicine, in MEDICINES order
        self.sha256 = catalog.sha256
        self._factor = np.asarray(
            [P.CYP2D6_INHIBITOR_ACTIVITY_FACTOR[r.strength("CYP2D6").value] for r in known]
        )
        self._has: dict[MedicationProperty, np.ndarray] = {
            prop: np.asarray([prop in r.properties for r in known], dtype=bool) for prop in MedicationProperty
        }

    def draw(self, rng: np.random.Generator, pop: Population, safety: ClinicalSafety) -> Medications:
        """Who takes which medicine now (the order of draws is fixed, so results depend only on rng)."""
        n = len(pop)
        years = pop.age - 55.0
        maoi = rng.random(n) < P.P_MAOI
        takes: dict[str, np.ndarray] = {
            "opioid": pop.opioid_use.copy(),
            "antidepressant": ~maoi
            & (
                rng.random(n)
                < _sigmoid(
                    P.ANTIDEPRESSANT_LOGIT_INTERCEPT + P.ANTIDEPRESSANT_LOGIT_PER_PHQ9 * (pop.phq9 - 8.3)
                )
            ),
            "maoi": maoi,
            "benzodiazepine": rng.random(n)
            < _sigmoid(P.BENZODIAZEPINE_LOGIT_INTERCEPT + P.BENZODIAZEPINE_LOGIT_PER_GAD7 * (pop.gad7 - 7.2)),
            "z_drug": rng.random(n) < P.P_Z_DRUG,
            "gabapentinoid": rng.random(n) < np.asarray(P.P_GABAPENTINOID)[pop.pain_type],
            "proton_pump_inhibitor": rng.random(n)
            < np.clip(
                P.P_PPI_AT_55 + P.P_PPI_PER_YEAR * years + P.P_PPI_GI_BLEED * safety.gi_bleed, 0.0, 1.0
            ),
            "anticoagulant": rng.random(n)
            < _sigmoid(
                P.ANTICOAGULANT_LOGIT_AT_55
                + P.ANTICOAGULANT_LOGIT_PER_YEAR * years
                + P.ANTICOAGULANT_LOGIT_CVD * safety.cvd
            ),
        }
        taking = np.zeros((n, len(MEDICINES)), dtype=bool)
        start = 0
        for group, shares in P.MEDICATION_GROUPS.items():
            k = len(shares)
            which = rng.choice(k, size=n, p=_normalized(shares))
            chosen = takes[group]
            taking[np.flatnonzero(chosen), start + which[chosen]] = True
            start += k
        return Medications(taking)

    def exposures(self, meds: Medications) -> Exposures:
        taking = meds.taking
        factors = np.where(taking, self._factor[None, :], 1.0)
        return Exposures(
            cyp2d6_activity_factor=factors.min(axis=1) if taking.shape[1] else np.ones(len(meds)),
            benzodiazepine=(taking & self._has[MedicationProperty.benzodiazepine]).any(axis=1),
            gabapentinoid=(taking & self._has[MedicationProperty.gabapentinoid]).any(axis=1),
            maoi=(taking & self._has[MedicationProperty.maoi]).any(axis=1),
            anticoagulant=(taking & self._has[MedicationProperty.anticoagulant]).any(axis=1),
            opioid=(taking & self._has[MedicationProperty.opioid]).any(axis=1),
        )

    def property_flags(self, listed: np.ndarray, prop: MedicationProperty) -> np.ndarray:
        """Per row of a recorded list (object array of flat values), whether a medicine with ``prop`` is on it."""
        names = {m for j, m in enumerate(MEDICINES) if self._has[prop][j]}
        codes, uniques = pd.factorize(pd.Series(listed, dtype=object), use_na_sentinel=True)
        hits = np.asarray(
            [bool(names.intersection(str(v).split(SEPARATOR))) for v in uniques] + [False], dtype=bool
        )
        return hits[codes]  # code -1 (not recorded) picks the trailing False


def no_exposures(n: int) -> Exposures:
    """Nobody takes anything (for counterfactual comparisons)."""
    none = np.zeros(n, dtype=bool)
    return Exposures(np.ones(n), none, none, none, none, none)


def observe_medications(rng: np.random.Generator, meds: Medications) -> dict[str, np.ndarray]:
    """The recorded list: complete where a medication list was taken, missing elsewhere."""
    recorded = rng.random(len(meds)) < P.P_MEDICATIONS_RECORDED
    names = meds.names()
    names[~recorded] = None
    return {"medications": names}


def _normalized(shares: Mapping[str, float]) -> np.ndarray:
    p = np.asarray(list(shares.values()), dtype=np.float64)
    return p / p.sum()

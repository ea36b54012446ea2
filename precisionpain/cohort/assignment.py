"""The observed (confounded) treatment assignment: a prescriber policy as a multinomial logit.

The policy reads only RECORDED columns (a missing value counts as the neutral value) and never the hidden
genotype, so assignment is ignorable given the profile columns. Recorded PGx results act weakly (a prescriber
avoids codeine/tramadol for a reported CYP2D6 poor or ultrarapid metabolizer, NSAIDs for a reported CYP2C9
poor metabolizer and carbamazepine for a reported HLA carrier), and so do recorded safety facts (NSAIDs less
with a recorded eGFR below 60 or GI bleeding, opioids less with a benzodiazepine on the list), the recorded pain
condition (carbamazepine for trigeminal neuralgia, topical diclofenac for osteoarthritis, gabapentinoids for
sciatica as often in practice) and the recorded engagement inputs (digital options for app users). A small
exploration share keeps every propensity above ``params.POLICY_EXPLORATION / K``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from precisionpain.catalog.safety import MedicationProperty
from precisionpain.cohort import params as P
from precisionpain.cohort.genetics import PM, UM, Genotypes
from precisionpain.cohort.medications import MedicationModel


def _recorded(values: np.ndarray, neutral: float) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(out), neutral, out)


def _flag(values: np.ndarray) -> np.ndarray:
    """Object array of True/False/None -> 1.0 where True."""
    return (values == True).astype(np.float64)  # noqa: E712 - elementwise on an object array


def _tsk_pct(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    tsk11 = (np.asarray(cols["tsk11_total"], dtype=np.float64) - 11.0) / 33.0 * 100.0
    tsk17 = (np.asarray(cols["tsk17_total"], dtype=np.float64) - 17.0) / 51.0 * 100.0
    return np.where(np.isnan(tsk11), tsk17, tsk11)


def policy_covariates(
    cols: Mapping[str, np.ndarray], geno: Genotypes, medicines: MedicationModel
) -> np.ndarray:
    """(n, len(params.POLICY_COVARIATES)) covariates from the recorded columns (see params for scaling).

    ``geno`` supplies the CPIC phenotype of a gene only where the record reports that gene (a prescriber
    reads the phenotype off the report, or has the diplotype interpreted); ``medicines`` what a recorded
    medicine is (benzodiazepine or not).
    """
    age = np.asarray(cols["age_years"], dtype=np.float64)
    pain = cols["pain_type"]

    def reported(gene: str) -> np.ndarray:
        g = gene.lower()
        return np.asarray(pd.notna(cols[f"{g}_diplotype"]) | pd.notna(cols[f"{g}_phenotype"]), dtype=bool)

    d6 = geno.cyp["CYP2D6"]
    c9 = geno.cyp["CYP2C9"]
    cpic_d6 = d6.cpic_class
    cpic_c9 = c9.cpic_class
    values = {
        "nrs": (np.asarray(cols["baseline_nrs"], dtype=np.float64) - 6.5) / 1.6,
        "age": (age - 55.0) / 14.0,
        "old": (age >= 65).astype(np.float64),
        "female": (cols["sex"] == "female").astype(np.float64),
        "neuropathic": (pain == "neuropathic").astype(np.float64),
        "nociplastic": (pain == "nociplastic").astype(np.float64),
        "mixed": (pain == "mixed").astype(np.float64),
        "diabetes": _flag(cols["diabetes"]),
        "opioid": _flag(cols["current_opioid_use"]),
        "phq": (_recorded(cols["phq9_total"], 9.0) - 9.0) / 6.0,
        "gad": (_recorded(cols["gad7_total"], 7.0) - 7.0) / 5.0,
        "pcs": (_recorded(cols["pcs_total"], 30.0) - 30.0) / 11.0,
        "pseq": (_recorded(cols["pseq_total"], 21.0) - 21.0) / 12.0,
        "tsk": (_recorded(_tsk_pct(cols), 50.0) - 50.0) / 20.0,
        "cyp2d6_pm_um": (reported("CYP2D6") & ((cpic_d6 == PM) | (cpic_d6 == UM))).astype(np.float64),
        "cyp2c9_pm": (reported("CYP2C9") & (cpic_c9 == PM)).astype(np.float64),
        "hla_pos": ((cols["hla_b_1502"] == "positive") | (cols["hla_a_3101"] == "positive")).astype(
            np.float64
        ),
        "ckd": (_recorded(cols["egfr_ml_per_min_1_73m2"], 90.0) < 60.0).astype(np.float64),
        "gi_bleed": _flag(cols["history_gi_bleed"]),
        "benzodiazepine": medicines.property_flags(
            cols["medications"], MedicationProperty.benzodiazepine
        ).astype(np.float64),
        "app": (_recorded(cols["app_use_days_per_week"], 3.5) - 3.5) / 2.0,
        "prior_completed": _flag(cols["prior_programme_completed"]),
    }
    condition = cols["pain_condition"]
    for name, level in P.POLICY_CONDITION_COVARIATES.items():
        values[name] = (condition == level).astype(np.float64)
    return np.column_stack([values[name] for name in P.POLICY_COVARIATES])


def policy_matrix(option_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts (K,) and coefficients (n_covariates, K) for the given options, from params."""
    intercepts = np.asarray([P.POLICY_INTERCEPTS[o] for o in option_ids])
    coef = np.zeros((len(P.POLICY_COVARIATES), len(option_ids)))
    index = {name: i for i, name in enumerate(P.POLICY_COVARIATES)}
    for k, o in enumerate(option_ids):
        for name, beta in P.POLICY_COEFFICIENTS[o].items():
            coef[index[name], k] = beta
    return intercepts, coef


def propensities(covariates: np.ndarray, option_ids: Sequence[str]) -> np.ndarray:
    """The prescriber's assignment probabilities, (n, K); rows sum to 1."""
    intercepts, coef = policy_matrix(option_ids)
    logits = covariates @ coef + intercepts[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    soft /= soft.sum(axis=1, keepdims=True)
    k = len(option_ids)
    return (1.0 - P.POLICY_EXPLORATION) * soft + P.POLICY_EXPLORATION / k


def draw_assignment(rng: np.random.Generator, propensity: np.ndarray) -> np.ndarray:
    """One option index per row, drawn from the row's propensities."""
    cum = np.cumsum(propensity, axis=1)
    u = rng.random(len(propensity)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), propensity.shape[1] - 1)

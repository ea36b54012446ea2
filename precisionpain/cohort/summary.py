"""Summaries of a generated cohort for docs/cohort.md and for checking the DGP: response rates next to the
published figures they come from, assignment shares and overlap, the oracle and its regret, mechanisms and
marginals. Every function takes the DataFrame returned by :func:`precisionpain.cohort.generate_cohort`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from precisionpain.catalog.safety import MedicationCatalog
from precisionpain.cohort import params as P
from precisionpain.cohort.medications import MEDICINES
from precisionpain.cohort.outcomes import base_effect_pct, p30_from_effect
from precisionpain.errors import DataError, Violation

P_RESPONSE = "true_p_response__"
PROPENSITY = "true_propensity__"


def option_ids(df: pd.DataFrame) -> tuple[str, ...]:
    """Option ids in column order, read from the ``true_p_response__<option>`` columns."""
    ids = tuple(c[len(P_RESPONSE) :] for c in df.columns if isinstance(c, str) and c.startswith(P_RESPONSE))
    if not ids:
        raise DataError(
            "cohort", [Violation(f"{P_RESPONSE}*", "no ground-truth response columns", "no column")]
        )
    return ids


def _matrix(df: pd.DataFrame, prefix: str, ids: Sequence[str]) -> np.ndarray:
    return df[[f"{prefix}{o}" for o in ids]].to_numpy(dtype=np.float64)


def _pain_types(df: pd.DataFrame) -> np.ndarray:
    return df["pain_type"].to_numpy(dtype=object)


def response_rate_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean true P(response) per option, overall and by pain type, with the published anchor.

    ``published_p30_neuropathic`` is the >= 30% responder rate the published NNT (or effect) implies on top of
    neuropathic placebo (38%) under the normal-shift conversion [D], before adverse-event and dropout losses.
    """
    ids = option_ids(df)
    probs = _matrix(df, P_RESPONSE, ids)
    pain = _pain_types(df)
    rows = []
    extra = {
        "natural course": df["true_p_natural_course"].to_numpy(),
        "placebo": df["true_p_placebo"].to_numpy(),
    }
    for name, values in extra.items():
        row: dict[str, object] = {"option": name, "all": float(values.mean())}
        for t in P.PAIN_TYPES:
            mask = pain == t
            row[t] = float(values[mask].mean()) if mask.any() else math.nan
        row["published_p30_neuropathic"] = P.PLACEBO_P30 if name == "placebo" else math.nan
        row["published"] = (
            ">=30%: 38%, >=50%: 23% on placebo (Duarte 2022)"
            if name == "placebo"
            else "usual care 26.6% (Cherkin 2016, LBP, 26 wk)"
        )
        rows.append(row)
    for k, option in enumerate(ids):
        spec = P.OPTION_SPECS.get(option)
        row = {"option": option, "all": float(probs[:, k].mean())}
        for t in P.PAIN_TYPES:
            mask = pain == t
            row[t] = float(probs[mask, k].mean()) if mask.any() else math.nan
        implied = math.nan
        if spec is not None and spec.reference == "neuropathic" and spec.placebo_controlled:
            implied = p30_from_effect(base_effect_pct(option))
        row["published_p30_neuropathic"] = implied
        row["published"] = spec.published if spec is not None else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("option")


def effect_table(option_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Each option's specific effect (% points) in its reference population, its factor by pain type (for the
    condition ``other``), whether the placebo's non-specific effect is added, and its base adverse-event and
    other-dropout rates (params.OPTION_SPECS; no cohort needed)."""
    rows = []
    for option in option_ids if option_ids is not None else tuple(P.OPTION_SPECS):
        spec = P.OPTION_SPECS[option]
        rows.append(
            {
                "option": option,
                "reference": spec.reference,
                "tau (points)": base_effect_pct(option),
                "pain-type factor (noci / neuro / nocipl / mixed)": " / ".join(
                    f"{f:g}" for f in spec.pain_type_factor
                ),
                "placebo added": "yes" if spec.placebo_controlled else "no",
                "base withdrawal AE": spec.p_adverse_event,
                "base other dropout": spec.p_dropout_other,
                "published": spec.published,
            }
        )
    return pd.DataFrame(rows).set_index("option")


def condition_factor_frame(option_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The factor on each option's effect in each condition with its usual pain type (``other``: nociceptive)."""
    from precisionpain.cohort.outcomes import condition_factor_table

    ids = option_ids if option_ids is not None else tuple(P.OPTION_SPECS)
    data = {}
    for c, condition in enumerate(P.PAIN_CONDITIONS):
        usual = P.CONDITION_PAIN_TYPE.get(condition, "nociceptive")
        t = P.PAIN_TYPES.index(usual)
        data[condition] = [float(condition_factor_table(o)[t, c]) for o in ids]
    return pd.DataFrame(data, index=pd.Index(list(ids), name="option"))


def assignment_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per option: patients assigned, share, observed response rate, and the spread of its propensity."""
    ids = option_ids(df)
    prop = _matrix(df, PROPENSITY, ids)
    assigned = df["assigned_option"].to_numpy(dtype=object)
    responded = df["responded"].to_numpy(dtype=np.float64)
    probs = _matrix(df, P_RESPONSE, ids)
    rows = []
    for k, option in enumerate(ids):
        mask = assigned == option
        rows.append(
            {
                "option": option,
                "n_assigned": int(mask.sum()),
                "share": float(mask.mean()),
                "observed_response": float(responded[mask].mean()) if mask.any() else math.nan,
                "mean_true_p_if_assigned": float(probs[mask, k].mean()) if mask.any() else math.nan,
                "mean_true_p_all": float(probs[:, k].mean()),
                "propensity_min": float(prop[:, k].min()),
                "propensity_median": float(np.median(prop[:, k])),
                "propensity_max": float(prop[:, k].max()),
            }
        )
    return pd.DataFrame(rows).set_index("option")


def oracle_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Oracle (each patient's best option by true P(response)) against the best single option and the
    observed prescriber policy. Regret = mean over patients of (true p of the oracle's option - true p of the
    option chosen)."""
    ids = option_ids(df)
    probs = _matrix(df, P_RESPONSE, ids)
    oracle = probs.max(axis=1)
    means = probs.mean(axis=0)
    best = int(means.argmax())
    index = {o: k for k, o in enumerate(ids)}
    assigned = np.asarray([index[o] for o in df["assigned_option"].to_numpy(dtype=object)], dtype=np.intp)
    p_assigned = probs[np.arange(len(df)), assigned]
    rows: list[tuple[str, object]] = [
        ("patients", len(df)),
        ("observed response rate (responded)", float(df["responded"].mean())),
        ("mean true p, observed assignment", float(p_assigned.mean())),
        ("mean true p, oracle (best option per patient)", float(oracle.mean())),
        ("best single option", ids[best]),
        ("mean true p, best single option for everyone", float(means[best])),
        ("regret, best single option", float(oracle.mean() - means[best])),
        ("regret, observed assignment", float(oracle.mean() - p_assigned.mean())),
        (
            "share of patients whose oracle option is the best single option",
            float((probs.argmax(1) == best).mean()),
        ),
        ("mean true p, natural course", float(df["true_p_natural_course"].mean())),
        ("mean true p, placebo", float(df["true_p_placebo"].mean())),
        ("true p range (min, max)", f"{probs.min():.3f}, {probs.max():.3f}"),
        ("share of true p in [0.05, 0.85]", float(((probs >= 0.05) & (probs <= 0.85)).mean())),
        ("minimum propensity", float(_matrix(df, PROPENSITY, ids).min())),
    ]
    return pd.DataFrame(rows, columns=["metric", "value"]).set_index("metric")


def oracle_choice_table(df: pd.DataFrame) -> pd.DataFrame:
    """Share of patients for whom each option is the oracle's choice, overall and by pain type."""
    ids = option_ids(df)
    choice = np.asarray(ids, dtype=object)[_matrix(df, P_RESPONSE, ids).argmax(axis=1)]
    pain = _pain_types(df)
    out = pd.DataFrame(index=pd.Index(ids, name="option"))
    out["all"] = [float((choice == o).mean()) for o in ids]
    for t in P.PAIN_TYPES:
        mask = pain == t
        out[t] = [float((choice[mask] == o).mean()) if mask.any() else math.nan for o in ids]
    return out


def _grouped(df: pd.DataFrame, key: pd.Series, columns: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Means of ``columns`` by ``key`` (missing -> "none"; CPIC "Likely" terms share their class), with n."""
    names = key.astype(object).where(key.notna(), "none").map(lambda v: str(v).replace("Likely ", ""))
    groups = names.to_numpy(dtype=object)
    table = df[list(columns)].groupby(groups).mean()
    table.columns = list(labels)
    table.insert(0, "n", pd.Series(groups).value_counts().reindex(table.index).to_numpy())
    table.index.name = str(key.name)
    return table


def mechanism_tables(
    df: pd.DataFrame, medications: MedicationCatalog | None = None
) -> dict[str, pd.DataFrame]:
    """The PGx mechanisms as they show in the true probabilities, by TRUE genotype, and those of the medicines
    and safety inputs (phenoconversion, kidney and GI bleeding with NSAIDs, sedatives with opioids).

    ``medications`` says which medicine inhibits CYP2D6 strongly (default: the catalog root's medication catalog).
    """
    ids = set(option_ids(df))
    out: dict[str, pd.DataFrame] = {}
    if {"codeine", "tramadol"} <= ids:
        out["CYP2D6 and codeine/tramadol"] = _grouped(
            df,
            df["true_cyp2d6_phenotype"],
            ["true_p_response__codeine", "true_p_response__tramadol", "true_p_placebo",
             "true_p_adverse_event__codeine", "true_p_adverse_event__tramadol"],
            ["p codeine", "p tramadol", "p placebo", "AE codeine", "AE tramadol"],
        )  # fmt: skip
    if {"celecoxib", "ibuprofen", "meloxicam"} <= ids:
        out["CYP2C9 and NSAIDs"] = _grouped(
            df,
            df["true_cyp2c9_phenotype"],
            ["true_p_adverse_event__celecoxib", "true_p_adverse_event__ibuprofen", "true_p_adverse_event__meloxicam",
             "true_p_response__celecoxib"],
            ["AE celecoxib", "AE ibuprofen", "AE meloxicam", "p celecoxib"],
        )  # fmt: skip
    if "carbamazepine" in ids:
        hla = (df["true_hla_b_1502"].astype(object) + " / " + df["true_hla_a_3101"].astype(object)).rename(
            "HLA-B*15:02 / HLA-A*31:01"
        )
        out["HLA-B*15:02 / HLA-A*31:01 and carbamazepine"] = _grouped(
            df,
            hla,
            ["true_p_adverse_event__carbamazepine", "true_p_response__carbamazepine"],
            ["AE carbamazepine", "p carbamazepine"],
        )
    if {"oxycodone", "tramadol"} <= ids:
        out["OPRM1 and opioids"] = _grouped(
            df,
            df["true_oprm1_rs1799971"],
            ["true_p_response__oxycodone", "true_p_response__tramadol"],
            ["p oxycodone", "p tramadol"],
        )
    cols = [f"{P_RESPONSE}{o}" for o in ("oxycodone", "amitriptyline", "physical_therapy") if o in ids]
    if cols:
        out["COMT (no effect by design)"] = _grouped(
            df, df["true_comt_rs4680"], cols, [c[len(P_RESPONSE) :] for c in cols]
        )
    if "true_medications" in df.columns:
        out.update(_medicine_mechanisms(df, ids, medications))
    out.update(subgroup_tables(df))
    return out


def subgroup_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The built-in heterogeneity by sex and ancestry, the optical wearables' bias by skin tone and engagement,
    as they show in the truth (what the model card's subgroup audit should find)."""
    ids = set(option_ids(df))
    out: dict[str, pd.DataFrame] = {}
    if "oxycodone" in ids:
        out["Sex and opioids"] = _grouped(
            df,
            df["sex"].rename("sex"),
            ["true_p_response__oxycodone", "true_p_placebo", "true_p_adverse_event__oxycodone"],
            ["p oxycodone", "p placebo", "AE oxycodone"],
        )
        groups = df["true_biogeographic_group"].astype(object)
        carrier = (
            df["true_oprm1_rs1799971"].astype(object).map(lambda g: "A/A" if g == "A/A" else "G carrier")
        )
        keep = groups.isin(["european", "east_asian"]).to_numpy()
        key = (groups + " / " + carrier).rename("group / OPRM1 118")
        gain = pd.DataFrame({"gain": df["true_p_response__oxycodone"] - df["true_p_placebo"]})
        out["Ancestry and the OPRM1 loss"] = _grouped(
            gain[keep], key[keep], ["gain"], ["p oxycodone - p placebo"]
        )
    if "true_dark_skin" in df.columns:
        dark = df["true_dark_skin"].map(lambda v: "Fitzpatrick V-VI" if v else "lighter").rename("skin tone")
        worn = df["sleep_efficiency_pct"].notna()
        errors = pd.DataFrame(
            {
                "sleep_error": df["sleep_efficiency_pct"] - df["true_sleep_efficiency_pct"],
                "rmssd_ratio": df["hrv_rmssd_ms"] / df["true_hrv_rmssd_ms"],
                "true_p_natural_course": df["true_p_natural_course"],
            }
        )
        out["Skin tone and the optical wearable (patients with one)"] = _grouped(
            errors[worn],
            dark[worn],
            ["sleep_error", "rmssd_ratio", "true_p_natural_course"],
            ["recorded - true sleep efficiency (points)", "recorded / true RMSSD", "p natural course"],
        )
    digital = [o for o in P.DIGITAL_OPTIONS if o in ids]
    if "true_engagement" in df.columns and digital:
        labels = ["1 (lowest)", "2", "3", "4 (highest)"]
        band = pd.qcut(df["true_engagement"], 4, labels=labels).astype(object).rename("engagement quarter")
        cols = [f"true_p_dropout__{o}" for o in digital]
        table = _grouped(df[cols], band, cols, [f"dropout {o}" for o in digital])
        out["Engagement and stopping early"] = table.loc[labels]
    return out


def _medicine_mechanisms(
    df: pd.DataFrame, ids: set[str], medications: MedicationCatalog | None
) -> dict[str, pd.DataFrame]:
    from precisionpain.catalog.safety import load_medication_catalog

    meds = medications if medications is not None else load_medication_catalog()
    taking = _medicine_sets(df, "true_medications")
    strong = {m.name for m in meds.medications if m.strength("CYP2D6").value == "strong"}

    def label(values: list[str], name: str) -> pd.Series:
        return pd.Series(values, index=df.index, name=name)

    out: dict[str, pd.DataFrame] = {}
    if {"codeine", "tramadol"} <= ids:
        phenotype = (
            df["true_cyp2d6_phenotype"]
            .astype(object)
            .fillna("none")
            .map(lambda v: str(v).replace("Likely ", ""))
        )
        key = [
            f"{p} / {'strong CYP2D6 inhibitor' if t & strong else 'no strong inhibitor'}"
            for p, t in zip(phenotype, taking, strict=True)
        ]
        table = _grouped(
            df,
            label(key, "CYP2D6 genotype phenotype / medicines"),
            ["true_p_response__codeine", "true_p_response__tramadol", "true_p_placebo"],
            ["p codeine", "p tramadol", "p placebo"],
        )
        keep = [i for i in table.index if i.split(" / ")[0] in ("Normal Metabolizer", "Intermediate Metabolizer",
                                                              "Poor Metabolizer")]  # fmt: skip
        out["CYP2D6 phenoconversion and codeine/tramadol"] = table.loc[keep]
    if {"celecoxib", "ibuprofen"} <= ids:
        egfr = df["true_egfr_ml_per_min_1_73m2"].to_numpy(dtype=np.float64)
        band = np.where(egfr < 30, "eGFR < 30", np.where(egfr < 60, "eGFR 30-59", "eGFR >= 60"))
        bled = df["true_history_gi_bleed"].to_numpy(dtype=bool)
        key = [f"{b} / {'GI bleeding' if g else 'no GI bleeding'}" for b, g in zip(band, bled, strict=True)]
        out["Kidney function, GI bleeding and NSAIDs"] = _grouped(
            df,
            label(key, "kidney / history"),
            [
                "true_p_adverse_event__celecoxib",
                "true_p_adverse_event__ibuprofen",
                "true_p_response__ibuprofen",
            ],
            ["AE celecoxib", "AE ibuprofen", "p ibuprofen"],
        ).sort_index()
    if {"oxycodone", "tramadol"} <= ids:
        benzo, gaba = (set(P.MEDICATION_GROUPS[g]) for g in ("benzodiazepine", "gabapentinoid"))
        key = [
            "benzodiazepine and gabapentinoid" if t & benzo and t & gaba else
            "benzodiazepine" if t & benzo else "gabapentinoid" if t & gaba else "neither"
            for t in taking
        ]  # fmt: skip
        out["Sedatives taken now and opioid adverse events"] = _grouped(
            df,
            label(key, "taking"),
            ["true_p_adverse_event__oxycodone", "true_p_adverse_event__tramadol"],
            ["AE oxycodone", "AE tramadol"],
        )
    return out


def marginals_table(df: pd.DataFrame) -> pd.DataFrame:
    """Recorded-column marginals next to the published figures they were drawn to match."""

    def mean(col: str) -> float:
        return float(df[col].mean())

    def share(col: str, test: object) -> float:
        values = df[col].dropna().to_numpy(dtype=np.float64)
        return float(np.mean(test(values))) if len(values) else math.nan  # type: ignore[operator]

    crp = df["hs_crp_mg_per_l"].dropna().to_numpy(dtype=np.float64)
    rows = [
        ("age, mean (years)", mean("age_years"), "52.7 (ePPOC); median 58 (Busse 2018)"),
        ("female share", float((df["sex"] == "female").mean()), "0.61 (Busse 2018)"),
        ("neuropathic + mixed share", float(df["pain_type"].isin(["neuropathic", "mixed"]).mean()),
         "0.37 predominantly neuropathic in chronic LBP (Freynhagen 2006)"),
        ("BPI severity, mean", mean("bpi_severity"), "6.4 (ePPOC)"),
        ("BPI interference, mean", mean("bpi_interference"), "7.0 (ePPOC)"),
        ("PCS, mean", mean("pcs_total"), "29.8 (ePPOC)"),
        ("PSEQ, mean", mean("pseq_total"), "20.7 (ePPOC)"),
        ("PHQ-9 >= 5", share("phq9_total", lambda v: v >= 5), "0.71 (PMC6044157)"),
        ("PHQ-9 item 9 > 0", share("phq9_item9", lambda v: v > 0), "ASSUMPTION ~0.10"),
        ("25(OH)D < 20 ng/mL", share("vitamin_d_25oh_ng_per_ml", lambda v: v < 20), "0.32 (NHANES 2001-06)"),
        ("hs-CRP < 1 / 1-3 / > 3 mg/L",
         f"{np.mean(crp < 1):.2f} / {np.mean((crp >= 1) & (crp <= 3)):.2f} / {np.mean(crp > 3):.2f}",
         "about tertiles (AHA/CDC)"),
        ("IL-6, mean (pg/mL)", mean("il6_pg_per_ml"), "5.19 healthy, +0.05/year (Said 2021)"),
        ("sleep efficiency < 85%", share("sleep_efficiency_pct", lambda v: v < 85),
         "0.587 disturbed sleep in LBP (Alsaadi 2011)"),
        ("steps/day, mean", mean("steps_per_day"), "~3,000 fewer than controls (Ryan 2009; activPAL)"),
        ("RMSSD, mean (ms)", mean("hrv_rmssd_ms"), "42 healthy [M], g = -0.24 in pain (Koenig 2016)"),
        ("resting HR, mean (bpm)", mean("resting_hr_bpm"), "65 (Quer 2020)"),
        ("corr(PCS, PHQ-9)", float(df["pcs_total"].corr(df["phq9_total"])), "positive (Dube 2021)"),
        ("corr(PSEQ, PCS)", float(df["pseq_total"].corr(df["pcs_total"])), "negative (Dube 2021)"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["quantity", "cohort", "published"]).set_index("quantity")


def _medicine_sets(df: pd.DataFrame, column: str) -> list[set[str]]:
    values = df[column].astype(object).to_numpy()
    return [set(v.split("; ")) if isinstance(v, str) and v else set() for v in values]


def safety_inputs_table(df: pd.DataFrame, medications: MedicationCatalog | None = None) -> pd.DataFrame:
    """The safety inputs (TRUE values unless marked recorded) next to the figures they were drawn to match.

    ``medications`` is the medication catalog that says which medicine inhibits CYP2D6 strongly (default: the
    catalog root's features/medications.yaml).
    """
    from precisionpain.catalog.safety import load_medication_catalog

    meds = medications if medications is not None else load_medication_catalog()
    strong = {m.name for m in meds.medications if m.strength("CYP2D6").value == "strong"}
    taking = _medicine_sets(df, "true_medications")
    groups = {g: set(names) for g, names in P.MEDICATION_GROUPS.items()}

    def share_taking(group: str | set[str], mask: np.ndarray | None = None) -> float:
        names = groups[group] if isinstance(group, str) else group
        hits = np.fromiter((bool(t & names) for t in taking), dtype=bool, count=len(taking))
        return float(hits[mask].mean()) if mask is not None else float(hits.mean())

    def true(col: str) -> np.ndarray:
        return df[f"true_{col}"].to_numpy(dtype=np.float64)

    def flag(col: str) -> np.ndarray:
        return df[f"true_{col}"].to_numpy(dtype=bool)

    age = df["age_years"].to_numpy(dtype=np.float64)
    women_18_44 = (df["sex"] == "female").to_numpy() & (age < 45)
    egfr = true("egfr_ml_per_min_1_73m2")
    diabetic = df["diabetes"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    mme = true("opioid_mme_per_day")
    users = ~np.isnan(mme)
    phq = df["phq9_total"].to_numpy(dtype=np.float64)
    gad = df["gad7_total"].to_numpy(dtype=np.float64)
    hepatic = df["true_hepatic_impairment"].astype(object).to_numpy()
    n_meds = np.asarray([len(t) for t in taking])
    old, older = age >= 65, age >= 75

    def mean(values: np.ndarray, mask: np.ndarray | None = None) -> float:
        chosen = values if mask is None else values[mask]
        return float(np.mean(chosen)) if len(chosen) else math.nan

    def recorded(col: str, mask: np.ndarray | None = None) -> float:
        return mean(df[col].notna().to_numpy(), mask)

    rows = [
        ("eGFR < 60 mL/min/1.73 m2", mean(egfr < 60), "0.14 US adults (CDC CKD surveillance) [M]"),
        ("eGFR < 60, age >= 65", mean(egfr < 60, old), "0.38 (CDC CKD surveillance) [M]"),
        ("eGFR < 60, diabetes", mean(egfr < 60, diabetic), "about 1 in 3 (CDC) [M]"),
        ("eGFR < 30", mean(egfr < 30), "ASSUMPTION ~0.01"),
        ("hepatic impairment (Child-Pugh A / B / C)",
         " / ".join(f"{mean(hepatic == c):.4f}" for c in P.HEPATIC_CLASSES[1:]),
         "cirrhosis 0.0027 US adults (Scaglione 2015) [M]; clinic ASSUMPTION 0.012"),
        ("pregnant, women 18-44", mean(flag("pregnant"), women_18_44), "~0.04 at a time (CDC NVSS) [D]; clinic ASSUMPTION"),
        ("breastfeeding, women 18-44", mean(flag("breastfeeding"), women_18_44), "~0.03 (CDC Breastfeeding Report Card) [D]"),
        ("current opioid use", mean(users), "ASSUMPTION ~0.25"),
        ("opioid users: MME/day median", float(np.median(mme[users])) if users.any() else math.nan, "ASSUMPTION 30"),
        ("opioid users: >= 50 / >= 90 MME/day", f"{mean(mme[users] >= 50):.3f} / {mean(mme[users] >= 90):.3f}",
         "ASSUMPTION ~0.26 / ~0.09 (CDC 2016 thresholds)"),
        ("history of GI bleeding (all / age >= 75)", f"{mean(flag('history_gi_bleed')):.3f} / "
         f"{mean(flag('history_gi_bleed'), older):.3f}", "ASSUMPTION, rising with age"),
        ("cardiovascular disease (all / age >= 75)", f"{mean(flag('cardiovascular_disease')):.3f} / "
         f"{mean(flag('cardiovascular_disease'), older):.3f}", "~0.10 US adults, rising with age (AHA) [M]"),
        ("seizure disorder", mean(flag("seizure_disorder")), "0.012 active epilepsy (Zack & Kobau 2017) [M]"),
        ("medicines per patient (mean; share 0 / 1 / 2 / 3+)",
         f"{n_meds.mean():.2f}; {mean(n_meds == 0):.2f} / {mean(n_meds == 1):.2f} / {mean(n_meds == 2):.2f} / "
         f"{mean(n_meds >= 3):.2f}", "ASSUMPTION"),
        ("opioid on the list, current opioid users", share_taking("opioid", users), "1 by construction"),
        ("antidepressant (PHQ-9 < 10 / >= 10)", f"{share_taking('antidepressant', phq < 10):.3f} / "
         f"{share_taking('antidepressant', phq >= 10):.3f}", "0.13 US adults (NCHS 2020) [M]; more with depression"),
        ("strong CYP2D6 inhibitor (features/medications.yaml)", share_taking(strong & set(MEDICINES)),
         "follows the antidepressant shares"),
        ("benzodiazepine (GAD-7 < 10 / >= 10)", f"{share_taking('benzodiazepine', gad < 10):.3f} / "
         f"{share_taking('benzodiazepine', gad >= 10):.3f}", "past-year 0.126 (Maust 2019) [M]; more with anxiety"),
        ("MAO inhibitor", share_taking("maoi"), "ASSUMPTION 0.003"),
        ("gabapentinoid already taken", share_taking("gabapentinoid"), "ASSUMPTION"),
        ("omeprazole", share_taking("proton_pump_inhibitor"), "PPI 0.07-0.15 US adults [M]"),
        ("anticoagulant (age < 65 / >= 75)", f"{share_taking('anticoagulant', ~old):.3f} / "
         f"{share_taking('anticoagulant', older):.3f}", "rising with age (atrial fibrillation) [M]"),
        ("recorded: eGFR", recorded("egfr_ml_per_min_1_73m2"), "ASSUMPTION"),
        ("recorded: liver status", recorded("hepatic_impairment"), "ASSUMPTION"),
        ("recorded: pregnancy status, women < 50", recorded("pregnant", (df["sex"] == "female").to_numpy() & (age < 50)),
         "ASSUMPTION 0.80"),
        ("recorded: opioid dose, current opioid users", recorded("opioid_mme_per_day", users), "ASSUMPTION ~0.67"),
        ("recorded: a medicine list (patients taking any)", recorded("medications", n_meds > 0), "ASSUMPTION 0.85"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["quantity", "cohort", "published"]).set_index("quantity")


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return str(value).replace("|", "\\|")


def markdown_table(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured markdown table (index as the first column)."""
    header = [str(table.index.name or ""), *(str(c) for c in table.columns)]
    columns = [[_cell(v, digits) for v in table.index.tolist()]]
    columns += [[_cell(v, digits) for v in table[c].tolist()] for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in zip(*columns, strict=True)]
    return "\n".join(lines)


def summary_markdown(df: pd.DataFrame) -> str:
    """Every summary table of the cohort as markdown sections (what docs/cohort.md pastes)."""
    parts = [
        "### Oracle and regret\n\n" + markdown_table(oracle_summary(df)),
        "### Response rates (mean true P(response) by option and pain type)\n\n"
        + markdown_table(response_rate_table(df)),
        "### Observed assignment and overlap\n\n" + markdown_table(assignment_table(df)),
        "### Oracle choice (share of patients whose best option it is)\n\n"
        + markdown_table(oracle_choice_table(df)),
        "### Marginals\n\n" + markdown_table(marginals_table(df)),
        "### Safety inputs (true values unless marked recorded)\n\n"
        + markdown_table(safety_inputs_table(df)),
    ]
    for title, table in mechanism_tables(df).items():
        parts.append(f"### Mechanism: {title}\n\n" + markdown_table(table))
    return "\n\n".join(parts) + "\n"

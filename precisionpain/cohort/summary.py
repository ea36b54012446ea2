"""Summaries of a generated cohort for docs/cohort.md and for checking the DGP: response rates next to the
published figures they come from, assignment shares and overlap, the oracle and its regret, mechanisms and
marginals. Every function takes the DataFrame returned by :func:`precisionpain.cohort.generate_cohort`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from precisionpain.cohort import params as P
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


def mechanism_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The PGx mechanisms as they show in the true probabilities, by TRUE genotype."""
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
    ]
    for title, table in mechanism_tables(df).items():
        parts.append(f"### Mechanism: {title}\n\n" + markdown_table(table))
    return "\n\n".join(parts) + "\n"

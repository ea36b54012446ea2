"""The cohort's truth next to the evidence.

Per pain condition: every option's true response rate, how often each option is the true best (the oracle's
choice), how often the true best is a first-line option of the guideline catalog (models/guidelines.yaml), and a
band check: for every published figure the data-generating process (DGP) was built from, the cohort's rate of the
option in the conditions the figure comes from must lie inside the literature's band.

How a band is made (constants in :mod:`precisionpain.cohort.params`, figures tagged as there):

- A band is a risk difference (RD) in the >= 30% responder rate against the comparator of the source: a pill
  placebo (``true_p_placebo``) for drugs, usual care (``true_p_natural_course``) for programmes measured against
  it. The band is shown as response rates: the cohort's comparator rate plus the RD band.
- From an NNT with its 95% CI (NNT for >= 50% relief, which the DGP's normal-shift conversion treats as the RD of
  the >= 30% rate too, docs/cohort.md): RD from ``PUBLICATION_BIAS_SHRINK / NNT_high`` to ``1 / NNT_low`` [D].
- From a mean difference in pain (Busse 2018, Enthoven 2016, Hayden 2021): the shift in % of a 6.5/10 baseline
  moves the published-scale normal distribution of % change (placebo: mean 15.9, SD 46.2 through the Duarte 2022
  placebo rates; usual care: the same SD through Cherkin 2016's 26.6%) and gives the RD at 30% [D].
- From responder rates of two arms (Cherkin 2016): their difference with its 95% CI from the arm sizes [D].
- An option whose effect the DGP shrinks for old or weak evidence (``OptionSpec.evidence_shrink``) has the band's
  lower end shrunk the same way, so the band says what the DGP claims and no more.

Intention to treat on both sides: the option's rate counts adverse-event withdrawals and early stopping as the
trials do; the pill placebo is taken as completed (trial placebo arms lose a few responders to withdrawals too),
which makes the cohort's RD a little smaller than a trial's, never larger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from precisionpain.cohort import params as P
from precisionpain.cohort.outcomes import placebo_percent_change

if TYPE_CHECKING:
    from precisionpain.catalog.guidelines import GuidelineCatalog

_STD = NormalDist()
TRUE_CONDITION = "true_pain_condition"
NATURAL_COURSE = "natural_course"  # the usual-care "option" of a band (``true_p_natural_course``)
PLACEBO = "placebo"  # the pill-placebo "option" of a band (``true_p_placebo``)
#: Strong opioids (WHO step 3): the "small, documented share" of true-best choices is about these.
STRONG_OPIOIDS: tuple[str, ...] = ("oxycodone", "tapentadol", "buprenorphine_transdermal")
#: Documented limits the tests hold the truth to (docs/cohort.md, "The truth against the evidence").
STRONG_OPIOID_BEST_MAX_SHARE = 0.03  # of all patients
STRONG_OPIOID_BEST_MAX_SHARE_PER_CONDITION = 0.08  # of the patients of any one condition
CARBAMAZEPINE_BEST_OUTSIDE_TN_MAX_SHARE = 0.001  # of the patients without trigeminal neuralgia
NEUROPATHIC_PERIPHERAL = ("painful_diabetic_neuropathy", "postherpetic_neuralgia", "other_neuropathic")
# Cherkin 2016 (chronic low back pain, 26 weeks): >= 30% less pain bothersomeness in usual care 26.6% (n = 113),
# CBT 44.9% (n = 113), MBSR 43.6% (n = 116) [V]. Arm sizes [M].
_CHERKIN_USUAL_CARE = (0.266, 113)
_CHERKIN_CBT = (0.449, 113)
_CHERKIN_MBSR = (0.436, 116)
_BASELINE_NRS = 6.5  # the cohort's mean baseline pain, for mean differences in cm or points of 100


@dataclass(frozen=True)
class EvidenceBand:
    """A published figure as a band of risk differences (or of rates, for a comparator's own rate)."""

    band_id: str
    options: tuple[str, ...]
    conditions: tuple[str, ...]
    comparator: Literal["placebo", "usual_care", "none"]
    low: float  # RD against the comparator (a rate when comparator is "none")
    high: float
    published: str
    derivation: str


@dataclass(frozen=True)
class BandCheck:
    """One option's true response rate in the band's conditions next to the band (as rates)."""

    band_id: str
    option_id: str
    conditions: tuple[str, ...]
    n: int
    comparator_rate: float  # NaN for a band of rates (no comparator)
    rate: float
    low: float
    high: float
    published: str

    @property
    def inside(self) -> bool:
        return self.low <= self.rate <= self.high


def _rd_from_nnt(nnt_low: float, nnt_high: float) -> tuple[float, float]:
    return P.PUBLICATION_BIAS_SHRINK / nnt_high, 1.0 / nnt_low


def _published_rd(shift_pct: float, comparator: Literal["placebo", "usual_care"]) -> float:
    """RD at 30% of a shift (% points of NRS reduction) on the published-scale distribution of % change [D]."""
    mean, sd = placebo_percent_change()
    if comparator == "usual_care":
        mean = P.RESPONDER_THRESHOLD_PCT + sd * _STD.inv_cdf(_CHERKIN_USUAL_CARE[0])
    base = 1.0 - _STD.cdf((P.RESPONDER_THRESHOLD_PCT - mean) / sd)
    return 1.0 - _STD.cdf((P.RESPONDER_THRESHOLD_PCT - mean - shift_pct) / sd) - base


def _cm_to_pct(cm: float) -> float:
    """A mean difference in cm on a 10-cm scale as % of the cohort's mean baseline [D]."""
    return cm / _BASELINE_NRS * 100.0


def _two_arm_rd(arm: tuple[float, int], control: tuple[float, int]) -> tuple[float, float]:
    (p1, n1), (p0, n0) = arm, control
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0 - 1.96 * se, p1 - p0 + 1.96 * se


def _rate_ci(arm: tuple[float, int]) -> tuple[float, float]:
    p, n = arm
    se = math.sqrt(p * (1 - p) / n)
    return p - 1.96 * se, p + 1.96 * se


def evidence_bands() -> tuple[EvidenceBand, ...]:
    """Every band the truth is checked against, built from the published figures (computed on call)."""
    nnt = (
        "NNT for >= 50% relief (Finnerup 2015) [V]: RD from 0.9 / NNT_high (publication bias) to 1 / NNT_low"
    )
    busse_low = _published_rd(_cm_to_pct(0.56), "placebo")
    busse_high = _published_rd(_cm_to_pct(0.82), "placebo")
    busse = "Busse 2018 -0.69 cm (-0.56 to -0.82) vs placebo [V], as a shift on the placebo scale [D]"
    enthoven = (
        _published_rd(1.27 / 100.0 * 10.0 / _BASELINE_NRS * 100.0, "placebo"),
        _published_rd(5.33 / 100.0 * 10.0 / _BASELINE_NRS * 100.0, "placebo"),
    )
    hayden = (
        _published_rd(12.0 / 100.0 * 10.0 / _BASELINE_NRS * 100.0, "usual_care"),
        _published_rd(18.0 / 100.0 * 10.0 / _BASELINE_NRS * 100.0, "usual_care"),
    )
    neuro = NEUROPATHIC_PERIPHERAL
    return (
        EvidenceBand("placebo_peripheral_neuropathic", (PLACEBO,), neuro, "none", 0.36, 0.40,
                     "placebo >= 30%: 38% of 5,693 placebo patients (Duarte 2022) [V]",
                     "the cohort's placebo rate within 2 points of 38%"),
        EvidenceBand("usual_care_low_back_pain", (NATURAL_COURSE,), ("chronic_low_back_pain",), "none",
                     *_rate_ci(_CHERKIN_USUAL_CARE),
                     "usual care 26.6% with >= 30% less pain bothersomeness (Cherkin 2016) [V]",
                     "95% CI of one arm of 113 [D]"),
        EvidenceBand("tricyclics_neuropathic", ("amitriptyline", "nortriptyline"), neuro, "placebo",
                     *_rd_from_nnt(3.0, 4.4), "TCA NNT 3.6 (3.0-4.4) [V]", nnt),
        EvidenceBand("snri_neuropathic", ("duloxetine", "venlafaxine"),
                     ("painful_diabetic_neuropathy", "other_neuropathic"), "placebo",
                     *_rd_from_nnt(5.2, 8.4), "SNRI NNT 6.4 (5.2-8.4) [V]", nnt),
        EvidenceBand("pregabalin_neuropathic", ("pregabalin",), neuro, "placebo", *_rd_from_nnt(6.5, 9.4),
                     "pregabalin NNT 7.7 (6.5-9.4) [V]", nnt),
        EvidenceBand("gabapentin_neuropathic", ("gabapentin",), neuro, "placebo", *_rd_from_nnt(5.0, 8.3),
                     "gabapentin NNT 6.3 (5.0-8.3) [V]", nnt),
        EvidenceBand("capsaicin_neuropathic", ("capsaicin_patch",), neuro, "placebo", *_rd_from_nnt(7.4, 18.8),
                     "capsaicin 8% NNT 10.6 (7.4-18.8) [V]", nnt),
        EvidenceBand("carbamazepine_trigeminal", ("carbamazepine",), ("trigeminal_neuralgia",), "placebo",
                     *_rd_from_nnt(2.2, 3.3), "trigeminal neuralgia NNT 2.6 (2.2-3.3) [V]", nnt),
        EvidenceBand("tramadol_neuropathic", ("tramadol",), neuro, "placebo", busse_low, 1.0 / 3.6,
                     "Busse 2018 -0.56 cm (lower CI) to tramadol NNT 3.6 (upper CI, Finnerup 2015) [V]",
                     f"{busse} for the low end; 1 / NNT_low for the high end"),
        EvidenceBand("strong_opioids_neuropathic", STRONG_OPIOIDS, neuro, "placebo", busse_low, 1.0 / 3.4,
                     "Busse 2018 -0.56 cm (lower CI) to strong-opioid NNT 3.4 (upper CI, Finnerup 2015) [V]",
                     f"{busse} for the low end; 1 / NNT_low for the high end"),
        EvidenceBand("opioids_chronic_noncancer", ("tramadol", *STRONG_OPIOIDS),
                     ("chronic_low_back_pain", "knee_hip_osteoarthritis"), "placebo", 0.0, busse_high,
                     "Busse 2018 -0.69 cm (-0.56 to -0.82) [V]; back pain no better than non-opioid drugs "
                     "(SPACE, Krebs 2018) [M]", f"{busse}; low end 0 (SPACE)"),
        EvidenceBand("nsaids_low_back_pain", ("celecoxib", "ibuprofen", "meloxicam", "naproxen"),
                     ("chronic_low_back_pain",), "placebo", 0.0, enthoven[1],
                     "Enthoven 2016 -3.3/100 (-1.27 to -5.33) vs placebo, low quality [V]",
                     "the mean difference as a shift on the placebo scale [D]; low end 0 (withdrawals of older "
                     "patients can cancel a small effect)"),
        EvidenceBand("exercise_low_back_pain", ("physical_therapy",), ("chronic_low_back_pain",), "usual_care",
                     *hayden, "Hayden 2021 15/100 (12-18) vs no treatment or usual care [V]",
                     "the mean difference as a shift on the usual-care scale [D]"),
        EvidenceBand("cbt_low_back_pain", ("cbt_face_to_face",), ("chronic_low_back_pain",), "usual_care",
                     *_two_arm_rd(_CHERKIN_CBT, _CHERKIN_USUAL_CARE),
                     "CBT 44.9% vs usual care 26.6% (Cherkin 2016) [V]", "RD with its 95% CI from the arms [D]"),
        EvidenceBand("mbsr_low_back_pain", ("mindfulness",), ("chronic_low_back_pain",), "usual_care",
                     *_two_arm_rd(_CHERKIN_MBSR, _CHERKIN_USUAL_CARE),
                     "MBSR 43.6% vs usual care 26.6% (Cherkin 2016) [V]", "RD with its 95% CI from the arms [D]"),
    )  # fmt: skip


def _option_column(option_id: str) -> str:
    if option_id == NATURAL_COURSE:
        return "true_p_natural_course"
    if option_id == PLACEBO:
        return "true_p_placebo"
    return f"true_p_response__{option_id}"


def band_checks(frame: pd.DataFrame, bands: Sequence[EvidenceBand] | None = None) -> tuple[BandCheck, ...]:
    """Every (band, option) of ``bands`` (default :func:`evidence_bands`) whose option is in the frame."""
    out: list[BandCheck] = []
    condition = frame[TRUE_CONDITION].astype(object).to_numpy()
    for band in evidence_bands() if bands is None else bands:
        rows = np.isin(condition, band.conditions)
        n = int(rows.sum())
        comparator_col = {"placebo": "true_p_placebo", "usual_care": "true_p_natural_course"}.get(
            band.comparator
        )
        base = float(frame.loc[rows, comparator_col].mean()) if comparator_col and n else 0.0
        shown_base = base if comparator_col else math.nan  # a rate band has no comparator
        for option in band.options:
            column = _option_column(option)
            if column not in frame.columns or n == 0:
                continue
            spec = P.OPTION_SPECS.get(option)
            shrink = spec.evidence_shrink if spec is not None else 1.0
            out.append(
                BandCheck(
                    band_id=band.band_id,
                    option_id=option,
                    conditions=band.conditions,
                    n=n,
                    comparator_rate=shown_base,
                    rate=float(frame.loc[rows, column].mean()),
                    low=base + band.low * shrink,
                    high=base + band.high,
                    published=band.published,
                )
            )
    return tuple(out)


def _p_matrix(frame: pd.DataFrame, option_ids: Sequence[str]) -> np.ndarray:
    return frame[[f"true_p_response__{o}" for o in option_ids]].to_numpy(dtype=np.float64)


def true_best(frame: pd.DataFrame, option_ids: Sequence[str]) -> np.ndarray:
    """Each patient's option with the highest true response probability (object array of option ids)."""
    return np.asarray(option_ids, dtype=object)[_p_matrix(frame, option_ids).argmax(axis=1)]


def conditions_in(frame: pd.DataFrame) -> list[str]:
    present = set(frame[TRUE_CONDITION].astype(object))
    return [c for c in P.PAIN_CONDITIONS if c in present]


def response_rates_by_condition(frame: pd.DataFrame, option_ids: Sequence[str]) -> pd.DataFrame:
    """Mean true P(response) per option (rows, plus placebo and usual care) and condition (columns)."""
    condition = frame[TRUE_CONDITION].astype(object)
    columns = {c: frame.loc[condition == c] for c in conditions_in(frame)}
    rows = [NATURAL_COURSE, PLACEBO, *option_ids]
    data = {c: [float(sub[_option_column(o)].mean()) for o in rows] for c, sub in columns.items()}
    data["all"] = [float(frame[_option_column(o)].mean()) for o in rows]
    return pd.DataFrame(data, index=pd.Index(rows, name="option"))


def best_share_by_condition(frame: pd.DataFrame, option_ids: Sequence[str]) -> pd.DataFrame:
    """Share of each condition's patients whose true best is each option (rows options, columns conditions)."""
    best = pd.Series(true_best(frame, option_ids))
    condition = frame[TRUE_CONDITION].astype(object).to_numpy()
    data = {
        c: best[condition == c].value_counts(normalize=True).reindex(option_ids, fill_value=0.0).to_numpy()
        for c in conditions_in(frame)
    }
    data["all"] = best.value_counts(normalize=True).reindex(option_ids, fill_value=0.0).to_numpy()
    return pd.DataFrame(data, index=pd.Index(list(option_ids), name="option"))


@dataclass(frozen=True)
class FirstLineShare:
    """Per condition: how many patients, the share whose true best is a guideline first-line option, and the
    options that are the true best where it is not (share of the condition's patients, largest first)."""

    condition: str
    n: int
    share: float
    departures: tuple[tuple[str, float], ...]


def _true_best_is_first_line(frame: pd.DataFrame, best: np.ndarray, guidelines: GuidelineCatalog) -> np.ndarray:
    """Per patient: whether ``best`` is first line in the guideline table of the TRUE condition and pain type."""
    from precisionpain.schema import GuidelineTier, PainCondition, PainType

    condition = frame[TRUE_CONDITION].astype(object).to_numpy()
    pain_type = frame["pain_type"].astype(object).to_numpy()
    first: dict[tuple[str, str], frozenset[str]] = {}
    for c in set(condition.tolist()):
        for t in set(pain_type.tolist()):
            table = guidelines.table(PainCondition(c), PainType(t))
            first[(c, t)] = frozenset(o for o, pos in table.items() if pos.tier is GuidelineTier.first_line)
    return np.fromiter(
        (b in first[(c, t)] for b, c, t in zip(best, condition, pain_type, strict=True)), bool, len(best)
    )


def first_line_shares(
    frame: pd.DataFrame, option_ids: Sequence[str], guidelines: GuidelineCatalog
) -> tuple[FirstLineShare, ...]:
    """The share of patients whose true best is first line in the guideline table of their TRUE condition and pain
    type (models/guidelines.yaml), per condition and for all (condition ``all``)."""
    best = true_best(frame, option_ids)
    condition = frame[TRUE_CONDITION].astype(object).to_numpy()
    is_first = _true_best_is_first_line(frame, best, guidelines)

    def summary(name: str, rows: np.ndarray) -> FirstLineShare:
        n = int(rows.sum())
        off = pd.Series(best[rows & ~is_first]).value_counts()
        departures = tuple((str(o), float(k) / n) for o, k in off.head(4).items()) if n else ()
        return FirstLineShare(name, n, float(is_first[rows].mean()) if n else float("nan"), departures)

    shares = [summary(c, condition == c) for c in conditions_in(frame)]
    shares.append(summary("all", np.ones(len(best), dtype=bool)))
    return tuple(shares)


def first_line_share_by(
    frame: pd.DataFrame,
    option_ids: Sequence[str],
    guidelines: GuidelineCatalog,
    condition: str,
    groups: pd.Series,
) -> pd.DataFrame:
    """Within one TRUE condition, the patients (n) and the share whose true best is first line, per value of
    ``groups`` (a Series aligned with ``frame``): where the truth departs from the guideline, and for whom."""
    is_first = _true_best_is_first_line(frame, true_best(frame, option_ids), guidelines)
    rows = frame[TRUE_CONDITION].astype(object).to_numpy() == condition
    data = pd.DataFrame({"group": groups.reset_index(drop=True)[rows], "first": is_first[rows]})  # keeps an order
    out = data.groupby("group", observed=True, sort=True)["first"].agg(["size", "mean"])
    return out.rename(columns={"size": "n", "mean": "true best is first line"}).rename_axis(groups.name)


def _departure_subgroups(frame: pd.DataFrame) -> tuple[tuple[str, pd.Series], ...]:
    """The subgroups docs/cohort.md shows for the conditions whose first line is seldom the true best."""
    age = pd.cut(
        frame["age_years"], [0.0, 55.0, 65.0, 75.0, np.inf], right=False, labels=["< 55", "55-64", "65-74", ">= 75"]
    ).rename("age (years)")
    risk = (
        (frame["true_egfr_ml_per_min_1_73m2"] < 60.0)
        | frame["true_history_gi_bleed"].astype(bool)
        | frame["true_cardiovascular_disease"].astype(bool)
    )
    risk = risk.map({True: "yes", False: "no"}).rename("eGFR < 60, GI bleeding or cardiovascular disease")
    pain_type = frame["pain_type"].astype(object).rename("pain type")
    return (
        ("knee_hip_osteoarthritis", age),
        ("knee_hip_osteoarthritis", risk),
        ("fibromyalgia", age),
        ("other", pain_type),
    )


def strong_opioid_best_shares(frame: pd.DataFrame, option_ids: Sequence[str]) -> dict[str, float]:
    """Share of patients whose true best is a strong opioid, per condition and for ``all``."""
    strong = np.isin(true_best(frame, option_ids), [o for o in STRONG_OPIOIDS if o in option_ids])
    condition = frame[TRUE_CONDITION].astype(object).to_numpy()
    out = {c: float(strong[condition == c].mean()) for c in conditions_in(frame)}
    out["all"] = float(strong.mean())
    return out


def carbamazepine_best_shares(frame: pd.DataFrame, option_ids: Sequence[str]) -> dict[str, float]:
    """How often carbamazepine is the true best: in trigeminal neuralgia, outside it, and the share of the
    patients whose true best it is who have trigeminal neuralgia."""
    best = true_best(frame, option_ids) == "carbamazepine"
    tn = frame[TRUE_CONDITION].astype(object).to_numpy() == "trigeminal_neuralgia"
    return {
        "trigeminal_neuralgia": float(best[tn].mean()) if tn.any() else float("nan"),
        "outside_trigeminal_neuralgia": float(best[~tn].mean()) if (~tn).any() else float("nan"),
        "share_of_carbamazepine_best_in_trigeminal_neuralgia": float(tn[best].mean()) if best.any() else 1.0,
    }


# ------------------------------------------------------------------------------------------------ markdown


def _md(frame: pd.DataFrame, digits: int = 3) -> str:
    from precisionpain.cohort.summary import markdown_table

    return markdown_table(frame.round(digits))


def evidence_markdown(
    frame: pd.DataFrame, option_ids: Sequence[str], guidelines: GuidelineCatalog | None = None
) -> str:
    """Every table of the evidence check as Markdown (docs/cohort.md, "The truth against the evidence")."""
    checks = band_checks(frame)
    band_rows = pd.DataFrame(
        [
            {
                "band": c.band_id,
                "option": c.option_id,
                "n": c.n,
                "comparator": round(c.comparator_rate, 3),
                "cohort": round(c.rate, 3),
                "band low": round(c.low, 3),
                "band high": round(c.high, 3),
                "inside": "yes" if c.inside else "NO",
                "published": c.published,
            }
            for c in checks
        ]
    )
    parts = ["### Response rates against the literature's bands", "", _md(band_rows.set_index("band")), ""]
    parts += [
        "### Mean true P(response) by condition",
        "",
        _md(response_rates_by_condition(frame, option_ids)),
        "",
    ]
    parts += ["### True best option (share of the condition's patients)", "",
              _md(best_share_by_condition(frame, option_ids)), ""]  # fmt: skip
    strong = strong_opioid_best_shares(frame, option_ids)
    cbz = carbamazepine_best_shares(frame, option_ids)
    parts += [
        "### Strong opioids and carbamazepine as the true best",
        "",
        _md(pd.DataFrame({"strong opioid is the true best": strong}).rename_axis("condition")),
        "",
        _md(pd.DataFrame({"carbamazepine": cbz}).rename_axis("where")),
        "",
    ]
    if guidelines is not None:
        shares = first_line_shares(frame, option_ids, guidelines)
        table = pd.DataFrame(
            [
                {
                    "condition": s.condition,
                    "n": s.n,
                    "true best is first line": round(s.share, 3),
                    "true best elsewhere (share of patients)": ", ".join(
                        f"{o} {v:.3f}" for o, v in s.departures
                    ),
                }
                for s in shares
            ]
        ).set_index("condition")
        parts += ["### True best against the guideline's first line", "", _md(table), ""]
        parts += ["### Where the first line is seldom the true best: by subgroup", ""]
        for condition, groups in _departure_subgroups(frame):
            by = first_line_share_by(frame, option_ids, guidelines, condition, groups)
            parts += [f"{condition}:", "", _md(by), ""]
    return "\n".join(parts)


def evidence_summary(checks: Sequence[BandCheck]) -> Mapping[str, int]:
    """How many band checks there are and how many lie outside their band."""
    return {"checks": len(checks), "outside": sum(not c.inside for c in checks)}

"""The synthetic population: demographics, pain phenotype and condition, questionnaires, biomarkers, wearables and
engagement, and the inputs the safety rules read (kidney and liver function, pregnancy, breastfeeding, opioid
dose, histories).

:func:`draw_population` draws every patient's TRUE values (nothing missing); :func:`observe_population`
turns them into the recorded flat columns, with realistic missingness and the optical wearables' measurement bias
by skin tone. :func:`draw_clinical_safety` and
:func:`observe_clinical_safety` do the same for the safety inputs, from their own random streams (the medicines
are in :mod:`precisionpain.cohort.medications`). Constants and their sources are in
:mod:`precisionpain.cohort.params`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from precisionpain.cohort import params as P

FloatArray = np.ndarray
GROUPS: tuple[str, ...] = tuple(P.GROUP_SHARES)
NOCICEPTIVE, NEUROPATHIC, NOCIPLASTIC, MIXED = range(4)
CONDITION_INDEX: dict[str, int] = {c: i for i, c in enumerate(P.PAIN_CONDITIONS)}


@dataclass(frozen=True)
class Population:
    """True values for n patients (numpy arrays of length n; whole-number scores are floats)."""

    age: FloatArray
    female: np.ndarray  # bool
    group: np.ndarray  # int index into GROUPS
    pain_type: np.ndarray  # int index into params.PAIN_TYPES
    diabetes: np.ndarray  # bool
    hba1c: FloatArray
    duration_months: FloatArray
    distress: FloatArray  # latent factor
    fear: FloatArray  # latent fear-avoidance trait (standard normal)
    nrs: FloatArray
    bpi_severity: FloatArray
    bpi_interference: FloatArray
    pcs: FloatArray
    phq9: FloatArray
    phq9_item9: FloatArray
    gad7: FloatArray
    tsk11: FloatArray
    tsk17: FloatArray
    pseq: FloatArray
    paindetect: FloatArray
    dn4: FloatArray
    opioid_use: np.ndarray  # bool
    carbamazepine_prior: np.ndarray  # bool
    crp: FloatArray
    il6: FloatArray
    tnf: FloatArray
    vitamin_d: FloatArray
    bdnf: FloatArray
    window_days: FloatArray
    rmssd: FloatArray
    resting_hr: FloatArray
    sleep_minutes: FloatArray
    sleep_efficiency: FloatArray
    steps: FloatArray
    skin_conductance: FloatArray
    activity_deviation: FloatArray
    gait_speed: FloatArray
    painchek: FloatArray
    pain_condition: np.ndarray  # int index into params.PAIN_CONDITIONS
    dark_skin: np.ndarray  # bool: Fitzpatrick V-VI (never recorded; biases optical wearables)
    engagement: FloatArray  # latent engagement with self-management and digital programmes (standard normal)

    def __len__(self) -> int:
        return len(self.age)


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _categorical(rng: np.random.Generator, probs: FloatArray) -> np.ndarray:
    """One draw per row from row-wise probabilities (n, k) -> int index."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _score(x: FloatArray, lo: float, hi: float) -> FloatArray:
    """Round to a whole-number questionnaire score within its range."""
    return np.clip(np.rint(x), lo, hi)


def _trait(rng: np.random.Generator, distress: FloatArray, loading: float) -> FloatArray:
    return loading * distress + np.sqrt(1.0 - loading**2) * rng.standard_normal(len(distress))


def _by_type(values: tuple[float, ...], pain_type: np.ndarray) -> FloatArray:
    return np.asarray(values, dtype=np.float64)[pain_type]


def condition_logits(
    pain_type: np.ndarray, age: FloatArray, female: np.ndarray, diabetes: np.ndarray
) -> FloatArray:
    """(n, len(PAIN_CONDITIONS)) log weights of each condition given the pain type; -inf where not allowed."""
    n = len(pain_type)
    base = np.full((len(P.PAIN_TYPES), len(P.PAIN_CONDITIONS)), -np.inf)
    for t, pain in enumerate(P.PAIN_TYPES):
        for condition, weight in P.CONDITION_WEIGHTS[pain].items():
            base[t, CONDITION_INDEX[condition]] = np.log(weight)
    logits = base[pain_type].copy()
    pdn = CONDITION_INDEX["painful_diabetic_neuropathy"]
    logits[:, pdn] = np.where(diabetes, logits[:, pdn] + P.CONDITION_DIABETES_PDN, -np.inf)
    for condition, per_year in P.CONDITION_PER_YEAR_FROM_55.items():
        logits[:, CONDITION_INDEX[condition]] += per_year * (age - 55.0)
    logits[:, CONDITION_INDEX["fibromyalgia"]] += P.CONDITION_FEMALE_FIBROMYALGIA * female
    assert logits.shape == (n, len(P.PAIN_CONDITIONS))
    return logits


def _draw_condition_skin_engagement(
    rng: np.random.Generator,
    pain_type: np.ndarray,
    age: FloatArray,
    female: np.ndarray,
    diabetes: np.ndarray,
    group: np.ndarray,
    distress: FloatArray,
) -> tuple[np.ndarray, np.ndarray, FloatArray]:
    logits = condition_logits(pain_type, age, female, diabetes)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    condition = _categorical(rng, weights / weights.sum(axis=1, keepdims=True))
    dark_skin = rng.random(len(age)) < np.asarray([P.P_DARK_SKIN[g] for g in GROUPS])[group]
    engagement = (
        rng.standard_normal(len(age))
        + P.ENGAGEMENT_PER_YEAR_FROM_55 * (age - 55.0)
        + P.ENGAGEMENT_PER_DISTRESS * distress
    )
    return condition, dark_skin, engagement


def draw_population(
    rng: np.random.Generator, n: int, condition_rng: np.random.Generator | None = None
) -> Population:
    """Draw n patients' true characteristics (the order of draws is fixed, so results depend only on the
    generators). The pain condition, skin tone and engagement come from ``condition_rng`` (default: ``rng``, after
    every other draw), so adding them left every earlier draw as it was."""
    lo_age, hi_age = P.AGE_RANGE_YEARS
    age = np.floor(np.clip(rng.normal(P.AGE_MEAN_YEARS, P.AGE_SD_YEARS, n), lo_age, hi_age))
    female = rng.random(n) < P.P_FEMALE
    group_p = np.asarray(list(P.GROUP_SHARES.values()))
    group = rng.choice(len(GROUPS), size=n, p=group_p / group_p.sum())

    diabetes = rng.random(n) < _sigmoid(P.DIABETES_LOGIT_AT_55 + P.DIABETES_LOGIT_PER_YEAR * (age - 55.0))
    hba1c = np.where(
        diabetes,
        np.clip(
            np.exp(rng.normal(P.HBA1C_DIABETIC_LOG_MEAN, P.HBA1C_DIABETIC_LOG_SD, n)),
            *P.HBA1C_DIABETIC_RANGE_PCT,
        ),
        np.clip(
            rng.normal(P.HBA1C_NON_DIABETIC_MEAN_PCT, P.HBA1C_NON_DIABETIC_SD_PCT, n),
            *P.HBA1C_NON_DIABETIC_RANGE_PCT,
        ),
    )
    hba1c = np.round(hba1c, 1)

    logits = (
        np.asarray(P.PAIN_TYPE_INTERCEPTS)[None, :]
        + np.outer(age - 55.0, P.PAIN_TYPE_AGE_PER_YEAR)
        + np.outer(female, P.PAIN_TYPE_FEMALE)
        + np.outer(diabetes, P.PAIN_TYPE_DIABETES)
    )
    poor_control = diabetes & (hba1c >= P.HBA1C_POOR_CONTROL_PCT)
    logits[:, NEUROPATHIC] += P.PAIN_TYPE_DIABETIC_POOR_CONTROL_NEUROPATHIC * poor_control
    expl = np.exp(logits - logits.max(axis=1, keepdims=True))
    pain_type = _categorical(rng, expl / expl.sum(axis=1, keepdims=True))

    duration = np.clip(
        np.exp(rng.normal(P.PAIN_DURATION_LOG_MEDIAN_MONTHS, P.PAIN_DURATION_LOG_SD, n)),
        *P.PAIN_DURATION_RANGE_MONTHS,
    )
    duration = np.round(duration)

    age_term = np.where(
        age < P.DISTRESS_AGE_PEAK_YEARS,
        P.DISTRESS_PER_YEAR_BELOW_PEAK * (age - P.DISTRESS_AGE_PEAK_YEARS),
        P.DISTRESS_PER_YEAR_ABOVE_PEAK * (age - P.DISTRESS_AGE_PEAK_YEARS),
    )
    distress_shift = (
        _by_type(P.DISTRESS_PAIN_TYPE_SHIFT, pain_type) + age_term + P.DISTRESS_MALE_SHIFT * ~female
    )
    distress = rng.standard_normal(n) + distress_shift

    z_nrs = _trait(rng, distress - distress_shift, P.LOADING_NRS)
    nrs = np.clip(np.rint(P.NRS_MEAN + P.NRS_SD * z_nrs), *P.NRS_RANGE)
    bpi_severity = np.clip(
        np.rint((nrs + P.BPI_SEVERITY_OFFSET + rng.normal(0.0, P.BPI_SEVERITY_NOISE_SD, n)) * 4) / 4,
        0.0,
        10.0,
    )
    bpi_interference = np.clip(
        np.rint(
            (
                P.BPI_INTERFERENCE_MEAN
                + P.BPI_INTERFERENCE_PER_NRS * (nrs - P.NRS_MEAN)
                + P.BPI_INTERFERENCE_PER_DISTRESS * distress
                + rng.normal(0.0, P.BPI_INTERFERENCE_NOISE_SD, n)
            )
            * 7
        )
        / 7,
        0.0,
        10.0,
    )

    catastrophizing = _trait(rng, distress, P.LOADING_CATASTROPHIZING)
    depression = _trait(rng, distress, P.LOADING_DEPRESSION)
    anxiety = _trait(rng, distress, P.LOADING_ANXIETY)
    fear = _trait(rng, distress, P.LOADING_FEAR_AVOIDANCE)
    self_efficacy = _trait(rng, distress, P.LOADING_SELF_EFFICACY)
    d_nrs = nrs - P.NRS_MEAN
    pcs = _score(P.PCS_MEAN + P.PCS_SD * catastrophizing + P.PCS_PER_NRS * d_nrs, 0, 52)
    phq9 = _score(P.PHQ9_MEAN + P.PHQ9_SD * depression, 0, 27)
    gad7 = _score(P.GAD7_MEAN + P.GAD7_SD * anxiety, 0, 21)
    tsk11 = _score(P.TSK11_MEAN + P.TSK11_SD * fear, 11, 44)
    tsk17 = _score(P.TSK17_MEAN + P.TSK17_SD * fear, 17, 68)
    pseq = _score(P.PSEQ_MEAN + P.PSEQ_SD * self_efficacy + P.PSEQ_PER_NRS * d_nrs, 0, 60)
    item9_positive = rng.random(n) < _sigmoid(
        P.PHQ9_ITEM9_LOGIT_INTERCEPT + P.PHQ9_ITEM9_LOGIT_PER_POINT * phq9
    )
    item9_level = 1.0 + rng.choice(3, size=n, p=np.asarray(P.PHQ9_ITEM9_LEVEL_SHARES))
    phq9_item9 = np.minimum(np.where(item9_positive, item9_level, 0.0), phq9)

    paindetect = _score(_by_type(P.PAINDETECT_MEAN, pain_type) + rng.normal(0.0, P.PAINDETECT_SD, n), -1, 38)
    dn4 = _score(_by_type(P.DN4_MEAN, pain_type) + rng.normal(0.0, P.DN4_SD, n), 0, 10)
    opioid_use = rng.random(n) < _sigmoid(
        P.OPIOID_USE_LOGIT_INTERCEPT
        + P.OPIOID_USE_LOGIT_PER_NRS * d_nrs
        + P.OPIOID_USE_LOGIT_PER_DISTRESS * distress
    )
    carbamazepine_prior = rng.random(n) < _by_type(P.P_CARBAMAZEPINE_PRIOR_USE, pain_type)

    # biomarkers
    crp_log = (
        P.CRP_LOG_MEDIAN
        + P.CRP_LOG_PER_NRS_SD * d_nrs / P.NRS_SD
        + P.CRP_LOG_NOCICEPTIVE_SHIFT * (pain_type == NOCICEPTIVE)
    )
    z_crp = rng.standard_normal(n)
    crp = np.round(np.clip(np.exp(crp_log + P.CRP_LOG_SD * z_crp), *P.CRP_RANGE), 2)
    z_il6 = P.IL6_CRP_CORRELATION * z_crp + np.sqrt(1 - P.IL6_CRP_CORRELATION**2) * rng.standard_normal(n)
    il6_log_mean = np.log(P.IL6_MEAN_PG_PER_ML) - P.IL6_LOG_SD**2 / 2
    il6 = np.exp(il6_log_mean + P.IL6_LOG_SD * z_il6) + P.IL6_PER_YEAR * (age - 45.0)
    il6 = np.round(np.clip(il6, *P.IL6_RANGE), 2)
    tnf = np.round(np.clip(np.exp(rng.normal(P.TNF_LOG_MEDIAN, P.TNF_LOG_SD, n)), *P.TNF_RANGE), 2)
    vitamin_d = np.round(
        np.clip(
            rng.normal(P.VITD_MEAN_NG_PER_ML, P.VITD_SD_NG_PER_ML, n)
            + _by_type(P.VITD_PAIN_TYPE_SHIFT, pain_type),
            *P.VITD_RANGE,
        ),
        1,
    )
    bdnf_mean = np.where(
        pain_type == NOCIPLASTIC,
        P.BDNF_MEAN_NOCIPLASTIC,
        P.BDNF_MEAN_NOCIPLASTIC - P.BDNF_SMD_NOCIPLASTIC * P.BDNF_SD,
    )
    shape = (bdnf_mean / P.BDNF_SD) ** 2
    bdnf = np.round(np.clip(rng.gamma(shape, bdnf_mean / shape), *P.BDNF_RANGE), 2)

    # wearables
    window_days = np.asarray(P.WEARABLE_WINDOW_DAYS, dtype=np.float64)[
        rng.choice(len(P.WEARABLE_WINDOW_DAYS), size=n, p=np.asarray(P.WEARABLE_WINDOW_SHARES))
    ]
    rmssd_median = P.RMSSD_HEALTHY_MS + P.RMSSD_PAIN_G * P.RMSSD_SD_MS
    rmssd = np.exp(
        np.log(rmssd_median)
        + P.RMSSD_LOG_PER_YEAR * (age - 45.0)
        + P.RMSSD_LOG_PER_NRS * d_nrs
        + rng.normal(0.0, P.RMSSD_LOG_SD, n)
    )
    rmssd = np.round(np.clip(rmssd, *P.RMSSD_RANGE), 1)
    steps_mean = (
        P.STEPS_CONTROL_MEAN
        - P.STEPS_CHRONIC_PAIN_GAP
        + P.STEPS_PER_YEAR_OVER_50 * np.maximum(age - 50.0, 0.0)
        + P.STEPS_PER_NRS * d_nrs
        + P.STEPS_PER_DISTRESS * distress
    )
    steps = np.maximum(steps_mean, 1000.0) * np.exp(rng.normal(-(P.STEPS_LOG_SD**2) / 2, P.STEPS_LOG_SD, n))
    steps = np.rint(np.clip(steps, *P.STEPS_RANGE))
    resting_hr = np.round(
        np.clip(
            P.RHR_MEAN_BPM
            + P.RHR_PER_DISTRESS * distress
            - 0.4 * (steps - 6000.0) / 1000.0
            + rng.normal(0.0, P.RHR_SD_BPM, n),
            *P.RHR_RANGE,
        ),
        1,
    )
    sleep_efficiency = np.round(
        np.clip(
            P.SLEEP_EFFICIENCY_MEAN_PCT
            + P.SLEEP_EFFICIENCY_PER_NRS * d_nrs
            + P.SLEEP_EFFICIENCY_PER_DISTRESS * distress
            + rng.normal(0.0, P.SLEEP_EFFICIENCY_SD_PCT, n),
            *P.SLEEP_EFFICIENCY_RANGE,
        ),
        1,
    )
    sleep_minutes = np.rint(
        np.clip(
            P.SLEEP_MINUTES_MEAN + P.SLEEP_MINUTES_PER_NRS * d_nrs + rng.normal(0.0, P.SLEEP_MINUTES_SD, n),
            *P.SLEEP_MINUTES_RANGE,
        )
    )
    skin_conductance = np.round(
        np.clip(
            np.exp(P.EDA_LOG_MEDIAN + P.EDA_LOG_PER_ANXIETY * anxiety + rng.normal(0.0, P.EDA_LOG_SD, n)),
            *P.EDA_RANGE,
        ),
        2,
    )
    activity_deviation = np.round(
        np.clip(
            P.ACTIVITY_DEVIATION_MEAN_PCT
            + P.ACTIVITY_DEVIATION_PER_NRS * d_nrs
            + rng.normal(0.0, P.ACTIVITY_DEVIATION_SD_PCT, n),
            *P.ACTIVITY_DEVIATION_RANGE,
        ),
        1,
    )
    gait_speed = np.round(
        np.clip(
            P.GAIT_SPEED_MEAN_M_PER_S
            + P.GAIT_SPEED_PER_YEAR_OVER_50 * np.maximum(age - 50.0, 0.0)
            + P.GAIT_SPEED_PER_NRS * d_nrs
            + rng.normal(0.0, P.GAIT_SPEED_SD, n),
            *P.GAIT_SPEED_RANGE,
        ),
        2,
    )
    painchek = _score(P.PAINCHEK_PER_NRS * nrs + rng.normal(0.0, P.PAINCHEK_SD, n), 0, 42)
    condition, dark_skin, engagement = _draw_condition_skin_engagement(
        rng if condition_rng is None else condition_rng, pain_type, age, female, diabetes, group, distress
    )

    return Population(
        age=age,
        female=female,
        group=group,
        pain_type=pain_type,
        diabetes=diabetes,
        hba1c=hba1c,
        duration_months=duration,
        distress=distress,
        fear=fear,
        nrs=nrs,
        bpi_severity=bpi_severity,
        bpi_interference=bpi_interference,
        pcs=pcs,
        phq9=phq9,
        phq9_item9=phq9_item9,
        gad7=gad7,
        tsk11=tsk11,
        tsk17=tsk17,
        pseq=pseq,
        paindetect=paindetect,
        dn4=dn4,
        opioid_use=opioid_use,
        carbamazepine_prior=carbamazepine_prior,
        crp=crp,
        il6=il6,
        tnf=tnf,
        vitamin_d=vitamin_d,
        bdnf=bdnf,
        window_days=window_days,
        rmssd=rmssd,
        resting_hr=resting_hr,
        sleep_minutes=sleep_minutes,
        sleep_efficiency=sleep_efficiency,
        steps=steps,
        skin_conductance=skin_conductance,
        activity_deviation=activity_deviation,
        gait_speed=gait_speed,
        painchek=painchek,
        pain_condition=condition,
        dark_skin=dark_skin,
        engagement=engagement,
    )


def _masked(values: FloatArray, keep: np.ndarray) -> FloatArray:
    return np.where(keep, values, np.nan)


def _bool_masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Booleans with missing -> object array of True/False/None."""
    out = np.full(len(values), None, dtype=object)
    out[keep] = values[keep]
    return out


def _labels(labels: tuple[str, ...], codes: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(labels, dtype=object)[codes]
    if keep is not None:
        out[~keep] = None
    return out


def measured_wearables(rng: np.random.Generator, pop: Population) -> dict[str, FloatArray]:
    """What the optical wearable reads (before missingness): the true values, but for a dark skin tone sleep
    efficiency biased upward and RMSSD inflated, each with extra noise (params: DARK_SKIN_*)."""
    n = len(pop)
    dark = pop.dark_skin
    sleep = pop.sleep_efficiency + dark * (
        P.DARK_SKIN_SLEEP_EFFICIENCY_BIAS_PCT + rng.normal(0.0, P.DARK_SKIN_SLEEP_EFFICIENCY_NOISE_SD_PCT, n)
    )
    rmssd = pop.rmssd * np.where(
        dark, P.DARK_SKIN_RMSSD_FACTOR * np.exp(rng.normal(0.0, P.DARK_SKIN_RMSSD_LOG_NOISE_SD, n)), 1.0
    )
    resting_hr = pop.resting_hr + dark * rng.normal(0.0, P.DARK_SKIN_RESTING_HR_NOISE_SD_BPM, n)
    return {
        "sleep_efficiency_pct": np.round(np.clip(sleep, *P.SLEEP_EFFICIENCY_RANGE), 1),
        "hrv_rmssd_ms": np.round(np.clip(rmssd, *P.RMSSD_RANGE), 1),
        "resting_hr_bpm": np.round(np.clip(resting_hr, *P.RHR_RANGE), 1),
    }


def observe_engagement(rng: np.random.Generator, pop: Population) -> dict[str, np.ndarray]:
    """The recorded engagement inputs: a previous programme completed or not (for those offered one) and the days
    a week the clinic's pain app was used (for its users)."""
    n = len(pop)
    offered = rng.random(n) < P.P_PRIOR_PROGRAMME_RECORDED
    a, b = P.PRIOR_PROGRAMME_LOGIT
    completed = rng.random(n) < _sigmoid(a + b * pop.engagement)
    app_user = rng.random(n) < P.P_APP_USER
    a, b = P.APP_USE_LOGIT
    days = np.rint(7.0 * _sigmoid(a + b * pop.engagement + rng.normal(0.0, P.APP_USE_NOISE_SD, n)))
    return {
        "prior_programme_completed": _bool_masked(completed, offered),
        "app_use_days_per_week": _masked(days, app_user),
    }


def observe_population(
    rng: np.random.Generator, pop: Population, measurement_rng: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """The recorded (flat) clinical, objective, biomarker, wearable and psychosocial columns, with missing values.

    Numbers are float64 with NaN for missing; categories are object arrays of str/None; booleans are object
    arrays of True/False/None. Age, sex, pain type and baseline NRS are always present; the pain condition is
    recorded for most patients. The wearable readings carry the optical sensors' bias by skin tone, drawn from
    ``measurement_rng`` (default ``rng``, after every other draw); the engagement inputs come from the same
    generator.
    """
    n = len(pop)
    miss = P.P_MISSING

    def kept(name: str) -> np.ndarray:
        return rng.random(n) >= miss[name]

    cols: dict[str, np.ndarray] = {}
    cols["age_years"] = pop.age.copy()
    cols["sex"] = np.where(pop.female, "female", "male").astype(object)
    cols["biogeographic_group"] = _labels(GROUPS, pop.group, kept("biogeographic_group"))
    cols["pain_type"] = _labels(P.PAIN_TYPES, pop.pain_type)
    cols["pain_duration_months"] = _masked(pop.duration_months, kept("pain_duration_months"))
    cols["baseline_nrs"] = pop.nrs.copy()
    bpi = kept("bpi")
    cols["bpi_severity"] = _masked(pop.bpi_severity, bpi)
    cols["bpi_interference"] = _masked(pop.bpi_interference, bpi)
    cols["paindetect_score"] = _masked(pop.paindetect, kept("paindetect_score"))
    cols["dn4_score"] = _masked(pop.dn4, kept("dn4_score"))
    cols["diabetes"] = _bool_masked(pop.diabetes, kept("diabetes"))
    cols["carbamazepine_prior_use_over_3_months"] = _bool_masked(
        pop.carbamazepine_prior, kept("carbamazepine_prior_use_over_3_months")
    )
    cols["current_opioid_use"] = _bool_masked(pop.opioid_use, kept("current_opioid_use"))
    cols["painchek_total"] = _masked(pop.painchek, rng.random(n) < P.P_PAINCHEK)
    cols["gait_speed_m_per_s"] = _masked(pop.gait_speed, kept("gait_speed_m_per_s"))

    labs = rng.random(n) < P.P_ROUTINE_LABS
    cytokines = kept("il6_tnf")
    cols["hs_crp_mg_per_l"] = _masked(pop.crp, labs)
    cols["il6_pg_per_ml"] = _masked(pop.il6, cytokines)
    cols["tnf_alpha_pg_per_ml"] = _masked(pop.tnf, cytokines)
    cols["vitamin_d_25oh_ng_per_ml"] = _masked(pop.vitamin_d, labs)
    hba1c_kept = rng.random(n) < np.where(pop.diabetes, P.P_HBA1C_DIABETIC, P.P_HBA1C_NON_DIABETIC)
    cols["hba1c_pct"] = _masked(pop.hba1c, hba1c_kept)
    cols["bdnf_ng_per_ml"] = _masked(pop.bdnf, kept("bdnf_ng_per_ml"))

    wearable = rng.random(n) < P.P_WEARABLE
    eda = wearable & (rng.random(n) >= P.P_WEARABLE_NO_EDA)
    cols["window_days"] = _masked(pop.window_days, wearable)
    cols["hrv_rmssd_ms"] = _masked(pop.rmssd, wearable)
    cols["resting_hr_bpm"] = _masked(pop.resting_hr, wearable)
    cols["sleep_minutes"] = _masked(pop.sleep_minutes, wearable)
    cols["sleep_efficiency_pct"] = _masked(pop.sleep_efficiency, wearable)
    cols["steps_per_day"] = _masked(pop.steps, wearable)
    cols["skin_conductance_us"] = _masked(pop.skin_conductance, eda)
    cols["activity_deviation_pct"] = _masked(pop.activity_deviation, wearable)

    answered = rng.random(n) >= P.P_NO_QUESTIONNAIRES
    phq = answered & kept("phq9_total")
    cols["pcs_total"] = _masked(pop.pcs, answered & kept("pcs_total"))
    cols["phq9_total"] = _masked(pop.phq9, phq)
    cols["phq9_item9"] = _masked(pop.phq9_item9, phq)
    cols["gad7_total"] = _masked(pop.gad7, answered & kept("gad7_total"))
    tsk_version = rng.random(n)
    cols["tsk11_total"] = _masked(pop.tsk11, answered & (tsk_version < P.P_TSK11))
    cols["tsk17_total"] = _masked(
        pop.tsk17, answered & (tsk_version >= P.P_TSK11) & (tsk_version < P.P_TSK11 + P.P_TSK17)
    )
    cols["pseq_total"] = _masked(pop.pseq, answered & kept("pseq_total"))

    extra = rng if measurement_rng is None else measurement_rng
    measured = measured_wearables(extra, pop)
    for name, values in measured.items():
        cols[name] = np.where(np.isnan(cols[name]), np.nan, values)
    cols["pain_condition"] = _labels(
        P.PAIN_CONDITIONS, pop.pain_condition, extra.random(n) < P.P_CONDITION_RECORDED
    )
    cols.update(observe_engagement(extra, pop))
    return cols


# ------------------------------------------------------------------------------------------ safety inputs


@dataclass(frozen=True)
class ClinicalSafety:
    """True organ function, pregnancy, breastfeeding, opioid dose and histories of n patients."""

    egfr: FloatArray  # mL/min/1.73 m2, whole numbers
    hepatic: np.ndarray  # int index into params.HEPATIC_CLASSES
    pregnant: np.ndarray  # bool
    gestational_weeks: FloatArray  # NaN when not pregnant
    breastfeeding: np.ndarray  # bool
    opioid_mme: FloatArray  # MME/day of current opioid users; NaN for others
    gi_bleed: np.ndarray  # bool
    cvd: np.ndarray  # bool
    seizure: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.egfr)


def _p_pregnant(age: FloatArray) -> FloatArray:
    p = np.zeros(len(age))
    for below, prob in reversed(P.P_PREGNANT_BY_AGE):
        p = np.where(age < below, prob, p)
    return p


def draw_clinical_safety(rng: np.random.Generator, pop: Population) -> ClinicalSafety:
    """The true safety inputs of the population (the order of draws is fixed)."""
    n = len(pop)
    age = pop.age
    egfr_mean = (
        P.EGFR_AT_40
        + P.EGFR_PER_YEAR_OVER_40 * np.maximum(age - 40.0, 0.0)
        + P.EGFR_DIABETES_SHIFT * pop.diabetes
    )
    egfr = np.rint(np.clip(rng.normal(egfr_mean, P.EGFR_SD), *P.EGFR_RANGE))
    hepatic = rng.choice(len(P.HEPATIC_CLASSES), size=n, p=np.asarray(P.HEPATIC_CLASS_SHARES))
    pregnant = pop.female & (rng.random(n) < _p_pregnant(age))
    gestational = np.where(pregnant, np.floor(rng.uniform(*P.GESTATIONAL_AGE_RANGE_WEEKS, n)), np.nan)
    breastfeeding = (
        pop.female & ~pregnant & (age < P.BREASTFEEDING_AGE_BELOW_YEARS) & (rng.random(n) < P.P_BREASTFEEDING)
    )
    mme = np.round(
        np.clip(np.exp(rng.normal(P.OPIOID_MME_LOG_MEDIAN, P.OPIOID_MME_LOG_SD, n)), *P.OPIOID_MME_RANGE), 0
    )
    mme = np.where(pop.opioid_use, mme, np.nan)
    years = age - 55.0
    gi_bleed = rng.random(n) < _sigmoid(P.GI_BLEED_LOGIT_AT_55 + P.GI_BLEED_LOGIT_PER_YEAR * years)
    cvd = rng.random(n) < _sigmoid(
        P.CVD_LOGIT_AT_55 + P.CVD_LOGIT_PER_YEAR * years + P.CVD_LOGIT_DIABETES * pop.diabetes
    )
    seizure = rng.random(n) < P.P_SEIZURE_DISORDER
    return ClinicalSafety(
        egfr=egfr,
        hepatic=hepatic,
        pregnant=pregnant,
        gestational_weeks=gestational,
        breastfeeding=breastfeeding,
        opioid_mme=mme,
        gi_bleed=gi_bleed,
        cvd=cvd,
        seizure=seizure,
    )


def observe_clinical_safety(
    rng: np.random.Generator, pop: Population, safety: ClinicalSafety, opioid_recorded: np.ndarray
) -> dict[str, np.ndarray]:
    """The recorded safety columns, with missing values (``opioid_recorded``: the recorded current_opioid_use
    column, an object array of True/False/None; the dose is recorded only for recorded users)."""
    n = len(pop)
    cols: dict[str, np.ndarray] = {}
    older_or_diabetic = (pop.age >= 65) | pop.diabetes
    egfr_kept = rng.random(n) < np.where(
        older_or_diabetic, P.P_EGFR_RECORDED_OLDER_OR_DIABETIC, P.P_EGFR_RECORDED
    )
    cols["egfr_ml_per_min_1_73m2"] = _masked(safety.egfr, egfr_kept)
    impaired = safety.hepatic > 0
    hepatic_kept = rng.random(n) < np.where(impaired, P.P_HEPATIC_RECORDED_IMPAIRED, P.P_HEPATIC_RECORDED)
    cols["hepatic_impairment"] = _labels(P.HEPATIC_CLASSES, safety.hepatic, hepatic_kept)
    under_50 = pop.age < 50
    p_status = np.where(
        pop.female, np.where(under_50, P.P_PREGNANCY_RECORDED_UNDER_50, P.P_PREGNANCY_RECORDED_50_PLUS), 0.0
    )
    status = rng.random(n) < p_status
    cols["pregnant"] = _bool_masked(safety.pregnant, status)
    ga_kept = status & safety.pregnant & (rng.random(n) < P.P_GESTATIONAL_AGE_RECORDED)
    cols["gestational_age_weeks"] = _masked(safety.gestational_weeks, ga_kept)
    bf_kept = pop.female & under_50 & (rng.random(n) < P.P_BREASTFEEDING_RECORDED_UNDER_50)
    cols["breastfeeding"] = _bool_masked(safety.breastfeeding, bf_kept)
    dose_kept = (opioid_recorded == True) & (rng.random(n) < P.P_OPIOID_DOSE_RECORDED)  # noqa: E712
    cols["opioid_mme_per_day"] = _masked(safety.opioid_mme, dose_kept)
    for name, present in (
        ("history_gi_bleed", safety.gi_bleed),
        ("cardiovascular_disease", safety.cvd),
        ("seizure_disorder", safety.seizure),
    ):
        kept = rng.random(n) < np.where(present, P.P_HISTORY_RECORDED_PRESENT, P.P_HISTORY_RECORDED)
        cols[name] = _bool_masked(present, kept)
    return cols

"""Every constant of the synthetic cohort's data-generating process (DGP), with where it comes from.

Tags used below (the same as in the project's domain facts):

- ``[V]``: a published number read in the cited source;
- ``[M]``: a published number from a secondary source, not verified;
- ``[D]``: arithmetic on published numbers (the derivation is given);
- ``ASSUMPTION``: a modelling choice with no published number behind it. Directions are stated when a source
  supports the direction but not the size.

Units: pain response is modelled on the scale of the percentage reduction of the 0-10 NRS from baseline
("points" below = percentage points of NRS reduction). Response = a reduction of at least 30% at 12 weeks
(IMMPACT "moderately important", Dworkin 2008 [V]).

Nothing here is computed at import time except plain literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# ------------------------------------------------------------------------------------------------ identity

COHORT_SCHEMA_VERSION: Final = "1.2.1"
"""Version of the cohort's column layout and DGP. Bump on any change to columns or to a constant here."""

PAIN_TYPES: Final = ("nociceptive", "neuropathic", "nociplastic", "mixed")
"""Order of the pain-type axis in every per-pain-type tuple below."""

RESPONDER_THRESHOLD_PCT: Final = 30.0  # >=30% NRS reduction, IMMPACT moderate (Dworkin 2008) [V]

# ------------------------------------------------------------------------------------------ demographics

AGE_MEAN_YEARS: Final = 55.0  # ePPOC mean 52.7 (Nicholas 2019) [V]; opioid RCTs median 58 (Busse 2018) [V]
AGE_SD_YEARS: Final = 14.0  # ASSUMPTION
AGE_RANGE_YEARS: Final = (18.0, 95.0)  # ASSUMPTION (adults; catalog allows 18-110)
P_FEMALE: Final = 0.60  # opioid RCT populations 61% female (Busse 2018) [V]; more chronic pain in women (Dahlhamer 2018) [V]

# CPIC biogeographic groups of a US-like pain clinic, with East Asians somewhat enriched so that HLA-B*15:02
# and CYP2D6*10 carriers are numerous enough to learn from. ASSUMPTION.
GROUP_SHARES: Final = MappingProxyType(
    {
        "european": 0.52,
        "african_american_afro_caribbean": 0.13,
        "latino": 0.14,
        "east_asian": 0.08,
        "central_south_asian": 0.05,
        "near_eastern": 0.03,
        "american": 0.02,
        "sub_saharan_african": 0.02,
        "oceanian": 0.01,
    }
)

# Diabetes: logistic in age. ASSUMPTION (about 16% at 55 years, rising with age; pain clinics see more
# diabetes than the general population).
DIABETES_LOGIT_AT_55: Final = -1.65
DIABETES_LOGIT_PER_YEAR: Final = 0.035
# HbA1c (NGSP %). ADA diagnosis threshold 6.5% [M]. Distribution parameters: ASSUMPTION.
HBA1C_NON_DIABETIC_MEAN_PCT: Final = 5.4
HBA1C_NON_DIABETIC_SD_PCT: Final = 0.35
HBA1C_NON_DIABETIC_RANGE_PCT: Final = (4.2, 6.4)
HBA1C_DIABETIC_LOG_MEAN: Final = 2.01  # median exp(2.01) = 7.5% ASSUMPTION
HBA1C_DIABETIC_LOG_SD: Final = 0.17  # ASSUMPTION
HBA1C_DIABETIC_RANGE_PCT: Final = (5.6, 15.0)
HBA1C_POOR_CONTROL_PCT: Final = 8.0  # DPN OR 3.57 at HbA1c >= 8% (Hoque, BIRDEM) [V]

# ------------------------------------------------------------------------------------------- pain type

# Multinomial logit over PAIN_TYPES (nociceptive is the reference). Intercepts are tuned so the shares are
# about 40/25/17/18% (ASSUMPTION; in chronic LBP painDETECT classes 37% as predominantly neuropathic,
# Freynhagen 2006 [V], which our neuropathic + mixed share of ~43% brackets).
PAIN_TYPE_INTERCEPTS: Final = (0.0, -0.72, -1.35, -0.85)
PAIN_TYPE_AGE_PER_YEAR: Final = (0.0, 0.015, -0.020, 0.005)  # ASSUMPTION: neuropathic pain rises with age
# ASSUMPTION: nociplastic pain (e.g. fibromyalgia) is more common in women.
PAIN_TYPE_FEMALE: Final = (0.0, -0.10, 0.70, 0.05)
PAIN_TYPE_DIABETES: Final = (0.0, 0.80, 0.0, 0.40)  # ASSUMPTION: diabetic neuropathy
# log(3.57): DPN odds ratio at HbA1c >= 8% in T2DM (Hoque, BIRDEM) [V], applied to neuropathic pain in diabetics.
PAIN_TYPE_DIABETIC_POOR_CONTROL_NEUROPATHIC: Final = 1.2726

PAIN_DURATION_LOG_MEDIAN_MONTHS: Final = 3.6  # median exp(3.6) = 37 months. ASSUMPTION
PAIN_DURATION_LOG_SD: Final = 0.9  # ASSUMPTION
PAIN_DURATION_RANGE_MONTHS: Final = (3.0, 600.0)  # chronic pain lasts >= 3 months (definition)

# ------------------------------------------------------------------------------------------ pain condition

# The diagnosis behind the pain (clinical.pain_condition), drawn given the pain type so that the pair is always one
# the catalog allows (features/clinical.yaml, pain_condition_agrees_with_pain_type). Order of the condition axis:
PAIN_CONDITIONS: Final = (
    "painful_diabetic_neuropathy", "postherpetic_neuralgia", "trigeminal_neuralgia", "lumbar_radiculopathy",
    "chronic_low_back_pain", "knee_hip_osteoarthritis", "fibromyalgia", "other_neuropathic", "other",
)  # fmt: skip
# Shares within each pain type (a multinomial logit: log of these weights plus the modifiers below). Anchors:
# among chronic peripheral neuropathic pain in primary care, diabetic neuropathy 40%, postherpetic pain 32%,
# trigeminal neuralgia 9%, post-injury 6%, entrapment 6%, other 7% (Italian primary-care audit of 58,480 patients,
# PMC5629873) [V]; in chronic low back pain a third has a predominantly neuropathic (radicular) component
# (Freynhagen 2006) [V], so lumbar radiculopathy leads neuropathic pain in a pain clinic; low back pain is the
# commonest chronic pain (GBD, Hartvigsen 2018) [M]; fibromyalgia is the typical nociplastic condition. The
# weights are ASSUMPTION; painful diabetic neuropathy needs diabetes (by definition).
CONDITION_WEIGHTS: Final = MappingProxyType(
    {
        "nociceptive": MappingProxyType({"chronic_low_back_pain": 0.50, "knee_hip_osteoarthritis": 0.35,
                                         "other": 0.15}),
        "neuropathic": MappingProxyType({"painful_diabetic_neuropathy": 0.04, "postherpetic_neuralgia": 0.17,
                                         "trigeminal_neuralgia": 0.05, "lumbar_radiculopathy": 0.42,
                                         "other_neuropathic": 0.26, "other": 0.06}),
        "nociplastic": MappingProxyType({"chronic_low_back_pain": 0.40, "fibromyalgia": 0.45, "other": 0.15}),
        "mixed": MappingProxyType({"painful_diabetic_neuropathy": 0.02, "postherpetic_neuralgia": 0.03,
                                   "trigeminal_neuralgia": 0.01, "lumbar_radiculopathy": 0.36,
                                   "chronic_low_back_pain": 0.20, "knee_hip_osteoarthritis": 0.12,
                                   "fibromyalgia": 0.05, "other_neuropathic": 0.08, "other": 0.13}),
    }
)  # fmt: skip
# Modifiers on the log weights (ASSUMPTION sizes): diabetes makes neuropathic pain mostly diabetic neuropathy
# (+4.0; 46% of diabetics in the cohort have neuropathic pain, above); postherpetic neuralgia rises steeply with
# age (zoster and PHN incidence rise with age [M]) and osteoarthritis too (+0.05 per year from 55); fibromyalgia
# is 2-3 times as common in women under the 2010 criteria (Wolfe 2013) [M] (+1.0).
CONDITION_DIABETES_PDN: Final = 4.0
CONDITION_PER_YEAR_FROM_55: Final = MappingProxyType(
    {"postherpetic_neuralgia": 0.05, "knee_hip_osteoarthritis": 0.05}
)
CONDITION_FEMALE_FIBROMYALGIA: Final = 1.0
# The condition is on the record for 85% (ASSUMPTION); for the rest only the pain type is known.
P_CONDITION_RECORDED: Final = 0.85

# ----------------------------------------------------------------------------- latent distress and scores

# One latent distress factor Z ~ N(0, 1) shifted by pain type and age; questionnaires load on it. Directions:
# neuropathic pain brings more depression, anxiety and sleep problems (Freynhagen 2006) [V]; scores worsen with
# age up to 31-50 years and improve after (ePPOC, Nicholas 2019) [V]; men score slightly worse on some scales
# [V]. Sizes: ASSUMPTION.
DISTRESS_PAIN_TYPE_SHIFT: Final = (0.0, 0.25, 0.30, 0.10)
DISTRESS_AGE_PEAK_YEARS: Final = 45.0
DISTRESS_PER_YEAR_BELOW_PEAK: Final = 0.010
DISTRESS_PER_YEAR_ABOVE_PEAK: Final = -0.012
DISTRESS_MALE_SHIFT: Final = 0.05

# Loadings of each trait on the distress factor (trait = loading * Z + sqrt(1 - loading^2) * own noise).
# PCS, TSK, PHQ-9 and GAD-7 correlate positively and PSEQ negatively (direction Dube 2021 [V]; magnitudes
# [M]/ASSUMPTION).
LOADING_CATASTROPHIZING: Final = 0.70
LOADING_DEPRESSION: Final = 0.75
LOADING_ANXIETY: Final = 0.70
LOADING_FEAR_AVOIDANCE: Final = 0.55
LOADING_SELF_EFFICACY: Final = -0.65
LOADING_NRS: Final = 0.30  # ASSUMPTION: pain intensity correlates ~0.3 with distress

# Baseline pain. ePPOC: BPI severity 6.4, interference 7.0 (Nicholas 2019) [V]. SDs: ASSUMPTION.
NRS_MEAN: Final = 6.5
NRS_SD: Final = 1.6
NRS_RANGE: Final = (2.0, 10.0)  # ASSUMPTION: clinic referrals report at least mild pain
BPI_SEVERITY_OFFSET: Final = -0.10  # BPI severity = NRS + offset + noise, mean ~6.4 [V]
BPI_SEVERITY_NOISE_SD: Final = 0.8
BPI_INTERFERENCE_MEAN: Final = 7.05  # ePPOC 7.0 [V] (a little above to offset clipping at 10)
BPI_INTERFERENCE_PER_NRS: Final = 0.60
BPI_INTERFERENCE_PER_DISTRESS: Final = 0.90
BPI_INTERFERENCE_NOISE_SD: Final = 1.2

# Questionnaire means: ePPOC PCS 29.8, PSEQ 20.7 [V]; PCS > 30 clinically relevant (SRALab) [V].
PCS_MEAN: Final = 29.8
PCS_SD: Final = 11.0  # ASSUMPTION
PCS_PER_NRS: Final = 0.8  # ASSUMPTION
PSEQ_MEAN: Final = 20.7
PSEQ_SD: Final = 12.0  # ASSUMPTION
PSEQ_PER_NRS: Final = -0.8  # ASSUMPTION
# PHQ-9 in pain clinics: PHQ-9 >= 5 in 71% (PMC6044157) [V]; mean and SD tuned to that. ASSUMPTION.
PHQ9_MEAN: Final = 8.3
PHQ9_SD: Final = 6.0
# GAD-7: ASSUMPTION (pain-clinic comorbidity; cut-points 5/10/15, Spitzer 2006 [V]).
GAD7_MEAN: Final = 7.2
GAD7_SD: Final = 5.0
# TSK: general population TSK-17 34.2 (men) / 32.9 (women) (Koho 2015) [V]; clinic values higher: ASSUMPTION.
TSK11_MEAN: Final = 27.0
TSK11_SD: Final = 6.0
TSK17_MEAN: Final = 40.0
TSK17_SD: Final = 8.5
# PHQ-9 item 9 (self-harm) > 0: logistic in the PHQ-9 total; about 10% overall. ASSUMPTION.
PHQ9_ITEM9_LOGIT_INTERCEPT: Final = -4.3
PHQ9_ITEM9_LOGIT_PER_POINT: Final = 0.20
PHQ9_ITEM9_LEVEL_SHARES: Final = (0.65, 0.22, 0.13)  # item score 1, 2, 3 when > 0. ASSUMPTION

# Screening questionnaires by pain type (order PAIN_TYPES). painDETECT: <=12 unlikely, >=19 likely, sensitivity
# 85% / specificity 80% (Freynhagen 2006) [V]; specificity only 53% in fibromyalgia [V] (so nociplastic scores
# high). DN4 >= 4 (Perez 2007) [V], sensitivity ~75%, specificity ~76-79% (van Seventer 2013; Timmerman 2017)
# [V]. Means and SDs are ASSUMPTIONS chosen to roughly reproduce those operating characteristics.
PAINDETECT_MEAN: Final = (9.5, 22.5, 17.0, 16.5)
PAINDETECT_SD: Final = 5.5
DN4_MEAN: Final = (2.0, 5.0, 3.3, 4.0)
DN4_SD: Final = 1.6

# Current opioid use: logistic. ASSUMPTION (about a quarter of clinic patients; more with more pain).
OPIOID_USE_LOGIT_INTERCEPT: Final = -1.15
OPIOID_USE_LOGIT_PER_NRS: Final = 0.30
OPIOID_USE_LOGIT_PER_DISTRESS: Final = 0.20
# Carbamazepine used > 3 months without a reaction. ASSUMPTION.
P_CARBAMAZEPINE_PRIOR_USE: Final = (0.005, 0.06, 0.01, 0.03)  # by pain type

# ------------------------------------------------------------------------------------------- biomarkers

# hs-CRP log-normal: AHA/CDC bands <1 / 1-3 / >3 mg/L are about population tertiles [V]; Women's Health Study
# 15.1% < 0.5 mg/L and 5.4% > 10 mg/L (Ridker 2004) [V]. median 1.7 and log-SD 1.2 give ~33/36/31% in the bands
# and ~15% < 0.5 [D]. CRP is higher in LBP and tracks pain intensity (beta 0.17, Klyne 2017) [V]; the per-NRS
# slope below is that beta on the log scale per SD of NRS: ASSUMPTION.
CRP_LOG_MEDIAN: Final = 0.53
CRP_LOG_SD: Final = 1.2
CRP_LOG_PER_NRS_SD: Final = 0.17
CRP_LOG_NOCICEPTIVE_SHIFT: Final = 0.15  # ASSUMPTION: inflammatory (OA) pain among nociceptive
CRP_RANGE: Final = (0.05, 150.0)
CRP_HIGH_MG_PER_L: Final = 3.0  # AHA/CDC "high" [V]
# IL-6: healthy pooled mean 5.19 pg/mL, +0.05 pg/mL per year of age (Said 2021) [V]. Log-normal shape and the
# correlation with CRP: ASSUMPTION.
IL6_MEAN_PG_PER_ML: Final = 5.19
IL6_PER_YEAR: Final = 0.05
IL6_LOG_SD: Final = 0.55
IL6_CRP_CORRELATION: Final = 0.4
IL6_RANGE: Final = (0.2, 200.0)
# TNF-alpha: normal roughly below 8 pg/mL, assay dependent [V]. Distribution: ASSUMPTION.
TNF_LOG_MEDIAN: Final = 1.0  # median e^1 = 2.7 pg/mL
TNF_LOG_SD: Final = 0.5
TNF_RANGE: Final = (0.1, 200.0)
# 25(OH)D: ~32% deficient (< 20 ng/mL) in NHANES (Endocrine Society 2011) [V]. Lower in arthritis (-12.3 nmol/L
# = -4.9 ng/mL), muscle pain (-9.0 nmol/L = -3.6 ng/mL) and chronic widespread pain (-7.8 nmol/L = -3.1 ng/mL)
# (Wu 2018) [V; nmol/L / 2.496 = ng/mL, D]. Mapped to pain types: nociceptive -3.6, nociplastic -3.1,
# mixed -1.8, neuropathic 0 (ASSUMPTION mapping). Base mean tuned so that ~32% are deficient overall.
VITD_MEAN_NG_PER_ML: Final = 27.0
VITD_SD_NG_PER_ML: Final = 10.0
VITD_PAIN_TYPE_SHIFT: Final = (-3.6, 0.0, -3.1, -1.8)
VITD_RANGE: Final = (3.0, 120.0)
VITD_DEFICIENT_NG_PER_ML: Final = 20.0
# Serum BDNF ~5.3 +/- 2.7 ng/mL (Bidari 2022, fibromyalgia) [V]; higher in fibromyalgia, SMD 0.72 (PLoS One
# 2023) [V]: others 5.3 - 0.72 * 2.7 = 3.4 ng/mL [D]. Gamma shape: ASSUMPTION.
BDNF_MEAN_NOCIPLASTIC: Final = 5.3
BDNF_SD: Final = 2.7
BDNF_SMD_NOCIPLASTIC: Final = 0.72
BDNF_RANGE: Final = (0.1, 60.0)

# ------------------------------------------------------------------------------------------- wearables

# RMSSD: healthy ~42 +/- 15 ms [M]; chronic pain g = -0.24 (Koenig 2016) [V] = -3.6 ms [D]; falls with age
# (Shaffer & Ginsberg 2017) [V]. Log-normal; slopes: ASSUMPTION.
RMSSD_HEALTHY_MS: Final = 42.0
RMSSD_SD_MS: Final = 15.0
RMSSD_PAIN_G: Final = -0.24
RMSSD_LOG_PER_YEAR: Final = -0.015
RMSSD_LOG_PER_NRS: Final = -0.03
RMSSD_LOG_SD: Final = 0.33
RMSSD_RANGE: Final = (5.0, 200.0)
# Resting HR: Fitbit cohort mean 65 bpm, range 40-109 (Quer 2020) [V]. Slopes: ASSUMPTION.
RHR_MEAN_BPM: Final = 65.0
RHR_SD_BPM: Final = 8.0
RHR_PER_DISTRESS: Final = 1.5
RHR_RANGE: Final = (40.0, 115.0)
# Sleep: good sleep efficiency >= 85% (Ohayon 2017) [V]; 58.7% of LBP patients report disturbed sleep and each
# +1 VAS point raises the odds by 10% (Alsaadi 2011) [V]. With SD 7, a slope of -0.4 %/NRS point gives
# OR ~1.1 per point for efficiency < 85% [D]; mean tuned so ~59% are below 85%. Sleep duration: ASSUMPTION.
SLEEP_EFFICIENCY_MEAN_PCT: Final = 83.3
SLEEP_EFFICIENCY_SD_PCT: Final = 7.0
SLEEP_EFFICIENCY_PER_NRS: Final = -0.4
SLEEP_EFFICIENCY_PER_DISTRESS: Final = -1.5
SLEEP_EFFICIENCY_RANGE: Final = (40.0, 99.0)
SLEEP_GOOD_EFFICIENCY_PCT: Final = 85.0
SLEEP_MINUTES_MEAN: Final = 395.0
SLEEP_MINUTES_PER_NRS: Final = -8.0
SLEEP_MINUTES_SD: Final = 55.0
SLEEP_MINUTES_RANGE: Final = (150.0, 720.0)
# Steps: chronic LBP 3,480 fewer steps/day than controls (Ryan 2009) [V]; LBP 8,068 vs controls 10,864
# (activPAL abstract) [V]; older adults 2,000-9,000 (IJBNPA 8:80) [V]. Controls ~9,500 at 50 years minus
# 3,000 for chronic pain (ASSUMPTION between the two published gaps); age and NRS slopes: ASSUMPTION.
STEPS_CONTROL_MEAN: Final = 9500.0
STEPS_CHRONIC_PAIN_GAP: Final = 3000.0
STEPS_PER_YEAR_OVER_50: Final = -60.0
STEPS_PER_NRS: Final = -250.0
STEPS_PER_DISTRESS: Final = -350.0
STEPS_LOG_SD: Final = 0.40
STEPS_RANGE: Final = (300.0, 30000.0)
# Skin conductance 2-20 uS typical [V, weak source]; no chronic-pain norms, so a weak, noisy feature. ASSUMPTION.
EDA_LOG_MEDIAN: Final = 1.6  # e^1.6 = 5 uS
EDA_LOG_SD: Final = 0.6
EDA_LOG_PER_ANXIETY: Final = 0.05
EDA_RANGE: Final = (0.2, 60.0)
# Activity relative to the person's own baseline. ASSUMPTION.
ACTIVITY_DEVIATION_MEAN_PCT: Final = -8.0
ACTIVITY_DEVIATION_PER_NRS: Final = -3.0
ACTIVITY_DEVIATION_SD_PCT: Final = 18.0
ACTIVITY_DEVIATION_RANGE: Final = (-95.0, 200.0)
WEARABLE_WINDOW_DAYS: Final = (7, 14, 28, 30)  # ASSUMPTION
WEARABLE_WINDOW_SHARES: Final = (0.2, 0.4, 0.25, 0.15)

# Measurement bias of optical (PPG) wearables by skin tone. Melanin absorbs the light PPG sensors read: a Monte
# Carlo model loses up to 61% of the signal in Fitbit-like geometry at dark skin and high BMI (Ajmal 2021, Biomed
# Opt Express 12:7445) [V]; 4 of 10 studies found less accurate wrist heart rate in darker skin, 4 none and 2 mixed
# (Koerber 2022 systematic review, PMC9662769) [V]; pulse oximeters overestimate SpO2 in Black patients (Sjoding
# 2020 NEJM) [M]. Where the heart-rate signal drops out, sleep staging leans on movement alone, and movement-only
# (actigraphy) scoring overestimates sleep efficiency because it misses quiet wake (de Zambotti 2019 review) [M];
# beat-detection artefacts inflate RMSSD [M]. Here a dark skin tone (Fitzpatrick V-VI) is drawn from the
# biogeographic group (shares ASSUMPTION; skin tone is never recorded) and its recorded wearable readings are
# biased: sleep efficiency +5 points, RMSSD x 1.25, with extra noise (sizes ASSUMPTION). The truth uses the true
# values, so a model reading the records mistakes these patients' prognosis (see NATURAL_COURSE_PER_SLEEP_EFF).
P_DARK_SKIN: Final = MappingProxyType(
    {
        "european": 0.02,
        "african_american_afro_caribbean": 0.80,
        "latino": 0.15,
        "east_asian": 0.02,
        "central_south_asian": 0.35,
        "near_eastern": 0.05,
        "american": 0.15,
        "sub_saharan_african": 0.90,
        "oceanian": 0.40,
    }
)
DARK_SKIN_SLEEP_EFFICIENCY_BIAS_PCT: Final = 5.0
DARK_SKIN_SLEEP_EFFICIENCY_NOISE_SD_PCT: Final = 3.0
DARK_SKIN_RMSSD_FACTOR: Final = 1.25
DARK_SKIN_RMSSD_LOG_NOISE_SD: Final = 0.15
DARK_SKIN_RESTING_HR_NOISE_SD_BPM: Final = 3.0

# ------------------------------------------------------------------------------------------- engagement

# Engagement with self-management and digital programmes: a latent trait (standard normal), lower with age (eHealth
# literacy falls with age [M]) and with distress (depression predicts app dropout [M]); sizes ASSUMPTION. It sets how
# often patients stop digital options early (app dropout pooled 43%, 95% CI 29-57%, across studies: Meyerowitz-Katz
# 2020) [V] and, less, in-person programmes (53.7% attended >= 6 of 8 sessions, Cherkin 2016) [V]. Two recorded
# inputs read it (psychosocial.prior_programme_completed, psychosocial.app_use_days_per_week): patients who finished a
# previous programme and who use the clinic's pain app more are the engaged ones (Manage My Pain: 63.4% used the app
# for >= 1 month, Bhatia 2021) [V]; sizes ASSUMPTION.
ENGAGEMENT_PER_YEAR_FROM_55: Final = -0.02
ENGAGEMENT_PER_DISTRESS: Final = -0.20
# Other-dropout log-odds per SD of engagement: digital options (self-paced, no one to turn up to) and in-person
# programmes. ASSUMPTION.
ENGAGEMENT_DROPOUT_LOGIT_DIGITAL: Final = -0.9
ENGAGEMENT_DROPOUT_LOGIT_IN_PERSON: Final = -0.4
DIGITAL_OPTIONS: Final = ("guided_icbt", "unguided_icbt", "vr_therapy")
IN_PERSON_PROGRAMMES: Final = (
    "physical_therapy", "mindfulness", "peer_support", "cbt_face_to_face", "act_face_to_face",
    "multidisciplinary_programme",
)  # fmt: skip
# Recording: a previous programme is on file for 45% (offered one before), completed with probability
# logistic(0.3 + 1.2 x engagement); the app's use (days a week over the last 4 weeks) for the 50% who have it,
# 7 x logistic(0.2 + 1.0 x engagement + N(0, 0.6)) rounded. ASSUMPTION.
P_PRIOR_PROGRAMME_RECORDED: Final = 0.45
PRIOR_PROGRAMME_LOGIT: Final = (0.3, 1.2)
P_APP_USER: Final = 0.50
APP_USE_LOGIT: Final = (0.2, 1.0)
APP_USE_NOISE_SD: Final = 0.6

# Objective tools. ASSUMPTION: gait speed ~1.2 m/s in mid-life, slower with age and pain; PainChek is used
# mostly in people who cannot self-report, so it is rare in this clinic cohort.
GAIT_SPEED_MEAN_M_PER_S: Final = 1.20
GAIT_SPEED_PER_YEAR_OVER_50: Final = -0.007
GAIT_SPEED_PER_NRS: Final = -0.03
GAIT_SPEED_SD: Final = 0.18
GAIT_SPEED_RANGE: Final = (0.2, 2.2)
PAINCHEK_PER_NRS: Final = 2.2
PAINCHEK_SD: Final = 3.0

# ----------------------------------------------------------------------- safety inputs: organ function, etc.

# Kidney function. eGFR falls about 1 mL/min/1.73 m2 a year from mid-life (Lindeman 1985; KDIGO 2012) [M]; CKD
# stages 3-5 (eGFR < 60) in about 14% of US adults and about 38% of those aged 65 or more (CDC Chronic Kidney
# Disease Surveillance System, NHANES 2017-2020) [M]; about 1 in 3 adults with diabetes has CKD (CDC) [M].
# A normal distribution falling with age and lower with diabetes; numbers tuned to those shares: ASSUMPTION.
EGFR_AT_40: Final = 101.0
EGFR_PER_YEAR_OVER_40: Final = -1.0
EGFR_DIABETES_SHIFT: Final = -13.0
EGFR_SD: Final = 17.0
EGFR_RANGE: Final = (5.0, 150.0)  # plausibility bounds; whole numbers as labs report them
# Hepatic impairment by Child-Pugh class (order HEPATIC_CLASSES). Cirrhosis affects about 0.27% of US adults
# (Scaglione 2015, NHANES) [M], of whom roughly half class A, a third B, the rest C [M]; a pain clinic's older,
# opioid- and alcohol-exposed patients hold more: 1.2% in all (ASSUMPTION).
HEPATIC_CLASSES: Final = ("none", "child_pugh_a", "child_pugh_b", "child_pugh_c")
HEPATIC_CLASS_SHARES: Final = (0.988, 0.0065, 0.004, 0.0015)
# Pregnancy and breastfeeding, women only. US general fertility rate about 56 births per 1,000 women aged 15-44
# a year (CDC NVSS 2022) [M], so about 4% are pregnant at a given time [D]; fewer come to a pain clinic
# (ASSUMPTION): 2.5% at 18-39, 1% at 40-44, 0.2% at 45-49, none from 50. Gestational age uniform over 4-40
# weeks (ASSUMPTION). Breastfeeding: 83% start and 56% still breastfeed at 6 months (CDC Breastfeeding Report
# Card 2022) [M], about 3% of women aged 15-44 at a time [D]; 2% at 18-44 in the clinic (ASSUMPTION), never
# while pregnant.
P_PREGNANT_BY_AGE: Final = ((40.0, 0.025), (45.0, 0.010), (50.0, 0.002))  # (age below, probability)
GESTATIONAL_AGE_RANGE_WEEKS: Final = (4.0, 40.0)
P_BREASTFEEDING: Final = 0.02
BREASTFEEDING_AGE_BELOW_YEARS: Final = 45.0
# Current opioid dose of opioid users, MME/day: log-normal with median 30 and log-SD 0.8, so about 26% take 50 or
# more and 9% 90 or more (the CDC 2016 thresholds [V]). ASSUMPTION: long-term opioid therapy in pain clinics is
# mostly below 50 MME/day with a minority at high doses.
OPIOID_MME_LOG_MEDIAN: Final = 3.4012  # log(30)
OPIOID_MME_LOG_SD: Final = 0.8
OPIOID_MME_RANGE: Final = (5.0, 600.0)
# Histories, logistic in age (per year from 55). GI bleeding / peptic ulcer bleeding: about 2% at 55, rising
# with age (ASSUMPTION; upper-GI bleeding incidence rises steeply with age [M]). Established cardiovascular
# disease (coronary disease, heart failure, stroke): about 8% at 55 and 22% at 75 without diabetes, higher with
# it (AHA Heart Disease and Stroke Statistics: ~10% of US adults, rising with age [M]; sizes ASSUMPTION). Active
# epilepsy in 1.2% of US adults (Zack & Kobau 2017, CDC) [M], flat in age (ASSUMPTION).
GI_BLEED_LOGIT_AT_55: Final = -3.9
GI_BLEED_LOGIT_PER_YEAR: Final = 0.04
CVD_LOGIT_AT_55: Final = -2.45
CVD_LOGIT_PER_YEAR: Final = 0.06
CVD_LOGIT_DIABETES: Final = 0.7
P_SEIZURE_DISORDER: Final = 0.012

# ------------------------------------------------------------------------------- safety inputs: medicines

# Medicines taken now, by group: whether the group is taken (a model per group below) and which medicine
# (shares within the group; names as in features/medications.yaml). At most one medicine per group. Shares
# within groups: ASSUMPTION after US prescribing ranks [M] (hydrocodone and oxycodone lead long-term opioid
# therapy; sertraline and escitalopram lead the SSRIs). The antidepressants that are treatment options
# (duloxetine, venlafaxine, amitriptyline, nortriptyline) are left out of the current medicines so that an option
# is a new start; current opioids stay (opioid rotation is a new start too).
MEDICATION_GROUPS: Final = MappingProxyType(
    {
        "opioid": MappingProxyType({"hydrocodone": 0.32, "oxycodone": 0.30, "tramadol": 0.18, "morphine": 0.10,
                                    "codeine": 0.06, "tapentadol": 0.04}),
        "antidepressant": MappingProxyType({"sertraline": 0.31, "escitalopram": 0.22, "citalopram": 0.13,
                                            "fluoxetine": 0.13, "paroxetine": 0.09, "bupropion": 0.12}),
        "maoi": MappingProxyType({"phenelzine": 0.4, "tranylcypromine": 0.3, "selegiline": 0.3}),
        "benzodiazepine": MappingProxyType({"alprazolam": 0.35, "clonazepam": 0.30, "lorazepam": 0.25,
                                            "diazepam": 0.10}),
        "z_drug": MappingProxyType({"zolpidem": 1.0}),
        "gabapentinoid": MappingProxyType({"gabapentin": 0.7, "pregabalin": 0.3}),
        "proton_pump_inhibitor": MappingProxyType({"omeprazole": 1.0}),
        "anticoagulant": MappingProxyType({"apixaban": 0.6, "warfarin": 0.4}),
    }
)  # fmt: skip
# Opioid: every TRUE current opioid user takes one (the profile's current_opioid_use and the list agree).
# Antidepressant: logistic in the true PHQ-9 (centred at 8.3): about 20% overall and 35% at PHQ-9 15. US adults:
# 13% took an antidepressant in the past month (NCHS Data Brief 377, 2015-2018) [M]; more in chronic pain and
# with depression (ASSUMPTION).
ANTIDEPRESSANT_LOGIT_INTERCEPT: Final = -1.45
ANTIDEPRESSANT_LOGIT_PER_PHQ9: Final = 0.10
# MAO inhibitors are rarely prescribed (a small fraction of antidepressant use [M]): 0.3%, instead of another
# antidepressant (the combination is contraindicated). ASSUMPTION.
P_MAOI: Final = 0.003
# Benzodiazepines: logistic in the true GAD-7 (centred at 7.2): about 6% overall, 12% at GAD-7 15. 12.6% of US
# adults used one in the past year (Maust 2019) [M]; point use lower (ASSUMPTION).
BENZODIAZEPINE_LOGIT_INTERCEPT: Final = -2.75
BENZODIAZEPINE_LOGIT_PER_GAD7: Final = 0.10
P_Z_DRUG: Final = 0.03  # ASSUMPTION
# Gabapentinoid already taken, by pain type (order PAIN_TYPES). ASSUMPTION (prescribed most in neuropathic pain).
P_GABAPENTINOID: Final = (0.04, 0.12, 0.08, 0.08)
# Proton-pump inhibitor (omeprazole): 8% at 55, +0.3 points a year, +25 points after GI bleeding. US adult PPI use
# about 7-15% [M]; sizes ASSUMPTION.
P_PPI_AT_55: Final = 0.08
P_PPI_PER_YEAR: Final = 0.003
P_PPI_GI_BLEED: Final = 0.25
# Oral anticoagulant: logistic in age (per year from 55), more with cardiovascular disease; about 1.3% at 55 and
# 5% at 75 (atrial fibrillation, the main indication, rises steeply with age [M]; sizes ASSUMPTION).
ANTICOAGULANT_LOGIT_AT_55: Final = -4.3
ANTICOAGULANT_LOGIT_PER_YEAR: Final = 0.07
ANTICOAGULANT_LOGIT_CVD: Final = 1.0

# ------------------------------------------------------------------------------------------ missingness

# Share of patients with each field MISSING. All ASSUMPTION. Age, sex, pain type and baseline NRS are never
# missing (required by the catalog).
P_MISSING: Final = MappingProxyType(
    {
        "biogeographic_group": 0.08,
        "pain_duration_months": 0.08,
        "bpi": 0.20,  # severity and interference together
        "paindetect_score": 0.30,
        "dn4_score": 0.50,
        "diabetes": 0.04,
        "current_opioid_use": 0.04,
        "carbamazepine_prior_use_over_3_months": 0.55,
        "gait_speed_m_per_s": 0.75,
        "pcs_total": 0.18,
        "phq9_total": 0.12,  # item 9 is missing with the total
        "gad7_total": 0.18,
        "pseq_total": 0.20,
        "il6_tnf": 0.70,  # research cytokines (IL-6 and TNF-alpha together)
        "bdnf_ng_per_ml": 0.80,
    }
)
P_NO_QUESTIONNAIRES: Final = 0.06  # a patient who returned no questionnaire at all. ASSUMPTION
P_TSK11: Final = 0.65  # TSK-11 recorded; ASSUMPTION
P_TSK17: Final = 0.12  # TSK-17 recorded instead; ASSUMPTION (the rest: no TSK)
P_ROUTINE_LABS: Final = 0.45  # hs-CRP and 25(OH)D drawn. ASSUMPTION
P_HBA1C_DIABETIC: Final = 0.92  # HbA1c on file: almost always in diabetes, often otherwise. ASSUMPTION
P_HBA1C_NON_DIABETIC: Final = 0.40
P_WEARABLE: Final = 0.40  # shares a wearable summary. ASSUMPTION
P_WEARABLE_NO_EDA: Final = 0.55  # among wearable users, device without EDA. ASSUMPTION
P_PAINCHEK: Final = 0.04  # ASSUMPTION
# Safety inputs (all ASSUMPTION; chosen so the rules' "not given" warnings are common, as in practice): eGFR on
# file for 65% (90% at 65 or more and in diabetes, who get renal panels); liver status recorded for 50% ("none")
# and 90% of impaired patients (cirrhosis is on the problem list); pregnancy status for 80% of women under 50 and
# 30% of older women, never for men; gestational age for 90% of recorded pregnancies; breastfeeding for 60% of
# women under 50; opioid dose for 70% of recorded opioid users; histories for 75% (90% when present); the
# medication list (complete when recorded) for 85%.
P_EGFR_RECORDED: Final = 0.65
P_EGFR_RECORDED_OLDER_OR_DIABETIC: Final = 0.90
P_HEPATIC_RECORDED: Final = 0.50
P_HEPATIC_RECORDED_IMPAIRED: Final = 0.90
P_PREGNANCY_RECORDED_UNDER_50: Final = 0.80
P_PREGNANCY_RECORDED_50_PLUS: Final = 0.30
P_GESTATIONAL_AGE_RECORDED: Final = 0.90
P_BREASTFEEDING_RECORDED_UNDER_50: Final = 0.60
P_OPIOID_DOSE_RECORDED: Final = 0.70
P_HISTORY_RECORDED: Final = 0.75
P_HISTORY_RECORDED_PRESENT: Final = 0.90
P_MEDICATIONS_RECORDED: Final = 0.85

# ---------------------------------------------------------------------------------------- pharmacogenomics

# CYP allele frequencies by CPIC biogeographic group. CYP2D6 comes from the CPIC frequency table shipped in
# features/pgx/allele_frequencies.tsv (only alleles the CPIC allele-function table knows are kept and each
# group is renormalized; today every listed allele is known). CYP2C9 and CYP2C19 are below; the reference
# allele *1 takes the remaining mass.
CYP2C9_ALLELE_FREQUENCIES: Final = MappingProxyType(
    {
        "european": {"*2": 0.12, "*3": 0.07},  # [M]
        "east_asian": {"*3": 0.037},  # *3 2.8-4.6% and *2 ~0 (Korean/Chinese/Japanese table) [V]
        # Every other group: ASSUMPTION (no published figure in the project's sources).
        "african_american_afro_caribbean": {"*2": 0.02, "*3": 0.01, "*5": 0.01, "*8": 0.06, "*11": 0.03},
        "sub_saharan_african": {"*2": 0.01, "*3": 0.005, "*5": 0.015, "*6": 0.01, "*8": 0.07, "*11": 0.03},
        "latino": {"*2": 0.07, "*3": 0.04},
        "american": {"*2": 0.05, "*3": 0.04},
        "central_south_asian": {"*2": 0.04, "*3": 0.10},
        "near_eastern": {"*2": 0.12, "*3": 0.08},
        "oceanian": {"*3": 0.03},
    }
)
# CYP2C19. Europeans: phenotype frequencies NM 40.6%, RM 27.6%, UM 4.7%, IM 24.8%, PM 2.1% (PMC9318053) [V]
# give, under Hardy-Weinberg, *17 = sqrt(0.047) = 0.217 and no-function = sqrt(0.021) = 0.145 [D] (which
# reproduces NM 0.41, RM 0.28, IM 0.25). East Asians: Japanese PM ~15% [V] -> no-function 0.387 [D], split
# *2/*3 = 0.28/0.105 and *17 0.015 (ASSUMPTION). Other groups: ASSUMPTION.
CYP2C19_ALLELE_FREQUENCIES: Final = MappingProxyType(
    {
        "european": {"*2": 0.140, "*3": 0.005, "*17": 0.217},
        "east_asian": {"*2": 0.280, "*3": 0.105, "*17": 0.015},
        "african_american_afro_caribbean": {"*2": 0.18, "*3": 0.003, "*9": 0.01, "*17": 0.20},
        "sub_saharan_african": {"*2": 0.17, "*9": 0.01, "*17": 0.18},
        "latino": {"*2": 0.10, "*17": 0.12},
        "american": {"*2": 0.10, "*17": 0.08},
        "central_south_asian": {"*2": 0.33, "*3": 0.01, "*17": 0.17},
        "near_eastern": {"*2": 0.12, "*17": 0.20},
        "oceanian": {"*2": 0.45, "*3": 0.12, "*17": 0.02},
    }
)
# HLA carriage (probability of carrying >= 1 copy). B*15:02: >15% in Hong Kong, Thailand, Malaysia, parts of
# the Philippines; ~10% Taiwan; ~4% North China; rare in Europeans and Japanese (FDA label via NCBI MGS) [V].
# The CPIC "East Asian" group mixes these: 0.08 (ASSUMPTION within the published range). A*31:01 is the
# relevant marker in Europeans and Japanese [V]; carriage figures are ASSUMPTION.
HLA_B_1502_CARRIAGE: Final = MappingProxyType(
    {
        "european": 0.001,
        "african_american_afro_caribbean": 0.002,
        "latino": 0.003,
        "east_asian": 0.08,
        "central_south_asian": 0.03,
        "near_eastern": 0.002,
        "american": 0.003,
        "sub_saharan_african": 0.001,
        "oceanian": 0.02,
    }
)
HLA_A_3101_CARRIAGE: Final = MappingProxyType(
    {
        "european": 0.05,
        "african_american_afro_caribbean": 0.02,
        "latino": 0.10,
        "east_asian": 0.07,
        "central_south_asian": 0.04,
        "near_eastern": 0.04,
        "american": 0.12,
        "sub_saharan_african": 0.01,
        "oceanian": 0.02,
    }
)
# OPRM1 A118G G-allele frequency ~15% EUR, ~40% EAS [M]; other groups ASSUMPTION. Hardy-Weinberg genotypes.
OPRM1_G_FREQUENCY: Final = MappingProxyType(
    {
        "european": 0.15,
        "east_asian": 0.40,
        "african_american_afro_caribbean": 0.04,
        "sub_saharan_african": 0.02,
        "latino": 0.20,
        "american": 0.25,
        "central_south_asian": 0.35,
        "near_eastern": 0.20,
        "oceanian": 0.30,
    }
)
# COMT Val158Met genotypes in a US chronic-pain cohort: Val/Val 25%, Val/Met 41%, Met/Met 34% (PMC6509985) [V].
# Used for every group (ASSUMPTION).
COMT_GENOTYPES: Final = ("Val/Val", "Val/Met", "Met/Met")
COMT_GENOTYPE_SHARES: Final = (0.25, 0.41, 0.34)

# For the hidden mechanisms only: an allele with uncertain/unknown function (no CPIC activity value) counts as
# decreased function (0.5). ASSUMPTION. (The observed columns keep CPIC's "Indeterminate".)
UNCERTAIN_ALLELE_MECHANISM_ACTIVITY: Final = 0.5

# How PGx results appear in the record. All ASSUMPTION.
P_CYP_PANEL: Final = 0.55  # a CYP2D6/CYP2C9/CYP2C19 panel was done
CYP_REPORT_SHARES: Final = (0.55, 0.30, 0.15)  # full lab report | diplotype only | phenotype only
P_PHENOTYPE_ONLY_WITH_SCORE: Final = 0.5  # phenotype-only reports that also give the activity score
P_GENE_NOT_REPORTED: Final = 0.05  # a gene missing from an otherwise done panel
P_SOURCE_PHARMCAT: Final = 0.25  # panel called by PharmCAT from a VCF rather than reported by a lab
# PharmCAT cannot call CYP2D6 from SNP VCFs (needs an outside call, PharmCAT docs) [V]; share of PharmCAT
# panels without a CYP2D6 outside call: ASSUMPTION.
P_PHARMCAT_NO_CYP2D6: Final = 0.5
P_HLA_TESTED_BASE: Final = 0.22
P_HLA_TESTED_ASIAN_EXTRA: Final = 0.35  # recorded East Asian, Central/South Asian or Oceanian
P_HLA_TESTED_NEUROPATHIC_EXTRA: Final = 0.15  # carbamazepine candidates
P_RESEARCH_GENOTYPES: Final = 0.35  # OPRM1 and COMT on a research panel

# ------------------------------------------------------------------------------------ prescriber policy

# Multinomial logit; all ASSUMPTION (a plausible prescriber, not fitted to data). It reads only recorded
# columns (missing -> neutral value) and never the hidden genotype, so assignment is ignorable given the
# profile. Covariates (centred/scaled): nrs=(NRS-6.5)/1.6, age=(age-55)/14, old=age>=65, female, neuropathic,
# nociplastic, mixed, diabetes, opioid (current use), phq=(PHQ-9-9)/6, gad=(GAD-7-7)/5, pcs=(PCS-30)/11,
# pseq=(PSEQ-21)/12, tsk (TSK % of range, centred 50, /20), recorded PGx flags: cyp2d6_pm_um, cyp2c9_pm,
# hla_pos (B*15:02 or A*31:01 positive), recorded safety facts: ckd (eGFR < 60), gi_bleed (history),
# benzodiazepine (on the medication list), the recorded pain condition (pdn, phn, tn, lr, lbp, oa, fm; 0 when not
# recorded) and the recorded engagement inputs (app = (app use days a week - 3.5) / 2, 0 when not recorded;
# prior_completed = a previous programme recorded as completed).
POLICY_COVARIATES: Final = (
    "nrs", "age", "old", "female", "neuropathic", "nociplastic", "mixed", "diabetes", "opioid",
    "phq", "gad", "pcs", "pseq", "tsk", "cyp2d6_pm_um", "cyp2c9_pm", "hla_pos", "ckd", "gi_bleed",
    "benzodiazepine", "pdn", "phn", "tn", "lr", "lbp", "oa", "fm", "app", "prior_completed",
)  # fmt: skip
# The recorded condition each condition covariate reads.
POLICY_CONDITION_COVARIATES: Final = MappingProxyType(
    {
        "pdn": "painful_diabetic_neuropathy", "phn": "postherpetic_neuralgia", "tn": "trigeminal_neuralgia",
        "lr": "lumbar_radiculopathy", "lbp": "chronic_low_back_pain", "oa": "knee_hip_osteoarthritis",
        "fm": "fibromyalgia",
    }
)  # fmt: skip
POLICY_COEFFICIENTS: Final = MappingProxyType(
    {
        "codeine": {"nrs": 0.2, "age": -0.1, "old": -0.3, "neuropathic": -0.6, "nociplastic": -0.3,
                    "opioid": 0.5, "cyp2d6_pm_um": -1.0, "benzodiazepine": -0.4, "lbp": 0.2},
        "tramadol": {"nrs": 0.3, "neuropathic": 0.2, "mixed": 0.3, "opioid": 0.6, "phq": -0.1,
                     "cyp2d6_pm_um": -1.0, "benzodiazepine": -0.4, "oa": 0.3, "lbp": 0.2, "fm": 0.2},
        "oxycodone": {"nrs": 0.6, "age": -0.2, "neuropathic": 0.3, "mixed": 0.3, "opioid": 1.5, "phq": 0.25,
                      "pcs": 0.2, "benzodiazepine": -0.4, "lbp": 0.2},
        "celecoxib": {"age": -0.2, "old": -0.8, "neuropathic": -1.2, "nociplastic": -0.8, "mixed": -0.3,
                      "diabetes": -0.3, "opioid": -0.2, "cyp2c9_pm": -0.7, "ckd": -1.0, "gi_bleed": -1.0,
                      "oa": 0.5, "lbp": 0.3, "fm": -0.5},
        "ibuprofen": {"age": -0.5, "old": -1.5, "neuropathic": -1.4, "nociplastic": -0.9, "mixed": -0.4,
                      "diabetes": -0.4, "opioid": -0.3, "cyp2c9_pm": -0.7, "ckd": -1.0, "gi_bleed": -1.0,
                      "oa": 0.5, "lbp": 0.3, "fm": -0.5},
        "meloxicam": {"age": -0.2, "old": -1.0, "neuropathic": -1.2, "nociplastic": -0.8, "mixed": -0.3,
                      "diabetes": -0.3, "cyp2c9_pm": -0.7, "ckd": -1.0, "gi_bleed": -1.0, "oa": 0.5, "lbp": 0.3,
                      "fm": -0.5},
        "amitriptyline": {"age": -0.2, "old": -1.0, "neuropathic": 1.0, "nociplastic": 1.0, "mixed": 0.6,
                          "phq": 0.2, "fm": 0.5},
        "duloxetine": {"neuropathic": 0.8, "nociplastic": 1.2, "mixed": 0.6, "diabetes": 0.4, "phq": 0.5,
                       "gad": 0.3, "pdn": 0.6, "fm": 0.8, "oa": 0.3},
        "pregabalin": {"neuropathic": 1.5, "nociplastic": 0.8, "mixed": 0.9, "diabetes": 0.6, "gad": 0.1,
                       "pdn": 0.5, "lr": 0.5, "fm": 0.6},
        "gabapentin": {"neuropathic": 1.6, "nociplastic": 0.3, "mixed": 0.8, "diabetes": 0.5, "lr": 0.6,
                       "pdn": 0.4},
        "carbamazepine": {"neuropathic": 1.2, "nociplastic": -0.5, "mixed": 0.4, "age": -0.1, "hla_pos": -1.5,
                          "tn": 3.5},
        "physical_therapy": {"age": -0.2, "neuropathic": -0.3, "nociplastic": -0.1, "tsk": -0.3,
                             "pseq": 0.2, "nrs": -0.1, "lbp": 0.4, "oa": 0.4, "lr": 0.3},
        "guided_icbt": {"age": -0.3, "nociplastic": 0.5, "phq": 0.4, "pcs": 0.5, "gad": 0.2, "app": 0.4,
                        "prior_completed": 0.3},
        "unguided_icbt": {"age": -0.6, "nociplastic": 0.3, "pcs": 0.3, "phq": 0.1, "app": 0.5,
                          "prior_completed": 0.3},
        "mindfulness": {"female": 0.3, "nociplastic": 0.4, "gad": 0.5, "age": -0.1, "prior_completed": 0.2},
        "vr_therapy": {"age": -0.8, "nrs": 0.1, "app": 0.4},
        "peer_support": {"age": 0.2, "opioid": 0.3, "phq": 0.3, "pseq": -0.2},
        "tapentadol": {"nrs": 0.4, "neuropathic": 0.3, "mixed": 0.3, "opioid": 0.8, "benzodiazepine": -0.4,
                       "pdn": 0.2},
        "buprenorphine_transdermal": {"nrs": 0.3, "old": 0.4, "opioid": 0.8, "ckd": 0.3, "benzodiazepine": -0.4,
                                      "oa": 0.2},
        "naproxen": {"age": -0.3, "old": -1.2, "neuropathic": -1.3, "nociplastic": -0.9, "mixed": -0.4,
                     "diabetes": -0.3, "opioid": -0.2, "ckd": -1.0, "gi_bleed": -1.0, "oa": 0.5, "lbp": 0.3,
                     "fm": -0.5},
        "topical_diclofenac": {"age": 0.2, "old": 0.3, "neuropathic": -1.0, "nociplastic": -0.6, "mixed": -0.3,
                               "ckd": -0.3, "gi_bleed": -0.3, "oa": 1.2},
        "nortriptyline": {"old": -0.5, "neuropathic": 1.0, "nociplastic": 0.6, "mixed": 0.6, "phq": 0.1},
        "venlafaxine": {"neuropathic": 0.6, "nociplastic": 0.4, "mixed": 0.4, "phq": 0.5, "gad": 0.3},
        "lidocaine_plaster": {"old": 0.4, "neuropathic": 1.3, "nociplastic": -0.5, "mixed": 0.5, "phn": 1.5},
        "capsaicin_patch": {"neuropathic": 1.3, "nociplastic": -0.5, "mixed": 0.4, "phn": 0.8, "pdn": 0.6},
        "cbt_face_to_face": {"nociplastic": 0.4, "phq": 0.3, "pcs": 0.4, "prior_completed": 0.2},
        "act_face_to_face": {"nociplastic": 0.4, "gad": 0.2, "pcs": 0.3, "prior_completed": 0.2},
        "multidisciplinary_programme": {"nrs": 0.3, "nociplastic": 0.3, "opioid": 0.3, "phq": 0.2, "pcs": 0.3,
                                        "tsk": 0.2, "lbp": 0.3, "fm": 0.3},
    }
)  # fmt: skip
# Intercepts tuned (on n = 200,000, seed 7) so each option gets roughly its target share. ASSUMPTION targets (%):
# codeine 3, tramadol 5, oxycodone 4, tapentadol 2.5, buprenorphine patch 2.5, celecoxib 4, ibuprofen 5,
# meloxicam 3, naproxen 4.5, topical diclofenac 4, amitriptyline 5, nortriptyline 3, duloxetine 5, venlafaxine
# 2.5, pregabalin 4.5, gabapentin 5, carbamazepine 2.5, lidocaine plaster 3, capsaicin patch 2.5, physical
# therapy 8, guided iCBT 3, unguided iCBT 2.5, mindfulness 2.5, VR 2.5, peer support 2.5, face-to-face CBT 3,
# ACT 2.5, multidisciplinary programme 3.
POLICY_INTERCEPTS: Final = MappingProxyType(
    {
        "codeine": -0.70,
        "tramadol": -0.61,
        "oxycodone": -1.41,
        "tapentadol": -1.40,
        "buprenorphine_transdermal": -1.45,
        "celecoxib": -0.01,
        "ibuprofen": 0.21,
        "meloxicam": -0.34,
        "naproxen": 0.14,
        "topical_diclofenac": -0.66,
        "amitriptyline": -0.76,
        "nortriptyline": -1.16,
        "duloxetine": -1.24,
        "venlafaxine": -1.35,
        "pregabalin": -1.54,
        "gabapentin": -1.32,
        "carbamazepine": -1.61,
        "lidocaine_plaster": -1.65,
        "capsaicin_patch": -1.60,
        "physical_therapy": 0.00,
        "guided_icbt": -1.19,
        "unguided_icbt": -1.33,
        "mindfulness": -1.37,
        "vr_therapy": -1.26,
        "peer_support": -1.09,
        "cbt_face_to_face": -0.94,
        "act_face_to_face": -1.14,
        "multidisciplinary_programme": -1.09,
    }
)
# Every prescriber sometimes deviates at random: propensity = (1 - e) * softmax + e / K. With
# K = 28 options e = 0.07 keeps every propensity above 0.0025, so inverse-propensity estimators stay usable.
# ASSUMPTION.
POLICY_EXPLORATION: Final = 0.07

# -------------------------------------------------------------------------------------- potential outcomes

# Individual %-NRS-reduction at 12 weeks: Y_i(t) = mu_i + tau_t(x_i) + e_it, responder if Y >= 30.
# Placebo in chronic peripheral neuropathic pain trials: 38% reach >= 30% and 23% reach >= 50% (Duarte 2022)
# [V]. A normal distribution of % change through both points has mean 15.9 and SD 46.1 [D].
PLACEBO_P30: Final = 0.38
PLACEBO_P50: Final = 0.23
# Publication bias overstates neuropathic-pain drug effects by ~10% (Finnerup 2015) [V]: effects derived from
# NNTs are multiplied by 0.9 [D].
PUBLICATION_BIAS_SHRINK: Final = 0.9

# Natural course (usual care, no new treatment) mean % reduction for a neuropathic reference patient, tuned
# so the natural-course responder rate in neuropathic pain is ~0.30 (ASSUMPTION, anchored on the usual-care
# arm of Cherkin 2016: 26.6% with >= 30% less pain bothersomeness [V]).
NATURAL_COURSE_MEAN_PCT: Final = 13.9
# Non-specific (placebo) effect of a pill or a sham, tuned so that placebo in neuropathic pain reaches >= 30%
# relief in ~38% (Duarte 2022) [V]. Options whose effect sizes were measured against placebo or sham (drugs,
# VR) get it on top of their specific effect; options measured against passive control or usual care do not
# (their effect sizes already contain it). [D]
PLACEBO_NONSPECIFIC_PCT: Final = 9.0
# Placebo response rises with younger age and higher baseline pain (Clin Drug Investig, 71 trials) [V];
# higher CRP predicts non-recovery in LBP (Klyne 2018) [V]. Sizes: ASSUMPTION. Depression and catastrophizing
# as weak negative prognostic factors: ASSUMPTION (catastrophizing predicted pain in 2 of 11 studies, Wertli
# 2014 [V]).
NATURAL_COURSE_PAIN_TYPE_SHIFT: Final = (0.0, 0.0, -4.0, -2.0)
NATURAL_COURSE_PER_YEAR: Final = -0.15  # per year above 55
NATURAL_COURSE_PER_NRS: Final = 2.0  # per NRS point above 6.5
NATURAL_COURSE_PER_PHQ9: Final = -0.30  # per PHQ-9 point above 9
NATURAL_COURSE_PER_PCS: Final = -0.10  # per PCS point above 30
NATURAL_COURSE_HIGH_CRP: Final = -3.0  # hs-CRP > 3 mg/L
NATURAL_COURSE_PER_LOG_DURATION: Final = -2.0  # per unit of log(months / 37)
# Poor sleep predicts worse pain later: poor sleep quality is strongly associated with subsequent pain intensity in
# low back pain (Alsaadi 2014) [M]; sleep impairment reliably predicts new and worsening chronic pain (Finan 2013
# review) [M]. -0.5 points per point of (true) sleep efficiency below 85% (ASSUMPTION size). This is what the
# optical wearables' bias by skin tone (DARK_SKIN_*) acts through.
NATURAL_COURSE_PER_SLEEP_EFF_BELOW_85: Final = -0.5
# Noise (ASSUMPTION): a patient effect shared by every option (unrecorded prognosis), a small option-specific
# patient effect, and the within-patient outcome noise. Together with the prognostic spread the SD of the
# placebo %-change is ~33, below the 46 fitted through the published placebo rates: the cohort keeps the
# >= 30% placebo rate (0.38) but has fewer >= 50% placebo responders (~0.18 vs 0.23) so that individual
# response probabilities spread enough for feature-driven differences between options to matter.
PATIENT_EFFECT_SD_PCT: Final = 14.0
OPTION_PATIENT_EFFECT_SD_PCT: Final = 3.0
OUTCOME_NOISE_SD_PCT: Final = 30.0
# Patients who stop early for reasons other than an adverse event keep this share of the specific effect
# (partial exposure), on top of the natural course. ASSUMPTION.
PARTIAL_EXPOSURE_SHARE: Final = 0.2
# Specific effect never makes pain worse than the natural course: tau is floored at 0. ASSUMPTION.
EFFECT_FLOOR_PCT: Final = 0.0
# Conversion of standardized mean differences (SMD) to % points: SMD x 46 (the SD of % change above) [D].
SMD_TO_PCT: Final = 46.0


@dataclass(frozen=True)
class OptionSpec:
    """One option's specific effect, adverse events and dropout (modifiers live in outcomes.py).

    ``effect`` is either derived from an NNT for >= 50% relief (``nnt50``), from an SMD (``smd``) or given
    directly in % points (``effect_pct``), for the reference population ``reference`` (a pain type or a
    condition); the per-pain-type ``pain_type_factor`` (order PAIN_TYPES) scales it for patients whose condition
    is ``other``, and CONDITION_FACTORS for the named conditions (see :func:`condition_factor_table`).
    ``placebo_controlled``: the effect was measured against a placebo, vehicle or sham whose non-specific effect
    a patient also gets (pills, patches and gels: PLACEBO_NONSPECIFIC_PCT is added); options measured against
    usual care or a waiting list carry their non-specific effect inside their effect size (none is added).
    """

    option_id: str
    reference: str
    pain_type_factor: tuple[float, float, float, float]
    nnt50: float | None = None
    smd: float | None = None
    effect_pct: float | None = None
    effect_source: str = ""
    p_adverse_event: float = 0.0  # withdrawal-level adverse event attributable to the option
    adverse_event_source: str = ""
    p_dropout_other: float = 0.15  # stopping before 12 weeks for any other reason
    dropout_source: str = ""
    published: str = ""  # the published figure(s) the calibration used, for docs/cohort.md
    placebo_controlled: bool = True  # effect measured against placebo/sham (adds PLACEBO_NONSPECIFIC_PCT)
    evidence_shrink: float = 1.0  # extra shrink for old or low-tier evidence (on top of publication bias)


# Opioids in chronic non-cancer pain: -0.69 cm (-0.82 to -0.56) on a 10-cm VAS vs placebo, under the 1 cm MID; 11.9%
# (9.7-14.1%) more patients reach the MID (Busse 2018, 96 RCTs of which 25 in neuropathic pain) [V]; on a mean
# baseline of 6.5/10 that is a 10.6% reduction [D]. In neuropathic pain Finnerup 2015 found strong opioids NNT 4.3
# and tramadol 4.7 [V], while the Cochrane review calls the neuropathic trials small and equivocal (McNicol 2013) [M]
# and Busse's pooled figure includes them: the neuropathic effect is 0.7 of the NNT-derived one, between the two
# sources (ASSUMPTION). Tramadol and codeine take the same ratios as the strong opioids [D/ASSUMPTION].
_OPIOID_NOCICEPTIVE_RATIO = 0.40  # 10.6 / (0.9 x 29.7) [D]
_OPIOID_NEUROPATHIC_RATIO = 0.70  # between Busse 2018 (0.4) and Finnerup 2015 (1.0): ASSUMPTION
_OPIOID_PAIN_TYPES = (_OPIOID_NOCICEPTIVE_RATIO, _OPIOID_NEUROPATHIC_RATIO, 0.25, 0.55)

OPTION_SPECS: Final = MappingProxyType(
    {
        "codeine": OptionSpec(
            "codeine", "neuropathic", _OPIOID_PAIN_TYPES, nnt50=6.0,
            effect_source="ASSUMPTION: no codeine NNT in the sources; a weak opioid between SNRI and tramadol",
            p_adverse_event=0.08, adverse_event_source="ASSUMPTION (like tramadol, NNH 12.6)",
            p_dropout_other=0.15, dropout_source="ASSUMPTION",
            published="no published NNT (ASSUMPTION NNT 6.0); CPIC CYP2D6 PM/UM avoid",
        ),
        "tramadol": OptionSpec(
            "tramadol", "neuropathic", _OPIOID_PAIN_TYPES, nnt50=4.7,
            effect_source="Finnerup 2015 NNT 4.7 [V]; nociceptive: Busse 2018 [V/D]",
            p_adverse_event=0.079, adverse_event_source="NNH 12.6 (NICE/BJA Ed 2018) [V]",
            p_dropout_other=0.15, dropout_source="ASSUMPTION",
            published="NNT 4.7 (3.6-6.7), NNH 12.6 [V]",
        ),
        "oxycodone": OptionSpec(
            "oxycodone", "neuropathic", _OPIOID_PAIN_TYPES, nnt50=4.3,
            effect_source="Finnerup 2015 strong opioids NNT 4.3 [V]; nociceptive: Busse 2018 -0.69 cm [V/D]",
            p_adverse_event=0.085, adverse_event_source="NNH 11.7 [V]",
            p_dropout_other=0.15, dropout_source="ASSUMPTION",
            published="NNT 4.3 (3.4-5.8), NNH 11.7 [V]; CNCP -0.69 cm vs MID 1 cm [V]",
        ),
        "tapentadol": OptionSpec(
            "tapentadol", "neuropathic", _OPIOID_PAIN_TYPES, nnt50=4.3,
            effect_source="strong-opioid class NNT 4.3 (Finnerup 2015) [V]; tapentadol's own neuropathic trials "
            "inconclusive (Finnerup 2015) [M]: x0.85 (ASSUMPTION)",
            p_adverse_event=0.075, adverse_event_source="strong-opioid NNH 11.7 [V]; fewer GI withdrawals than "
            "oxycodone [M]: 0.075 ASSUMPTION",
            p_dropout_other=0.15, dropout_source="ASSUMPTION",
            published="strong opioids NNT 4.3 (3.4-5.8), NNH 11.7 [V]; tapentadol inconclusive [M]",
            evidence_shrink=0.85,
        ),
        "buprenorphine_transdermal": OptionSpec(
            "buprenorphine_transdermal", "neuropathic", _OPIOID_PAIN_TYPES, nnt50=4.3,
            effect_source="strong-opioid class NNT 4.3 [V]; too few neuropathic trials for a conclusion (Wiffen "
            "2015 Cochrane) [M]: x0.8 (ASSUMPTION); nociceptive: Busse 2018 [V/D]",
            p_adverse_event=0.07, adverse_event_source="strong-opioid NNH 11.7 [V]; with the age, sex and "
            "sedative excess (outcomes.py) the cohort's mean is about 0.10, application-site reactions included "
            "(ASSUMPTION)",
            p_dropout_other=0.15, dropout_source="ASSUMPTION",
            published="strong opioids NNT 4.3 [V]; buprenorphine insufficient evidence [M]",
            evidence_shrink=0.8,
        ),
        "celecoxib": OptionSpec(
            "celecoxib", "nociceptive", (1.0, 0.1, 0.1, 0.55), effect_pct=9.0,
            effect_source="ASSUMPTION under the MID (15%): between LBP -3.3/100 (Enthoven 2016) [V] and OA",
            p_adverse_event=0.04, adverse_event_source="ASSUMPTION (GI/CV/renal withdrawals)",
            published="LBP MD -3.3/100 [V] (x0.6); hip/knee OA ES ~0.35-0.57 [M] (x1.8)",
        ),
        "ibuprofen": OptionSpec(
            "ibuprofen", "nociceptive", (1.0, 0.1, 0.1, 0.55), effect_pct=9.0,
            effect_source="as celecoxib (ASSUMPTION)",
            p_adverse_event=0.045, adverse_event_source="ASSUMPTION",
            published="LBP MD -3.3/100 [V] (x0.6); hip/knee OA ES ~0.35-0.57 [M] (x1.8)",
        ),
        "meloxicam": OptionSpec(
            "meloxicam", "nociceptive", (1.0, 0.1, 0.1, 0.55), effect_pct=8.0,
            effect_source="as celecoxib, slightly lower (ASSUMPTION)",
            p_adverse_event=0.04, adverse_event_source="ASSUMPTION",
            published="LBP MD -3.3/100 [V] (x0.6); hip/knee OA ES ~0.35-0.57 [M] (x1.8)",
        ),
        "naproxen": OptionSpec(
            "naproxen", "nociceptive", (1.0, 0.1, 0.1, 0.55), effect_pct=9.0,
            effect_source="as the other oral NSAIDs (similar efficacy in OA/LBP [M]; ASSUMPTION)",
            p_adverse_event=0.045, adverse_event_source="ASSUMPTION (as ibuprofen)",
            published="LBP MD -3.3/100 [V] (x0.6); hip/knee OA ES ~0.35-0.57 [M] (x1.8)",
        ),
        "topical_diclofenac": OptionSpec(
            "topical_diclofenac", "knee_hip_osteoarthritis", (0.5, 0.05, 0.05, 0.5), nnt50=9.8,
            effect_source="knee/hand OA NNT ~10 for >= 50% relief at 8-12 weeks (Derry 2016 Cochrane, via "
            "summary) [V, secondary]; other localised musculoskeletal pain not studied: half (ASSUMPTION)",
            p_adverse_event=0.02, adverse_event_source="withdrawals like vehicle; skin reactions (Derry 2016) [M]; "
            "0.02 ASSUMPTION",
            published="NNT ~10 (knee/hand OA, 8-12 weeks) [V, secondary]",
        ),
        "amitriptyline": OptionSpec(
            "amitriptyline", "neuropathic", (0.25, 1.0, 0.75, 0.6), nnt50=3.6,
            effect_source="Finnerup 2015 TCA NNT 3.6 [V]; other pain types ASSUMPTION",
            p_adverse_event=0.035, adverse_event_source="NNH 13.4 [V] is the trial patients' average: the base is "
            "set so the cohort's mean (with the CYP2D6/CYP2C19 and age excess below) is about 0.10 (ASSUMPTION)",
            published="NNT 3.6 (3.0-4.4), NNH 13.4 [V]",
        ),
        "nortriptyline": OptionSpec(
            "nortriptyline", "neuropathic", (0.25, 1.0, 0.75, 0.6), nnt50=3.6,
            effect_source="tricyclic class NNT 3.6 (Finnerup 2015) [V]; other pain types as amitriptyline "
            "(ASSUMPTION)",
            p_adverse_event=0.03, adverse_event_source="tricyclic NNH 13.4 [V]; fewer anticholinergic effects "
            "than amitriptyline [M]; base set so the cohort's mean (with the CYP2D6 and age excess) is about 0.07 "
            "(ASSUMPTION)",
            published="TCA NNT 3.6 (3.0-4.4), NNH 13.4 [V]",
        ),
        "duloxetine": OptionSpec(
            "duloxetine", "neuropathic", (0.55, 1.0, 0.9, 0.75), nnt50=6.4,
            effect_source="Finnerup 2015 SNRI NNT 6.4 [V]; other pain types ASSUMPTION",
            p_adverse_event=0.085, adverse_event_source="NNH 11.8 [V]",
            published="NNT 6.4 (5.2-8.4), NNH 11.8 [V]",
        ),
        "venlafaxine": OptionSpec(
            "venlafaxine", "neuropathic", (0.3, 1.0, 0.5, 0.7), nnt50=6.4,
            effect_source="SNRI class NNT 6.4 (Finnerup 2015) [V]; no OA or fibromyalgia trials like "
            "duloxetine's, so lower factors there (ASSUMPTION)",
            p_adverse_event=0.085, adverse_event_source="SNRI NNH 11.8 [V]",
            published="SNRI NNT 6.4 (5.2-8.4), NNH 11.8 [V]",
        ),
        "pregabalin": OptionSpec(
            "pregabalin", "neuropathic", (0.15, 1.0, 0.7, 0.65), nnt50=7.7,
            effect_source="Finnerup 2015 NNT 7.7 [V]; other pain types ASSUMPTION",
            p_adverse_event=0.072, adverse_event_source="NNH 13.9 [V]",
            published="NNT 7.7 (6.5-9.4), NNH 13.9 [V]",
        ),
        "gabapentin": OptionSpec(
            "gabapentin", "neuropathic", (0.15, 1.0, 0.4, 0.65), nnt50=6.3,
            effect_source="Finnerup 2015 NNT 6.3 [V]; other pain types ASSUMPTION",
            p_adverse_event=0.039, adverse_event_source="NNH 25.6 [V]",
            published="NNT 6.3 (5.0-8.3), NNH 25.6 [V]",
        ),
        "carbamazepine": OptionSpec(
            "carbamazepine", "trigeminal_neuralgia", (0.0, 0.25, 0.0, 0.1), nnt50=2.6,
            effect_source="trigeminal neuralgia NNT 2.6 (2.2-3.3) (older pooled analysis) [V], x0.85 for "
            "low-tier, older evidence (Wiffen 2014; NNT drift, Finnerup 2018) [V direction; size ASSUMPTION]; "
            "elsewhere weak or absent (NeuPSIG 2015: inconclusive outside trigeminal neuralgia [M]; NICE CG173 "
            "first line only there): a quarter in other neuropathic pain, ASSUMPTION",
            p_adverse_event=0.10, adverse_event_source="NNH 3.4 [V] counts any AE (mostly minor); withdrawal-level "
            "a third of it (ASSUMPTION); hypersensitivity on top (outcomes.py)",
            published="TN NNT 2.6 (2.2-3.3), NNH 3.4 [V]; HLA-B*15:02 SJS/TEN OR 79.8 [V]",
            evidence_shrink=0.85,
        ),
        "lidocaine_plaster": OptionSpec(
            "lidocaine_plaster", "postherpetic_neuralgia", (0.0, 0.7, 0.0, 0.35), nnt50=14.0,
            effect_source="Finnerup 2015: inconclusive [V]; NNT 14 ASSUMPTION (a small effect in localised "
            "peripheral pain)",
            p_adverse_event=0.01, adverse_event_source="application-site reactions [M]; ASSUMPTION",
            published="inconclusive (Finnerup 2015) [V]; ASSUMPTION NNT 14",
        ),
        "capsaicin_patch": OptionSpec(
            "capsaicin_patch", "neuropathic", (0.0, 1.0, 0.0, 0.5), nnt50=10.6,
            effect_source="capsaicin 8% NNT 10.6 (7.4-18.8) (Finnerup 2015, BJA Education table) [V]",
            p_adverse_event=0.02, adverse_event_source="application pain, few withdrawals [M]; ASSUMPTION",
            p_dropout_other=0.05, dropout_source="one clinic application lasts 12 weeks; ASSUMPTION",
            published="NNT 10.6 (7.4-18.8) [V]",
        ),
        "physical_therapy": OptionSpec(
            "physical_therapy", "nociceptive", (1.0, 0.3, 0.5, 0.55), effect_pct=23.0,
            effect_source="exercise 15/100 better at 3 months (Hayden 2021) [V] on a 65/100 baseline = 23% [D]; "
            "other pain types ASSUMPTION",
            p_adverse_event=0.02, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.20, dropout_source="ASSUMPTION",
            published="pain 15/100 (12-18) vs no treatment [V]",
            placebo_controlled=False,
        ),
        "guided_icbt": OptionSpec(
            "guided_icbt", "nociceptive", (1.0, 0.9, 1.1, 1.0), smd=0.28,
            effect_source="guided iCBT physical ES 0.26-0.29 vs passive control (Internet Interventions 2022) [V]",
            p_adverse_event=0.01, adverse_event_source="adverse events minor [V]",
            p_dropout_other=0.28, dropout_source="app dropout 43% (Meyerowitz-Katz 2020) [V] less the +12 "
            "points completion with guidance (Musiat 2022) [V] -> 0.31; 0.28 ASSUMPTION",
            published="ES 0.26-0.29 (physical), 0.34-0.47 (psychological) [V]; CBT SMD 0.21 [V]",
            placebo_controlled=False,
        ),
        "unguided_icbt": OptionSpec(
            "unguided_icbt", "nociceptive", (1.0, 0.9, 1.1, 1.0), smd=0.22,
            effect_source="computer-based vs passive SMD 0.18-0.41 (Vugts 2018) [V]; 0.22 ASSUMPTION",
            p_adverse_event=0.01, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.40, dropout_source="guided + 12 points (Musiat 2022) [V]; app dropout 43% [V]",
            published="SMD 0.18-0.41 vs passive [V]; completion 12 points lower than guided [V]",
            placebo_controlled=False,
        ),
        "mindfulness": OptionSpec(
            "mindfulness", "nociceptive", (1.0, 0.9, 1.1, 1.0), smd=0.32,
            effect_source="small effect, low-quality evidence (Hilton 2017) [V], SMD ~0.32 [M]",
            p_adverse_event=0.01, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.22, dropout_source="53.7% attended >= 6 of 8 sessions (Cherkin 2016) [V]; "
            "stopping before 12 weeks 0.22 ASSUMPTION",
            published="SMD ~0.32 [M]; Cherkin 2016 MBSR 43.6% vs usual care 26.6% [V]",
            placebo_controlled=False,
        ),
        "vr_therapy": OptionSpec(
            "vr_therapy", "nociceptive", (1.0, 0.9, 1.0, 1.0), smd=0.20,
            effect_source="EaseVRx superior to sham (Garcia 2021) [V]; size ASSUMPTION (small); the sham headset's "
            "own non-specific effect is not known, so no pill-placebo effect is added (ASSUMPTION)",
            p_adverse_event=0.03, adverse_event_source="nausea 9.7% vs 6.7% sham (Garcia 2021) [V] = 3% excess [D]",
            p_dropout_other=0.18, dropout_source="ASSUMPTION",
            published="superior to sham; nausea 9.7% vs 6.7% [V]",
            placebo_controlled=False,
        ),
        "peer_support": OptionSpec(
            "peer_support", "nociceptive", (1.0, 1.0, 1.0, 1.0), smd=0.20,
            effect_source="pilot PEG d = -0.25, PROMIS-PI d = -0.35 (Matthias 2015) [V]; 0.20 ASSUMPTION",
            p_adverse_event=0.0, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.25, dropout_source="ASSUMPTION",
            published="PEG d -0.25, self-efficacy d 0.60 (pilot) [V]",
            placebo_controlled=False,
        ),
        "cbt_face_to_face": OptionSpec(
            "cbt_face_to_face", "nociceptive", (1.0, 0.9, 1.1, 1.0), smd=0.33,
            effect_source="CBT 44.9% vs usual care 26.6% with >= 30% less pain bothersomeness (Cherkin 2016) [V] "
            "-> about 16 points on the cohort's spread [D]; pain SMD 0.21 post-treatment (Williams 2012) [V]; "
            "SMD 0.33 between them (ASSUMPTION)",
            p_adverse_event=0.0, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.25, dropout_source="53.7% attended >= 6 of 8 sessions (Cherkin 2016) [V]; stopping "
            "before 12 weeks 0.25 ASSUMPTION",
            published="Cherkin 2016 CBT 44.9% vs usual care 26.6% [V]; pain SMD 0.21 [V]",
            placebo_controlled=False,
        ),
        "act_face_to_face": OptionSpec(
            "act_face_to_face", "nociceptive", (1.0, 0.9, 1.1, 1.0), smd=0.25,
            effect_source="ACT SMD 0.3-0.5 on interference (meta-analyses 2017-2021) [M]; pain intensity "
            "smaller: 0.25 ASSUMPTION",
            p_adverse_event=0.0, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.25, dropout_source="ASSUMPTION (as face-to-face CBT)",
            published="ACT SMD 0.3-0.5 on interference [M]",
            placebo_controlled=False,
        ),
        "multidisciplinary_programme": OptionSpec(
            "multidisciplinary_programme", "nociceptive", (1.0, 0.7, 1.1, 0.9), smd=0.40,
            effect_source="multidisciplinary biopsychosocial rehabilitation vs usual care, pain SMD 0.2-0.5 "
            "(Kamper 2015 Cochrane) [M]; 0.40 ASSUMPTION within it",
            p_adverse_event=0.01, adverse_event_source="ASSUMPTION",
            p_dropout_other=0.20, dropout_source="ASSUMPTION",
            published="SMD 0.2-0.5 vs usual care (Kamper 2015) [M]",
            placebo_controlled=False,
        ),
    }
)  # fmt: skip

# ---- condition-specific effects

# Factor on each option's effect by pain condition (PAIN_CONDITIONS). A condition not listed for an option takes the
# option's pain-type factor of the condition's usual pain type (neuropathic conditions: neuropathic; low back pain
# and osteoarthritis: nociceptive; fibromyalgia: nociplastic); ``other`` always takes the patient's pain type. A
# mixed pain type keeps a neuropathic or nociceptive component: the factor is at least MIXED_COMPONENT_SHARE of the
# option's factor for the other component. Sources (ASSUMPTION where none is given):
# - carbamazepine is strong in trigeminal neuralgia only (NNT 2.6 [V]; NICE CG173, NeuPSIG 2015 [M]);
# - opioids: the neuropathic NNTs come from diabetic neuropathy and postherpetic neuralgia trials (Finnerup 2015)
#   [V]; chronic non-cancer pain (low back pain, osteoarthritis) -0.69 cm, under the MID (Busse 2018) [V] (the
#   nociceptive ratio 0.4); in back pain no better than non-opioid drugs over 12 months (SPACE trial, Krebs 2018
#   JAMA) [M] and NSAIDs give about half of Busse's figure there (Enthoven 2016) [V] (0.3); NICE NG59: do not offer opioids for chronic sciatica [M] (0.2); not used for trigeminal
#   neuralgia (EAN 2019 [M]: 0.2); fibromyalgia: strong opioids strong against (no benefit shown), tramadol weak
#   for (EULAR 2016) [V] (0.25 / 0.5);
# - oral NSAIDs: low back pain -3.3/100 (Enthoven 2016) [V] = 5% of a 65 baseline -> 0.6 of 9 points; hip/knee
#   osteoarthritis clinically relevant, ES about 0.35-0.57 (da Costa 2017) [V direction, sizes M] -> 16 points
#   (1.8); sciatica no clear benefit (Rasmussen-Barr 2016 Cochrane) [M] (0.2); fibromyalgia none (EULAR weak
#   against) [V] (0);
# - topical diclofenac: knee and hand osteoarthritis only (Derry 2016) [V, secondary]; about 2/3 of knee/hip
#   patients have knee OA (ASSUMPTION) -> 0.7; not for back pain or fibromyalgia;
# - gabapentinoids: no benefit in sciatica (pregabalin, Mathieson 2017 NEJM) or low back pain (Enke 2018 CMAJ) [M]
#   (0.1); tricyclics in sciatica: in the one placebo-controlled trial nortriptyline's leg pain was 14% lower than
#   on placebo (95% CI -2% to 30%), not significant, in the 28 of 61 patients who completed (Khoromi 2007, Pain
#   130:66) [V]: about 10 points on a placebo phase three quarters of baseline [D] = 0.3 of the neuropathic effect
#   (0.3); SNRIs in sciatica 0.3 (ASSUMPTION; duloxetine has a positive crossover trial in back pain with a
#   neuropathic component, Schukro 2016 [M]); duloxetine has no postherpetic trials (0.7); neuropathic drugs help trigeminal neuralgia little (0.2);
#   antidepressants show no clear benefit in low back pain (Urquhart 2008 Cochrane) [M] and NICE NG59 advises
#   against them [M] (tricyclics 0.15; duloxetine keeps its nociceptive factor, second line in ACP 2017 [M]);
#   fibromyalgia: amitriptyline's trials are old, small and very low quality (Moore 2015 Cochrane: NNT 4.1, 2.9-6.7,
#   from 4 studies and 275 participants, "very low" GRADE, likely an overestimate) [V]; a network meta-analysis of 10
#   trials found pain SMD -0.27 (-0.32 to -0.21), about a 13% decrease (Farag 2022, JAMA Netw Open 5:e2212939, via
#   the Finnish Current Care summary) [V, secondary] = 12.4 points = 0.39 of the neuropathic effect [D] (0.4);
#   nortriptyline has no fibromyalgia trials at all, so half of amitriptyline's (ASSUMPTION: conservative
#   extrapolation within the class, 0.2); duloxetine 60 mg NNT 8 (5-17) for >= 50% relief at 12 weeks (Lunn 2014
#   Cochrane, via the EBMG summary) [V, secondary] = 0.82 of the SNRI effect [D] (0.8); pregabalin NNT about 14
#   (Derry 2016 Cochrane) [M] = 0.58 [D] (0.6);
# - exercise: low back pain 15/100 (Hayden 2021) [V]; knee OA SMD 0.49 (Fransen 2015 Cochrane) [M] ~ the same
#   (1.0); fibromyalgia strong for (EULAR 2016) [V], size ASSUMPTION (0.8); sciatica: NICE NG59 advises exercise
#   [M] (0.9 ASSUMPTION);
# - lidocaine plaster: postherpetic neuralgia trials (Derry 2014 Cochrane) [M]; capsaicin 8%: postherpetic
#   neuralgia, HIV and diabetic neuropathy trials (Finnerup 2015) [V]; neither for trigeminal neuralgia or sciatica.
_OPIOID_CONDITIONS = {"trigeminal_neuralgia": 0.2, "lumbar_radiculopathy": 0.2, "chronic_low_back_pain": 0.3}
_NSAID_CONDITIONS = {
    "knee_hip_osteoarthritis": 1.8,
    "chronic_low_back_pain": 0.6,
    "fibromyalgia": 0.0,
    "lumbar_radiculopathy": 0.2,
}
_GABAPENTINOID_CONDITIONS = {
    "trigeminal_neuralgia": 0.2,
    "lumbar_radiculopathy": 0.1,
    "chronic_low_back_pain": 0.1,
}
_TRICYCLIC_CONDITIONS = {
    "trigeminal_neuralgia": 0.2,
    "lumbar_radiculopathy": 0.3,
    "chronic_low_back_pain": 0.15,
}
_PSYCHOLOGICAL_CONDITIONS = {"trigeminal_neuralgia": 0.3}
CONDITION_FACTORS: Final = MappingProxyType(
    {
        "codeine": MappingProxyType({**_OPIOID_CONDITIONS, "fibromyalgia": 0.25}),
        "tramadol": MappingProxyType({**_OPIOID_CONDITIONS, "fibromyalgia": 0.5}),
        "oxycodone": MappingProxyType({**_OPIOID_CONDITIONS, "fibromyalgia": 0.25}),
        "tapentadol": MappingProxyType({**_OPIOID_CONDITIONS, "fibromyalgia": 0.25}),
        "buprenorphine_transdermal": MappingProxyType({**_OPIOID_CONDITIONS, "fibromyalgia": 0.25}),
        "celecoxib": MappingProxyType(_NSAID_CONDITIONS),
        "ibuprofen": MappingProxyType(_NSAID_CONDITIONS),
        "meloxicam": MappingProxyType(_NSAID_CONDITIONS),
        "naproxen": MappingProxyType(_NSAID_CONDITIONS),
        "topical_diclofenac": MappingProxyType({"knee_hip_osteoarthritis": 0.7, "chronic_low_back_pain": 0.0,
                                                "fibromyalgia": 0.0, "lumbar_radiculopathy": 0.0}),
        "amitriptyline": MappingProxyType({**_TRICYCLIC_CONDITIONS, "fibromyalgia": 0.4}),
        "nortriptyline": MappingProxyType({**_TRICYCLIC_CONDITIONS, "fibromyalgia": 0.2}),
        "duloxetine": MappingProxyType({"postherpetic_neuralgia": 0.7, "trigeminal_neuralgia": 0.2,
                                        "lumbar_radiculopathy": 0.3, "fibromyalgia": 0.8}),
        "venlafaxine": MappingProxyType({"postherpetic_neuralgia": 0.7, "trigeminal_neuralgia": 0.2,
                                         "lumbar_radiculopathy": 0.3}),
        "pregabalin": MappingProxyType({**_GABAPENTINOID_CONDITIONS, "fibromyalgia": 0.6}),
        "gabapentin": MappingProxyType(_GABAPENTINOID_CONDITIONS),
        "carbamazepine": MappingProxyType({"trigeminal_neuralgia": 1.0, "lumbar_radiculopathy": 0.1}),
        "lidocaine_plaster": MappingProxyType({"postherpetic_neuralgia": 1.0, "painful_diabetic_neuropathy": 0.5,
                                               "trigeminal_neuralgia": 0.0, "lumbar_radiculopathy": 0.0}),
        "capsaicin_patch": MappingProxyType({"trigeminal_neuralgia": 0.0, "lumbar_radiculopathy": 0.2}),
        "physical_therapy": MappingProxyType({"knee_hip_osteoarthritis": 1.0, "chronic_low_back_pain": 1.0,
                                              "fibromyalgia": 0.8, "lumbar_radiculopathy": 0.9,
                                              "trigeminal_neuralgia": 0.0}),
        "guided_icbt": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "unguided_icbt": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "mindfulness": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "vr_therapy": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "peer_support": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "cbt_face_to_face": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "act_face_to_face": MappingProxyType(_PSYCHOLOGICAL_CONDITIONS),
        "multidisciplinary_programme": MappingProxyType({**_PSYCHOLOGICAL_CONDITIONS, "lumbar_radiculopathy": 0.8,
                                                         "chronic_low_back_pain": 1.0, "fibromyalgia": 1.0}),
    }
)  # fmt: skip
# The pain type whose factor a condition takes when CONDITION_FACTORS does not list it (``other``: the patient's).
CONDITION_PAIN_TYPE: Final = MappingProxyType(
    {
        "painful_diabetic_neuropathy": "neuropathic", "postherpetic_neuralgia": "neuropathic",
        "trigeminal_neuralgia": "neuropathic", "lumbar_radiculopathy": "neuropathic",
        "chronic_low_back_pain": "nociceptive", "knee_hip_osteoarthritis": "nociceptive",
        "fibromyalgia": "nociplastic", "other_neuropathic": "neuropathic",
    }
)  # fmt: skip
# The condition whose factors a patient with the condition ``other`` takes, by pain type, where one condition stands
# for the pain type's evidence: nociplastic pain takes fibromyalgia's, the best-studied nociplastic condition, whose
# trials the nociplastic guideline tables rest on (EULAR 2016; NICE NG193 [V]). Without it an `other` patient with
# nociplastic pain got larger tricyclic and smaller exercise effects than a patient with fibromyalgia, which no
# source supports. Other pain types keep their own factors. [D]
PAIN_TYPE_REFERENCE_CONDITION: Final = MappingProxyType({"nociplastic": "fibromyalgia"})
# Mixed pain: the factor is at least this share of the option's factor for the other component (neuropathic for
# a nociceptive or nociplastic condition, nociceptive for a neuropathic one). ASSUMPTION.
MIXED_COMPONENT_SHARE: Final = 0.5

# ---- heterogeneity by sex and ancestry (documented; sizes ASSUMPTION where marked)

# Sex: patient-controlled analgesia studies found more opioid analgesia in women (effect size 0.22, 95% CI
# 0.02-0.42; morphine 0.36), but across all 25 clinical mu-opioid studies no significant difference (Niesters 2010,
# Pain 151:61) [V]. Women gain 3 points more from every opioid here (SMD 0.065, under a third of the PCA effect size:
# ASSUMPTION for chronic use). Women report more opioid nausea and vomiting [M] (Cepeda 2003 found more respiratory depression
# with age [V]): +0.02 withdrawal-level adverse events (ASSUMPTION).
OPIOID_FEMALE_GAIN_PCT: Final = 3.0
OPIOID_AE_FEMALE: Final = 0.02
# Ancestry: the OPRM1 118G loss is larger in Asian than in European patients: cancer pain SMD -0.42 in Asians,
# -0.15 in Caucasians, -0.30 overall (Yu 2019 Clin J Pain) [V]; postoperative -0.21 Asians vs -0.18 overall (Hwang
# 2014) [V]. The loss below is scaled by 0.42/0.30 = 1.4 in the Asian groups and 0.15/0.30 = 0.5 in Europeans [D];
# other groups keep 1 (ASSUMPTION: not studied).
OPRM1_LOSS_ANCESTRY_FACTOR: Final = MappingProxyType(
    {
        "european": 0.5,
        "african_american_afro_caribbean": 1.0,
        "latino": 1.0,
        "east_asian": 1.4,
        "central_south_asian": 1.4,
        "near_eastern": 1.0,
        "american": 1.0,
        "sub_saharan_african": 1.0,
        "oceanian": 1.0,
    }
)

# ---- effect modifiers (outcomes.py), in % points unless stated

# CYP2D6 and the prodrug opioids. PM -> codeine/tramadol avoid, diminished analgesia; UM -> avoid, toxicity
# (CPIC, Crews 2021) [V]; PMs have ~40% lower tramadol M1 (FDA label) [V]. Share of the opioid effect kept:
# codeine PM 0 (no morphine formed), tramadol PM 0.15 (parent drug's monoaminergic action); IM interpolates
# with the activity score; UM keeps the full effect plus 10%. Sizes: ASSUMPTION.
CODEINE_EFFECT_SHARE_PM: Final = 0.0
TRAMADOL_EFFECT_SHARE_PM: Final = 0.15
CODEINE_IM_SHARE_INTERCEPT: Final = 0.30  # share = intercept + slope * activity score for 0 < AS < 1.25
CODEINE_IM_SHARE_SLOPE: Final = 0.40
TRAMADOL_IM_SHARE_INTERCEPT: Final = 0.40
TRAMADOL_IM_SHARE_SLOPE: Final = 0.35
UM_EFFECT_SHARE: Final = 1.10
# The published NNTs are averages over trial patients of every CYP2D6 phenotype (and their medicines), so the
# normal metabolizer's effect is the NNT-derived one divided by the mean share over the cohort's CYP2D6 function
# (genotypes and inhibitors): the cohort's average effect equals the published one [D, measured on 100,000 patients].
PRODRUG_MEAN_SHARE: Final = MappingProxyType({"codeine": 0.80, "tramadol": 0.83})
# UM toxicity (withdrawal-level adverse event, added to the option's base risk). ASSUMPTION.
CODEINE_UM_ADVERSE_EVENT: Final = 0.35
TRAMADOL_UM_ADVERSE_EVENT: Final = 0.22
# OPRM1 118G carriers need more opioid: SMD -0.18 (Hwang 2014) [V], cancer pain -0.30 [V]. Loss of 6 points
# (A/G, SMD 0.13 on the 46-point SD) and 10 (G/G, SMD 0.22) [D from the SMD ~0.2 suggestion].
OPRM1_LOSS_PER_G_ALLELE: Final = (0.0, 6.0, 10.0)  # A/A, A/G, G/G. ASSUMPTION (G/G less than additive)
# Patients already on an opioid gain less from adding one. ASSUMPTION.
OPIOID_TOLERANT_LOSS: Final = 6.0
# Opioid harms rise with age: respiratory depression 2.8 times as common at 61-70 as at 16-45 years (Cepeda 2003)
# [V]; Beers 2023 advises avoiding opioids after falls [M]. +0.006 per year over 65 (ASSUMPTION size).
OPIOID_AE_PER_YEAR_OVER_65: Final = 0.006

# CYP2C9 and CYP2C9-cleared NSAIDs: PM -> 25-50% of the lowest dose (celecoxib, ibuprofen) or an alternative
# (meloxicam); IM with AS 1 -> lowest dose (meloxicam 50%) (Theken 2020) [V]. Extra withdrawal-level adverse
# event risk (GI bleeding, CV, renal) by activity score: ASSUMPTION.
NSAID_ADVERSE_EVENT_BY_CYP2C9: Final = MappingProxyType(
    {
        # activity score: (celecoxib/ibuprofen extra, meloxicam extra)
        0.0: (0.14, 0.22),
        0.5: (0.12, 0.20),
        1.0: (0.05, 0.09),
        1.5: (0.015, 0.025),
        2.0: (0.0, 0.0),
    }
)
NSAID_AE_PER_YEAR_OVER_50: Final = 0.002  # ASSUMPTION (NSAID risk grows with age)
NSAID_AE_DIABETES: Final = 0.02  # ASSUMPTION (renal)

# Amitriptyline at low pain doses: no dose adjustment, but PM/IM have more side effects and UM more treatment
# failure (CPIC 2016 via UF Health note) [V]. Sizes: ASSUMPTION.
AMITRIPTYLINE_UM_EFFECT_SHARE: Final = 0.55  # CYP2D6 UM or CYP2C19 UM
AMITRIPTYLINE_PM_ADVERSE_EVENT: Final = 0.12  # CYP2D6 PM or CYP2C19 PM
AMITRIPTYLINE_IM_ADVERSE_EVENT: Final = 0.04  # CYP2D6 IM or CYP2C19 IM/likely IM
# Anticholinergic burden in older adults (Beers 2023 lists both [M]); nortriptyline has fewer anticholinergic
# effects [M], so half the slope. Sizes: ASSUMPTION.
TRICYCLIC_AE_PER_YEAR_OVER_60: Final = MappingProxyType({"amitriptyline": 0.006, "nortriptyline": 0.003})
# Venlafaxine in CYP2D6 poor metabolizers: "CYP2D6 PM genotype has been associated with adverse effects"; CPIC 2023
# suggests an alternative (optional) [V, features/pgx/recommendations.tsv]. Size: ASSUMPTION.
VENLAFAXINE_PM_ADVERSE_EVENT: Final = 0.04
# Topical diclofenac: systemic exposure is a small fraction of an oral dose (label, about 6% [M]), so the kidney,
# GI-bleeding and anticoagulant risks of oral NSAIDs act at a tenth of their size. ASSUMPTION.
TOPICAL_NSAID_SYSTEMIC_SHARE: Final = 0.1

# Carbamazepine hypersensitivity (withdrawal-level): SJS/TEN base risk 0.3% (ASSUMPTION) with OR 79.8 for
# HLA-B*15:02 (Tangamornsuksan 2013) [V]; DRESS/rash base 2% (within "up to 10%" hypersensitivity [V]) with
# OR 13 for HLA-A*31:01 (ASSUMPTION). Use for > 3 months without a reaction removes the genetic excess
# (CPIC: may cautiously continue) [V].
CARBAMAZEPINE_SJS_BASE: Final = 0.003
CARBAMAZEPINE_SJS_OR_B1502: Final = 79.8
CARBAMAZEPINE_DRESS_BASE: Final = 0.02
CARBAMAZEPINE_DRESS_OR_A3101: Final = 13.0

# Phenoconversion in the truth: the CYP2D6 activity of the mechanisms above is multiplied by the factor of the
# strongest CYP2D6 inhibitor taken (strength from features/medications.yaml, after FDA's table) and reclassified
# with the CPIC ranges, so a strong inhibitor makes codeine and tramadol work as in a poor metabolizer. "A strong
# inhibitor drives the effective activity to zero, a moderate inhibitor roughly halves it" (gene2rx.com summary)
# [V]; composite activity score, Borges 2010 [V]. The same factors as the safety rules' method.
CYP2D6_INHIBITOR_ACTIVITY_FACTOR: Final = MappingProxyType(
    {"strong": 0.0, "moderate": 0.5, "weak": 1.0, "none": 1.0}
)
# NSAIDs and the kidney, the gut and bleeding (withdrawal-level adverse events added to the option's base risk).
# Directions: NSAIDs may cause acute kidney injury, avoid at CrCl < 30 (AGS Beers 2023) [V]; a prior complicated
# ulcer raises NSAID upper-GI complications about 4-5 fold (Lanza 2009, ACG guideline) [M]; anticoagulants with
# NSAIDs raise bleeding [M]. Sizes: ASSUMPTION.
NSAID_AE_EGFR_BELOW_30: Final = 0.15
NSAID_AE_EGFR_30_TO_60: Final = 0.04
NSAID_AE_GI_BLEED: Final = 0.08
NSAID_AE_ANTICOAGULANT: Final = 0.05
NSAID_AE_CVD: Final = 0.02
# Opioids with benzodiazepines (FDA 2016 boxed warning) [V direction] or gabapentinoids (FDA 2019 warning) [V
# direction]: sedation and respiratory depression. Sizes: ASSUMPTION.
OPIOID_AE_BENZODIAZEPINE: Final = 0.06
OPIOID_AE_GABAPENTINOID: Final = 0.04
GABAPENTINOID_AE_WITH_OPIOID: Final = 0.03  # the same warning, the gabapentinoid started. ASSUMPTION
# Gabapentinoids are renally cleared; labels reduce the dose below CrCl 60 [M]: more adverse events at the usual
# dose. ASSUMPTION.
GABAPENTINOID_AE_EGFR_BELOW_60: Final = 0.03
# Serotonin syndrome: tramadol, duloxetine and amitriptyline with an MAO inhibitor (contraindicated in their
# labels) [M]. ASSUMPTION (a large withdrawal-level risk).
MAOI_SEROTONERGIC_AE: Final = 0.30

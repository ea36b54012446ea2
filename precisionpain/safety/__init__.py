"""Medication safety: contraindications, interactions, organ function, pregnancy, age, suicide risk, HLA
screening, phenoconversion and CPIC guidance, as data (features/medications.yaml, models/safety_rules.yaml) read
by one small engine.

The API (frozen; the ranking, the report, the service and the CLI use only this):

- ``load_safety_catalogs(root)`` -> :class:`SafetyCatalogs`: the catalogs of one root, rules compiled into a plan.
- ``apply_safety_rules(profile, catalogs, option_ids=None)`` -> :class:`SafetyAssessment`: per option a verdict
  (usable | warning | excluded) with every reason (rule id, level, text, sources, patient facts), most severe
  first; the functional phenotypes and the Pgx section to look CPIC guidance up with; data warnings for
  unknowns that matter.
- ``alternatives_available(option_id, assessment)``: whether another drug option of the catalog is usable.
- ``medication_violations(medications, catalog)`` / ``resolve_medications``: the medication list against the
  catalog (unknown name, unknown RxCUI, name/RxCUI mismatch), for profile validation.
- ``VERDICT_BY_LEVEL``: the one table from rule level to verdict.

Importing this package reads no file.
"""

from __future__ import annotations

from precisionpain.safety.assessment import (
    OptionSafety,
    SafetyAssessment,
    SafetyDataWarning,
    alternatives_available,
)
from precisionpain.safety.engine import (
    SafetyCatalogs,
    apply_safety_rules,
    compile_safety_catalogs,
    load_safety_catalogs,
    medication_violations,
    resolve_medications,
)
from precisionpain.safety.verdicts import VERDICT_BY_LEVEL, Verdict, verdict_for
from precisionpain.schema import SafetyReason, SourceRef

__all__ = [
    "VERDICT_BY_LEVEL",
    "OptionSafety",
    "SafetyAssessment",
    "SafetyCatalogs",
    "SafetyDataWarning",
    "SafetyReason",
    "SourceRef",
    "Verdict",
    "alternatives_available",
    "apply_safety_rules",
    "compile_safety_catalogs",
    "load_safety_catalogs",
    "medication_violations",
    "resolve_medications",
    "verdict_for",
]

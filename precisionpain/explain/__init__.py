"""Explanations: exact TreeSHAP over option boosters, per-option explanations and the clinician report."""

"""explain_options: SHAP contributions of every option's model -> clinician-facing OptionExplanations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.explain import display
from precisionpain.schema import Contribution, OptionExplanation, Outcome

DEFAULT_TOP_K = 8
#: contributions a harm outcome's explanation lists (fewer when the request asks for fewer): with 28 options the
#: harms' explanations would otherwise double an answer's size; the rest is summed, so each stays exact
HARM_TOP_K = 3


def harm_top_k(top_k: int) -> int:
    return min(int(top_k), HARM_TOP_K)


@lru_cache(maxsize=65536)
def _display(catalog: FeatureCatalog, index: int, value: float | None) -> str:
    return display.feature_value(catalog.features[index], value)


@dataclass(frozen=True)
class _FeatureTable:
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    domains: tuple[str, ...]
    units: tuple[str, ...]
    domain_names: tuple[str, ...]
    domain_matrix: np.ndarray  # (domains, features) 0/1


@lru_cache(maxsize=16)
def _table(catalog: FeatureCatalog) -> _FeatureTable:
    domains = tuple(f.domain.value for f in catalog.features)
    names = tuple(dict.fromkeys(domains))
    matrix = np.array([[1.0 if d == name else 0.0 for d in domains] for name in names])
    return _FeatureTable(
        ids=tuple(f.id for f in catalog.features),
        labels=tuple(f.label for f in catalog.features),
        domains=domains,
        units=tuple(f.unit for f in catalog.features),
        domain_names=names,
        domain_matrix=matrix,
    )


def explain_options(
    option_ids: Sequence[str],
    values: np.ndarray,
    contributions: np.ndarray,
    base_values: np.ndarray,
    margins: np.ndarray,
    catalog: FeatureCatalog,
    top_k: int = DEFAULT_TOP_K,
    *,
    outcome: str = "response",
) -> tuple[OptionExplanation, ...]:
    """One patient: ``values`` (p,), ``contributions`` (k, p), ``base_values`` and ``margins`` (k,) of one
    outcome's models (the response by default).

    Each explanation lists the ``top_k`` contributions by absolute size (log-odds), the sum of the rest, and
    totals per domain; ``base_value + sum(all contributions) == margin``.
    """
    t = _table(catalog)
    top_k = max(0, min(int(top_k), len(t.ids)))
    c_all = np.asarray(contributions, dtype=np.float64)
    order_all = np.argsort(-np.abs(c_all), axis=1, kind="stable")
    totals = c_all @ t.domain_matrix.T  # (k, domains)
    given = [None if math.isnan(x) else float(x) for x in np.asarray(values, dtype=np.float64)]
    which = Outcome(outcome)
    out = []
    for j, option_id in enumerate(option_ids):
        c = c_all[j]
        order = order_all[j]
        top = order[:top_k].tolist()
        # Internal, already-typed values: construct without re-validation (hot path).
        items = tuple(
            Contribution.model_construct(
                feature_id=t.ids[i],
                label=t.labels[i],
                domain=t.domains[i],
                value=given[i],
                unit=t.units[i],
                display_value=_display(catalog, i, given[i]),
                shap_value=float(c[i]),
            )
            for i in top
        )
        out.append(
            OptionExplanation.model_construct(
                option_id=option_id,
                outcome=which,
                space="log_odds",
                base_value=float(base_values[j]),
                margin=float(margins[j]),
                contributions=items,
                other_contributions=float(c[order[top_k:]].sum()),
                domain_totals=dict(zip(t.domain_names, totals[j].tolist(), strict=True)),
            )
        )
    return tuple(out)

"""Benefit against harm: the net benefit of each option, the order of the options (guideline tier, then net benefit)
and the options that cannot be told apart from the best.

**Net benefit** (a probability scale, per option and patient)::

    net benefit = P(response) - w_ae * P(adverse event) - w_dropout * P(dropout)

The response is intention to treat: a patient who stops early (for an adverse event or any other reason) counts as
not responding, so dropout already costs its share of response. ``w_ae`` adds the cost of the adverse event
itself; ``w_dropout`` (0 by default) a cost of stopping for any reason beyond the response lost. The model spec
sets the weights with their rationale (``ranking`` in models/response_model.yaml); a request may set its own within
the spec's bounds (shared decision-making: a patient who weighs side effects more).

**Uncertainty.** The model's replicate boosters (the cross-fitted fold models of the jackknife, or bootstrap
boosters) give replicate probabilities of every outcome, hence replicate net benefits. The standard error of an
option's net benefit, and of the difference between two options' net benefits (paired: the same replicates), is
the jackknife's ``sqrt((r-1)/r * sum (x_r - mean)^2)`` (bootstrap: the replicates' standard deviation), with the
critical value of Student's t on r-1 degrees of freedom (bootstrap: normal) at ``confidence``, one-sided.

**The order** (``policy``):

- ``tier_then_net_benefit`` (default): guideline tier first (first line, second line, third line, not addressed,
  recommended against); within a tier, the options' average net benefit for the training patients with the same
  recorded condition (or pain type; the package's ``table_means``; this patient's own estimates for a model
  without them). From that order, an option moves above another, of its own tier or a better one, only where its
  net benefit for this patient is significantly higher (the one-sided lower bound of the paired difference is
  above 0): taken in that order, each option is placed above the options before it that it significantly beats,
  counted from the bottom, and below the first one it does not. So differences the model cannot tell from noise
  never reorder the guideline's and the condition's order; clear ones do;
- ``net_benefit_only``: this patient's net benefit alone.

**Groups.** Consecutive options in that order that cannot be told apart: an option joins the group of the option
before it when the group's first option's advantage over it is not significant (and, under the tier policy, when
it has the same tier as that first option); otherwise it opens the next group. Group 1 is "equally good choices
for this patient" when it holds more than one option.

**Probability of being best**: the share of draws from the replicates' joint distribution (a multivariate t with
the replicates' covariance, r-1 degrees of freedom, 1,000 fixed draws; bootstrap: normal) in which the option has
the highest net benefit of the ranked options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import Field, model_validator

from precisionpain.base import FrozenModel
from precisionpain.errors import Violation, kind_of
from precisionpain.schema import GuidelineTier, RankingPolicy

#: the order tiers are ranked in under ``tier_then_net_benefit`` (an option without a position counts as
#: not addressed)
TIER_ORDER: Mapping[GuidelineTier | None, int] = {
    GuidelineTier.first_line: 0,
    GuidelineTier.second_line: 1,
    GuidelineTier.third_line: 2,
    GuidelineTier.not_addressed: 3,
    None: 3,
    GuidelineTier.recommended_against: 4,
}
N_DRAWS = 1000  # draws for the probability of being best
DRAW_SEED = 20240613


POLICY_RULES: Mapping[RankingPolicy, str] = {
    RankingPolicy.tier_then_net_benefit: (
        "Guideline tier first (first line, second line, third line, not addressed, recommended against); within a "
        "tier, the average net benefit of patients with the same condition; an option moves above another (of its "
        "own tier or a better one) only where its net benefit for this patient is significantly higher "
        "({confidence:.0%} one-sided)."
    ),
    RankingPolicy.net_benefit_only: "This patient's net benefit alone, highest first.",
}


class UtilityWeights(FrozenModel):
    """The weights of the harms in the net benefit (see the module doc)."""

    adverse_event: float = Field(default=0.5, ge=0.0)
    dropout: float = Field(default=0.0, ge=0.0)


class RankingSettings(FrozenModel):
    """The model spec's ``ranking`` section: default policy and weights, the bounds a request's weights must keep,
    and the confidence of the significance rule (moving above a tier, telling options apart)."""

    policy: RankingPolicy = RankingPolicy.tier_then_net_benefit
    adverse_event_weight: float = Field(default=0.5, ge=0.0)
    dropout_weight: float = Field(default=0.0, ge=0.0)
    adverse_event_weight_max: float = Field(default=3.0, ge=0.0, le=100.0)
    dropout_weight_max: float = Field(default=1.0, ge=0.0, le=100.0)
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)

    @model_validator(mode="after")
    def _defaults_within_bounds(self) -> RankingSettings:
        if self.adverse_event_weight > self.adverse_event_weight_max:
            raise ValueError("adverse_event_weight must not be above adverse_event_weight_max")
        if self.dropout_weight > self.dropout_weight_max:
            raise ValueError("dropout_weight must not be above dropout_weight_max")
        return self

    @property
    def weights(self) -> UtilityWeights:
        return UtilityWeights(adverse_event=self.adverse_event_weight, dropout=self.dropout_weight)

    def rule(self, policy: RankingPolicy) -> str:
        return POLICY_RULES[policy].format(confidence=self.confidence)


@dataclass(frozen=True)
class Preferences:
    """What one request asks of the ranking: its own weights and policy (None: the model spec's)."""

    adverse_event_weight: float | None = None
    dropout_weight: float | None = None
    policy: RankingPolicy | None = None


NO_PREFERENCES = Preferences()


def weight_violations(preferences: Preferences, settings: RankingSettings, prefix: str) -> list[Violation]:
    """A request's weights against the spec's bounds: each must be a finite number from 0 to its maximum."""
    out: list[Violation] = []
    for name, value, high in (
        ("adverse_event_weight", preferences.adverse_event_weight, settings.adverse_event_weight_max),
        ("dropout_weight", preferences.dropout_weight, settings.dropout_weight_max),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            out.append(Violation(f"{prefix}{name}", "must be a finite number", kind_of(value)))
        elif not 0.0 <= value <= high:
            out.append(
                Violation(f"{prefix}{name}", f"must be between 0 and {high:g} (the model's bounds)", "number")
            )
    return out


def resolve(preferences: Preferences, settings: RankingSettings) -> tuple[UtilityWeights, RankingPolicy]:
    """The weights and policy one answer uses: the request's where given (already checked), else the spec's."""
    ae = preferences.adverse_event_weight
    do = preferences.dropout_weight
    weights = UtilityWeights(
        adverse_event=settings.adverse_event_weight if ae is None else float(ae),
        dropout=settings.dropout_weight if do is None else float(do),
    )
    return weights, preferences.policy or settings.policy


def net_benefit(
    p_response: np.ndarray,
    harms: Mapping[str, np.ndarray],
    weights: UtilityWeights,
) -> np.ndarray:
    """P(response) - w_ae * P(adverse event) - w_dropout * P(dropout), elementwise; a harm the model does not have
    costs nothing."""
    out = np.asarray(p_response, dtype=np.float64).copy()
    ae, do = harms.get("adverse_event"), harms.get("dropout")
    if ae is not None and weights.adverse_event:
        out -= weights.adverse_event * ae
    if do is not None and weights.dropout:
        out -= weights.dropout * do
    return out


@lru_cache(maxsize=32)
def critical_value(method: str, replicates: int, confidence: float) -> float:
    """The one-sided critical value of the significance rule: Student's t on r-1 degrees of freedom for the
    jackknife, normal for the bootstrap."""
    from scipy import stats

    if method == "jackknife":
        return float(stats.t.ppf(confidence, replicates - 1))
    return float(stats.norm.ppf(confidence))


def standard_error(replicates: np.ndarray, method: str) -> np.ndarray:
    """Standard error over the last axis of replicate values (jackknife or bootstrap)."""
    r = replicates.shape[-1]
    centred = replicates - replicates.mean(axis=-1, keepdims=True)
    if method == "jackknife":
        return np.sqrt((r - 1) / r * (centred**2).sum(axis=-1))
    return np.sqrt((centred**2).sum(axis=-1) / max(r - 1, 1))


@lru_cache(maxsize=8)
def draw_weights(method: str, replicates: int) -> np.ndarray:
    """(N_DRAWS, r) fixed weights turning centred replicates into draws with the replicates' covariance (a
    multivariate t on r-1 degrees of freedom for the jackknife, normal for the bootstrap). Fixed, so one patient
    always gets the same probabilities."""
    rng = np.random.default_rng(DRAW_SEED)
    z = rng.standard_normal((N_DRAWS, replicates))
    if method == "jackknife":
        dof = max(replicates - 1, 1)
        scale = np.sqrt(dof / rng.chisquare(dof, size=(N_DRAWS, 1)))
        out = z * scale * np.sqrt((replicates - 1) / replicates)
    else:
        out = z / np.sqrt(max(replicates - 1, 1))
    out.setflags(write=False)
    return out


def probability_best(values: np.ndarray, replicates: np.ndarray | None, method: str) -> np.ndarray:
    """Per option (k,), the probability that it has the highest net benefit of these options; ``replicates``
    (k, r) are its replicate net benefits (None: no uncertainty, the best point estimate gets 1)."""
    k = values.shape[0]
    if k == 0:
        return np.zeros(0)
    if replicates is None or replicates.shape[1] < 2:
        out = np.zeros(k)
        out[int(np.argmax(values))] = 1.0
        return out
    centred = replicates - replicates.mean(axis=1, keepdims=True)
    draws = values[None, :] + draw_weights(method, replicates.shape[1]) @ centred.T  # (draws, k)
    return np.bincount(draws.argmax(axis=1), minlength=k) / N_DRAWS


@dataclass(frozen=True)
class Ordering:
    """The options in ranked order (positions into the inputs), whether each was placed above options of a better
    tier, and each one's group (1 = the best group), both in ranked order."""

    order: tuple[int, ...]
    above_tier: tuple[bool, ...]
    groups: tuple[int, ...]


class _Significance:
    """Whether option a's net benefit is significantly higher than option b's (paired replicates), for every pair
    at once: ``beats[a, b]``."""

    def __init__(
        self, values: np.ndarray, replicates: np.ndarray | None, method: str, confidence: float
    ) -> None:
        k = values.shape[0]
        if replicates is None or replicates.shape[1] < 2 or k == 0:
            # no uncertainty available: never significant, so nothing moves and nothing separates
            self.beats = np.zeros((k, k), dtype=bool)
            return
        r = replicates.shape[1]
        q = critical_value(method, r, confidence)
        difference = values[:, None] - values[None, :]
        # sum over replicates of the squared centred difference of a and b, from the Gram matrix of the centred
        # replicates: |c_a - c_b|^2 = |c_a|^2 + |c_b|^2 - 2 c_a.c_b
        centred = replicates - replicates.mean(axis=1, keepdims=True)
        gram = centred @ centred.T
        norms = np.diag(gram)
        squares = np.maximum(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0)
        scale = (r - 1) / r if method == "jackknife" else 1.0 / max(r - 1, 1)
        se = np.sqrt(scale * squares)
        self.beats = (difference > 0.0) & (difference - q * se > 0.0)


def order_options(
    values: np.ndarray,
    replicates: np.ndarray | None,
    tiers: Sequence[GuidelineTier | None],
    policy: RankingPolicy,
    *,
    method: str = "jackknife",
    confidence: float = 0.95,
    ids: Sequence[str] | None = None,
    prior: np.ndarray | None = None,
) -> Ordering:
    """The ranked order of k options (see the module doc). ``values`` (k,) net benefits, ``replicates`` (k, r) or
    None, ``tiers`` the options' guideline tiers; ``ids`` break exact ties (default: position). ``prior`` (k,):
    under the tier policy, the options' average net benefit for patients with this condition, the order within a
    tier before the patient's own estimates move an option (None: the patient's own estimates)."""
    k = values.shape[0]
    names = list(ids) if ids is not None else [f"{i:06d}" for i in range(k)]
    beats = _Significance(values, replicates, method, confidence).beats
    by_tier = policy is RankingPolicy.tier_then_net_benefit
    rank_of_tier = [TIER_ORDER.get(t, 3) for t in tiers]
    within = prior if by_tier and prior is not None else values

    def key(i: int) -> tuple[int, float, str]:
        return (rank_of_tier[i] if by_tier else 0, -float(within[i]), names[i])

    start = sorted(range(k), key=key)
    placed: list[int] = []
    above = [False] * k
    for i in start:
        at = len(placed)
        if by_tier:
            while at > 0 and beats[i, placed[at - 1]]:
                at -= 1
        if at < len(placed) and rank_of_tier[placed[at]] < rank_of_tier[i]:
            above[i] = True
        placed.insert(at, i)
    groups: list[int] = []
    leader = -1
    for position, i in enumerate(placed):
        if position == 0:
            groups.append(1)
            leader = i
            continue
        same_tier = not by_tier or rank_of_tier[i] == rank_of_tier[leader]
        if same_tier and not beats[leader, i]:
            groups.append(groups[-1])
        else:
            groups.append(groups[-1] + 1)
            leader = i
    return Ordering(tuple(placed), tuple(above[i] for i in placed), tuple(groups))


def group_text(group: int, size: int) -> str:
    """How the report and the answer name a group."""
    if group == 1:
        return "Equally good choices for this patient" if size > 1 else "Best choice for this patient"
    return "Equally good next choices" if size > 1 else "Next choice"


def outcome_text(p_response: float, p_adverse_event: float | None, p_dropout: float | None = None) -> str:
    """Each component in a clinician's words: "52% response, 14% stop for side effects"."""
    parts = [f"{p_response:.0%} response"]
    if p_adverse_event is not None:
        parts.append(f"{p_adverse_event:.0%} stop for side effects")
    if p_dropout is not None:
        parts.append(f"{p_dropout:.0%} stop early (any reason)")
    return ", ".join(parts)


def utility_text(weights: UtilityWeights) -> str:
    """The net benefit's formula with the weights used."""
    text = "net benefit = P(response)"
    if weights.adverse_event:
        text += f" - {weights.adverse_event:g} x P(stop for side effects)"
    if weights.dropout:
        text += f" - {weights.dropout:g} x P(stop early, any reason)"
    return text


def table_key(condition: str | None, pain_type: str) -> str:
    """The group of patients an average is kept for: the recorded pain condition, or the pain type when none."""
    return condition if condition else f"not given ({pain_type})"


@dataclass(frozen=True)
class OutcomeDraws:
    """One patient's outcome probabilities for k options (``option_ids``, the model's order) and, when the model
    has replicate boosters, their replicate probabilities (k, r): what the net benefit and its uncertainty are
    computed from. ``method`` is the replicates' kind (jackknife or bootstrap), ``level`` the intervals' level.
    ``prior``: the options' average outcome probabilities over the training patients with this patient's
    condition (outcome -> (k,)), the tier policy's order within a tier; None when the model has none."""

    option_ids: tuple[str, ...]
    probabilities: Mapping[str, np.ndarray]  # outcome -> (k,)
    replicates: Mapping[str, np.ndarray] | None = None  # outcome -> (k, r)
    method: str = "jackknife"
    level: float = 0.9
    prior: Mapping[str, np.ndarray] | None = None


@dataclass(frozen=True)
class BenefitEstimates:
    """Net benefit of the k options of an :class:`OutcomeDraws` under one utility: value (k,), replicates (k, r) or
    None, and the interval at the draws' level."""

    values: np.ndarray
    replicates: np.ndarray | None
    lower: np.ndarray
    upper: np.ndarray
    prior: np.ndarray | None = None  # the condition's average net benefit per option (see OutcomeDraws.prior)


def benefit_estimates(draws: OutcomeDraws, weights: UtilityWeights) -> BenefitEstimates:
    """Net benefit per option with its two-sided interval at ``draws.level`` (replicate standard error, the
    critical value of the probabilities' intervals); without replicates the interval is the point."""
    harms = {o: v for o, v in draws.probabilities.items() if o != "response"}
    values = net_benefit(draws.probabilities["response"], harms, weights)
    reps = None
    lower = upper = values
    if draws.replicates is not None:
        rep_harms = {o: v for o, v in draws.replicates.items() if o != "response"}
        reps = net_benefit(draws.replicates["response"], rep_harms, weights)
        if reps.shape[1] >= 2:
            q = critical_value(draws.method, reps.shape[1], 1.0 - (1.0 - draws.level) / 2.0)
            half = q * standard_error(reps, draws.method)
            lower, upper = values - half, values + half
    prior = None
    if draws.prior is not None and "response" in draws.prior:
        prior = net_benefit(
            draws.prior["response"], {o: v for o, v in draws.prior.items() if o != "response"}, weights
        )
    return BenefitEstimates(values, reps, lower, upper, prior)

"""The in-process recommendation engine: one loaded model package -> ExplainedRecommendation.

    profile --assemble_features--> FeatureVector --predict (TreeSHAP margins + calibration)--> OptionPrediction[]
        --rank_options (+ CPIC rules)--> RankedRecommendation --explain_options--> ExplainedRecommendation

The CLI (without --target), the gRPC service and the report all run this same code. Per-option boosters are
evaluated by the exact TreeSHAP in :mod:`precisionpain.explain.treeshap`, so the probability shown and its
explanation come from the same margins (base + sum of contributions = margin). A package with harm outcomes
(adverse event, dropout) has every outcome's boosters in the same ensemble set (one pass explains them all) and
every replicate in one replicate set; the ranking gets each patient's outcome probabilities with their
calibrated replicates (net benefit, its uncertainty, groups) and the averages of the training patients with the
same recorded condition (the tier policy's order within a tier).

One patient and a batch take the same path (:meth:`Recommender.score`): features, predictions and TreeSHAP
are computed for all rows at once, then each patient is ranked. A :class:`ScoredRecommendation` keeps the raw
SHAP arrays next to the ranking, so a caller that only needs another representation (the gRPC response) can
convert straight from the arrays; :meth:`ScoredRecommendation.explained` gives the frozen stage type.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from precisionpain.base import trusted
from precisionpain.benefit_harm import (
    NO_PREFERENCES,
    OutcomeDraws,
    Preferences,
    RankingSettings,
    table_key,
    weight_violations,
)
from precisionpain.catalog.guidelines import GuidelineCatalog, load_guideline_catalog
from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.errors import ModelCatalogMismatchError, ModelError, PrecisionPainError, Violation
from precisionpain.explain.contributions import DEFAULT_TOP_K, explain_options, harm_top_k
from precisionpain.features.assemble import encode_columns
from precisionpain.features.frame import flat_columns, profile_to_row
from precisionpain.models.card import model_summary
from precisionpain.models.estimator import fitted_strategy
from precisionpain.models.outcomes import ALL_PATIENTS
from precisionpain.models.package import LoadedPackage
from precisionpain.provenance import code_version
from precisionpain.ranking import check_candidates, data_warnings, rank_options
from precisionpain.safety import SafetyCatalogs, apply_safety_rules, load_safety_catalogs
from precisionpain.schema import (
    CatalogRef,
    ExplainedRecommendation,
    FeatureVector,
    Interval,
    ModelSummary,
    OptionPrediction,
    Outcome,
    OutcomePrediction,
    PatientProfile,
    Provenance,
    RankedRecommendation,
)

#: Fitted strategies served by one compiled TreeSHAP pass over every outcome's boosters. Per option: one booster
#: per option over the features (merged into one ensemble set). Stacked: one booster for all options over the
#: features and the options' one-hot columns, explained on each patient's row once per option (its one-hot
#: columns' contributions belong to the option, so they join the base value, as ``TreatmentResponseModel.explain``
#: does). Any other strategy, or outcomes fitted with both kinds, is served through the estimators' own methods.
PER_OPTION_STRATEGIES = ("t_learner", "ipw_t_learner")
STACKED_STRATEGIES = ("s_learner",)
_SEP = "\x1f"


def serving_layout(models: Sequence[Any]) -> str | None:
    """``"per_option"`` or ``"stacked"`` when every outcome's model is served by the compiled path of that kind
    (see ``PER_OPTION_STRATEGIES``), else None."""
    fitted = {fitted_strategy(m) for m in models}
    if fitted <= set(PER_OPTION_STRATEGIES):
        return "per_option"
    if fitted <= set(STACKED_STRATEGIES):
        return "stacked"
    return None

#: Called between stages and between patients; raises to stop the work (e.g. when a deadline has passed).
Checkpoint = Callable[[], None]


def _no_checkpoint() -> None:
    return None


@dataclass(frozen=True)
class ModelIdentity:
    """Where the loaded model came from (registry name, version, alias, run, URI)."""

    name: str
    version: str = ""
    alias: str = ""
    run_id: str = ""
    uri: str = ""


def _feature_vector(values: np.ndarray, names: tuple[str, ...], catalog: CatalogRef) -> FeatureVector:
    """One row of model input as a FeatureVector (already typed: no re-validation on the hot path)."""
    vals = tuple(values.tolist())
    return FeatureVector.model_construct(
        catalog=catalog,
        names=names,
        values=vals,
        missing=tuple(n for n, v in zip(names, vals, strict=True) if math.isnan(v)),
    )


def _interval_quantile(method: str, alpha: float, replicates: int) -> float | None:
    """The critical value ``TreatmentResponseModel.interval_from_margins`` uses (None: let it compute)."""
    from scipy import stats

    if replicates < 2:
        return None
    if method == "jackknife":
        return float(stats.t.ppf(1.0 - alpha / 2.0, replicates - 1))
    if method == "bootstrap":
        return float(stats.norm.ppf(1.0 - alpha / 2.0))
    return None


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, eq=False)
class OutcomeShap:
    """One outcome's exact TreeSHAP of the shown options: ``contributions`` (k, p), ``base_values`` and ``margins``
    (k,), log-odds, base + sum of contributions = margin."""

    contributions: np.ndarray
    base_values: np.ndarray
    margins: np.ndarray


@dataclass(frozen=True, eq=False)
class OutcomeScores:
    """One outcome's estimates for n patients and the k options in model order: calibrated probabilities and
    their interval (n, k), TreeSHAP contributions (n, k, p), base values and margins (n, k)."""

    p: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    contributions: np.ndarray
    base_values: np.ndarray
    margins: np.ndarray
    replicates: np.ndarray | None = None  # (n, k, r) calibrated probabilities of the replicate boosters


@dataclass(frozen=True, eq=False)
class ScoredRecommendation:
    """One patient's ranked options with the SHAP arrays of every shown option (usable and excluded).

    ``option_ids`` are the shown options in model order; ``contributions`` (k, p), ``base_values`` and
    ``margins`` (k,) are in log-odds, ``values`` (p,) is the model input (NaN = missing). Read-only arrays.
    """

    profile: PatientProfile
    recommendation: RankedRecommendation
    option_ids: tuple[str, ...]
    values: np.ndarray
    contributions: np.ndarray
    base_values: np.ndarray
    margins: np.ndarray
    catalog: FeatureCatalog
    catalog_ref: CatalogRef
    top_k: int
    #: each harm outcome's SHAP arrays for the same options, in answer order (empty for a response-only model)
    harm_shap: Mapping[str, OutcomeShap] = field(default_factory=dict)

    def features(self) -> FeatureVector:
        return _feature_vector(self.values, self.catalog.feature_ids, self.catalog_ref)

    def explained(self) -> ExplainedRecommendation:
        """The frozen stage type: ranking, one OptionExplanation per shown option and outcome, and the feature
        vector."""
        explanations = explain_options(
            self.option_ids,
            self.values,
            self.contributions,
            self.base_values,
            self.margins,
            self.catalog,
            self.top_k,
        )
        harms = tuple(
            e
            for outcome, shap in self.harm_shap.items()
            for e in explain_options(
                self.option_ids,
                self.values,
                shap.contributions,
                shap.base_values,
                shap.margins,
                self.catalog,
                harm_top_k(self.top_k),
                outcome=outcome,
            )
        )
        return ExplainedRecommendation(
            recommendation=self.recommendation,
            explanations=explanations,
            features=self.features(),
            harm_explanations=harms,
        )


class Recommender:
    """Holds one model package and everything precomputed to answer quickly; safe to share across threads."""

    def __init__(
        self,
        package: LoadedPackage,
        identity: ModelIdentity | None = None,
        *,
        expected_catalog_sha256: str | None = None,
        clock: Callable[[], str] = _utc_now,
        safety: SafetyCatalogs | None = None,
        guidelines: GuidelineCatalog | None = None,
    ) -> None:
        from precisionpain.explain.treeshap import TreeEnsembleSet

        self.package = package
        meta = package.metadata
        self.identity = identity or ModelIdentity(name=meta.registered_model, run_id=meta.run_id)
        self._clock = clock
        if expected_catalog_sha256 is not None and expected_catalog_sha256 != meta.catalog_sha256:
            raise ModelCatalogMismatchError(
                "the model was trained with feature catalog sha256 "
                f"{meta.catalog_sha256[:12]}..., but this server uses {expected_catalog_sha256[:12]}..."
            )
        if package.catalog.feature_ids != meta.feature_ids:
            raise ModelCatalogMismatchError(
                "the model's feature list differs from its catalog's feature columns"
            )
        est = package.estimator
        self.option_ids: tuple[str, ...] = tuple(str(o) for o in est.options_)
        unknown = [o for o in self.option_ids if o not in package.options.ids]
        if unknown:
            raise ModelCatalogMismatchError(
                f"the model ranks options missing from its catalog: {', '.join(unknown)}"
            )
        self._option_index = {o: j for j, o in enumerate(self.option_ids)}
        self.alpha = meta.interval_alpha
        #: how answers weigh harms against the response and order the options (the model spec's ``ranking``)
        self.ranking: RankingSettings = meta.ranking
        #: per recorded condition (or pain type), per outcome, each option's mean training probability (k,)
        self._table_means: dict[str, dict[str, np.ndarray]] = {
            table: {o: np.asarray(v, dtype=np.float64) for o, v in by.items()}
            for table, by in meta.table_means.items()
            if all(len(v) == len(est.options_) for v in by.values())
        }
        #: "response" and the harm outcomes the package models, in answer order; one model each
        self.outcomes: tuple[str, ...] = meta.outcomes
        self._models: tuple[Any, ...] = (est, *(package.harms[o] for o in self.outcomes[1:]))
        for outcome, model in zip(self.outcomes[1:], self._models[1:], strict=True):
            if tuple(str(o) for o in model.options_) != self.option_ids:
                raise ModelError(
                    f"the model's {outcome} model does not rank the options in the response's order"
                )
        self._point: Any = None
        self._replicates: Any = None
        self._n_replicates = 0
        #: how the compiled path serves the models (see ``serving_layout``); None: their own methods
        self.layout = serving_layout(self._models)
        if self.layout is not None:
            # Every outcome's boosters in one ensemble set (explained in one pass), in outcome order; the interval
            # replicates likewise in one set (margins only). Per option: the response's under the option ids
            # themselves. Stacked: one booster per outcome, its input the features and the one-hot columns.
            names = list(meta.feature_ids)
            boosters: dict[str, Any] = {}
            reps: dict[str, Any] = {}
            counts = set()
            for outcome, model in zip(self.outcomes, self._models, strict=True):
                tag = "" if outcome == "response" else f"{_SEP}{outcome}"
                served = model.options_[:1] if self.layout == "stacked" else model.options_
                boosters.update({f"{o}{tag}": model.boosters_[o] for o in served})
                for o in served:
                    found = model.interval_boosters_.get(o, ())
                    counts.add(len(found))
                    reps.update({f"{o}{tag}{_SEP}{r}": b for r, b in enumerate(found)})
            build: Callable[[Mapping[str, Any], Sequence[str]], Any]
            if self.layout == "stacked":
                build = functools.partial(
                    TreeEnsembleSet.from_option_column_boosters, option_ids=self.option_ids, separator=_SEP
                )
            else:
                build = TreeEnsembleSet.from_boosters
            self._point = build(boosters, names)
            if reps and len(counts) == 1:
                self._n_replicates = counts.pop()
                self._replicates = build(reps, names)
        self._interval_q = tuple(
            _interval_quantile(m.interval_method, self.alpha, self._n_replicates) for m in self._models
        )
        self._flat_columns = flat_columns(package.catalog)
        self._feature_ids = package.catalog.feature_ids
        self._provenance_now: Provenance | None = None
        self._catalog_ref = CatalogRef(
            catalog_id=package.catalog.catalog_id,
            version=package.catalog.version,
            sha256=package.catalog.sha256,
        )
        #: The safety rules every answer obeys: by default the catalogs packaged with the model (compiled against
        #: its option catalog), so a model version always answers under the rules it was registered with.
        self.safety: SafetyCatalogs = safety or load_safety_catalogs(package.path / "catalog")
        #: The guideline tiers every answer carries: by default the catalog packaged with the model.
        self.guidelines: GuidelineCatalog = guidelines or load_guideline_catalog(
            package.options, package.path / "catalog"
        )
        self.summary: ModelSummary = model_summary(
            meta, version=self.identity.version, alias=self.identity.alias
        )
        cpic = {r.cpic_data_version for r in package.tables.recommendations if r.cpic_data_version}
        self._provenance_fields: dict[str, Any] = {
            "model_name": self.identity.name,
            "model_version": self.identity.version,
            "model_alias": self.identity.alias,
            "model_run_id": self.identity.run_id or meta.run_id,
            "catalog_id": meta.catalog_id,
            "catalog_version": meta.catalog_version,
            "catalog_sha256": meta.catalog_sha256,
            "options_catalog_sha256": meta.options_catalog_sha256,
            "code_version": code_version(),
            "cpic_data_version": ",".join(sorted(cpic)),
            "synthetic_training_data": self.summary.synthetic_training_data,
            "intended_use": self.summary.intended_use,
            "safety_rules_version": self.safety.rules_ref.version,
            "safety_rules_sha256": self.safety.rules_ref.sha256,
            "medication_catalog_sha256": self.safety.medications_ref.sha256,
            "guideline_catalog_version": self.guidelines.version,
            "guideline_catalog_sha256": self.guidelines.sha256,
        }

    # ------------------------------------------------------------------------------------------ lifecycle

    def warmup(self) -> None:
        """Compile and exercise every path once (the service calls this before reporting SERVING)."""
        if self._point is not None:
            self._point.warmup()
        if self._replicates is not None:
            self._replicates.warmup()
        x = np.full((1, len(self.package.metadata.feature_ids)), np.nan)
        self._score(x)

    @property
    def catalog_sha256(self) -> str:
        return self.package.metadata.catalog_sha256

    def provenance(self) -> Provenance:
        """The provenance stamped now (one frozen object shared by the answers of the same clock second)."""
        now = self._clock()
        current = self._provenance_now
        if current is None or current.generated_at != now:
            current = self._provenance_now = Provenance(**self._provenance_fields, generated_at=now)
        return current

    # ------------------------------------------------------------------------------------------ scoring

    def _score(self, X: np.ndarray) -> tuple[OutcomeScores, ...]:
        """Every outcome's estimates for the rows of X (:class:`OutcomeScores`, in ``outcomes`` order)."""
        if self.layout is None:
            out = []
            for model in self._models:
                explanation = model.explain(X)
                interval = model.predict_interval(X, alpha=self.alpha)
                out.append(
                    OutcomeScores(
                        interval.estimate,
                        interval.lower,
                        interval.upper,
                        explanation.contributions,
                        explanation.base_values,
                        explanation.margins,
                    )
                )
            return tuple(out)
        n, k = X.shape[0], len(self.option_ids)
        if self.layout == "stacked":
            contributions, base, all_margins, reps = self._stacked(X)
        else:
            shap = self._point.explain(X)
            contributions, all_margins = shap.contributions, shap.margins
            base = np.broadcast_to(self._point.base_values, all_margins.shape)
            reps = None
            if self._replicates is not None:
                reps = self._replicates.margins(X).reshape(n, len(self._models), k, self._n_replicates)
        out = []
        for i, model in enumerate(self._models):
            cols = slice(i * k, (i + 1) * k)
            margins = all_margins[:, cols]
            replicates = None
            if reps is not None:
                p, lower, upper, replicates = self._interval(model, self._interval_q[i], margins, reps[:, i])
            else:
                p = lower = upper = model.outcomes_from_margins(margins)
            out.append(OutcomeScores(p, lower, upper, contributions[:, cols], base[:, cols], margins, replicates))
        return tuple(out)

    def _stacked(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """The stacked layout's (contributions (n, m*k, p), base values (n, m*k), margins (n, m*k), replicate
        margins (n, m, k, r) or None) for the rows of X, in the per-option layout's order (outcome-major).

        Each booster was laid out by ``TreeEnsembleSet.from_option_column_boosters``: its whole part plus
        option j's part is the booster on the row with option j's column set, so both come from one row per
        patient; the option columns' contributions go to the base value, as ``TreatmentResponseModel.explain``
        puts them."""
        from precisionpain.explain.treeshap import option_column_rows

        n, p = X.shape
        k, m = len(self.option_ids), len(self._models)
        rows = option_column_rows(X, k)
        shap = self._point.explain(rows)
        phi = shap.contributions.reshape(n, m, k + 1, p + 2 * k)
        contributions = (phi[:, :, :1, :p] + phi[:, :, 1:, :p]).reshape(n, m * k, p)
        columns = phi[..., p:].sum(axis=3)
        values = self._point.base_values.reshape(m, k + 1)
        base = (values[:, :1] + values[:, 1:]) + (columns[:, :, :1] + columns[:, :, 1:])
        margins = shap.margins.reshape(n, m, k + 1)
        margins = margins[:, :, :1] + margins[:, :, 1:]
        reps = None
        if self._replicates is not None:
            r = self._replicates.margins(rows).reshape(n, m, self._n_replicates, k + 1)
            reps = (r[..., :1] + r[..., 1:]).transpose(0, 1, 3, 2)
        return contributions, base.reshape(n, m * k), margins.reshape(n, m * k), reps

    def _interval(
        self, model: Any, q: float | None, margins: np.ndarray, reps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(estimate, lower, upper, replicate probabilities) from point margins (n, k) and replicate margins
        (n, k, r).

        The arithmetic of ``TreatmentResponseModel.interval_from_margins`` with its quantile computed once at
        load, and the margins, both bounds and the replicates calibrated in one pass (the calibrators are
        elementwise maps), so the results are identical to it, only cheaper per call.
        """
        if q is None:
            interval = model.interval_from_margins(margins, reps, self.alpha)
            return interval.estimate, interval.lower, interval.upper, model.outcomes_from_margins(reps)
        r = reps.shape[2]
        if model.interval_method == "jackknife":
            se = np.sqrt((r - 1) / r * ((reps - reps.mean(axis=2, keepdims=True)) ** 2).sum(axis=2))
        else:
            se = reps.std(axis=2, ddof=1)
        out = model.outcomes_from_margins(
            np.concatenate([np.stack([margins, margins - q * se, margins + q * se], axis=-1), reps], axis=-1)
        )
        lo, hi = out[..., 1], out[..., 2]
        return out[..., 0], np.minimum(lo, hi), np.maximum(lo, hi), out[..., 3:]

    def _draws(self, scores: Sequence[OutcomeScores], i: int, profile: PatientProfile) -> OutcomeDraws:
        """Patient i's outcome probabilities and replicates for the ranking's net benefit, and the averages of the
        training patients with the same recorded condition (or pain type)."""
        replicates = None
        if all(s.replicates is not None for s in scores):
            replicates = {o: s.replicates[i] for o, s in zip(self.outcomes, scores, strict=True)}  # type: ignore[index]
        clinical = profile.clinical
        condition = clinical.pain_condition.value if clinical.pain_condition is not None else None
        means = self._table_means
        prior = means.get(table_key(condition, clinical.pain_type.value)) or means.get(ALL_PATIENTS)
        return OutcomeDraws(
            self.option_ids,
            {o: s.p[i] for o, s in zip(self.outcomes, scores, strict=True)},
            replicates,
            self._models[0].interval_method,
            1.0 - self.alpha,
            prior,
        )

    def _predictions(self, scores: Sequence[OutcomeScores], i: int) -> list[OptionPrediction]:
        """Patient i's predictions: every option's response and harm probabilities with their intervals (numbers
        the engine computed, clipped to [0, 1]: built without a second validation)."""
        level = 1.0 - self.alpha
        name, version = self.identity.name, self.identity.version
        # (outcomes, 3, options): estimate, lower and upper of every outcome, clipped at once
        columns = np.clip(
            np.stack([np.stack((s.p[i], s.lower[i], s.upper[i])) for s in scores]), 0.0, 1.0
        ).tolist()
        (pp, lo, hi), harm_columns = columns[0], columns[1:]
        harms = [Outcome(o) for o in self.outcomes[1:]]
        out = []
        for j, o in enumerate(self.option_ids):
            out.append(
                trusted(
                    OptionPrediction,
                    option_id=o,
                    p_response=pp[j],
                    interval=trusted(Interval, lower=lo[j], upper=hi[j], level=level),
                    model_name=name,
                    model_version=version,
                    harms=tuple(
                        [
                            trusted(
                                OutcomePrediction,
                                outcome=outcome,
                                probability=c[0][j],
                                interval=trusted(Interval, lower=c[1][j], upper=c[2][j], level=level),
                            )
                            for outcome, c in zip(harms, harm_columns, strict=True)
                        ]
                    ),
                )
            )
        return out

    def _feature_matrix(self, profiles: Sequence[PatientProfile]) -> np.ndarray:
        """Profiles -> (n, p) model input through the feature layer's single encoding path."""
        catalog = self.package.catalog
        names = self._flat_columns
        rows = [profile_to_row(p, catalog) for p in profiles]
        n = len(rows)
        table = np.empty((len(names), n), dtype=object)  # one object array, one row per flat column
        for i, row in enumerate(rows):
            table[:, i] = [row[name] for name in names]
        return encode_columns(dict(zip(names, table, strict=True)), n, catalog, self.package.tables)

    def preference_violations(self, preferences: Preferences, prefix: str = "") -> list[Violation]:
        """A request's utility weights against this model's bounds (its spec's ``ranking`` section)."""
        return weight_violations(preferences, self.ranking, prefix)

    def candidates(
        self, profile: PatientProfile, candidate_ids: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        """The options to rank for this patient (all by default); unknown or repeated ids are violations."""
        wanted = candidate_ids or profile.candidate_option_ids
        if wanted:
            check_candidates(wanted, self.package.options)
            missing = [o for o in wanted if o not in self._option_index]
            if missing:
                raise ModelError(f"the loaded model has no model for option(s) {', '.join(missing)}")
            return tuple(wanted)
        return self.option_ids

    # ------------------------------------------------------------------------------------------ public

    def features(self, profile: PatientProfile) -> FeatureVector:
        """The model input of one validated profile (the same encoding :meth:`score` uses)."""
        return _feature_vector(
            self._feature_matrix([profile])[0], self.package.catalog.feature_ids, self._catalog_ref
        )

    def score(
        self,
        profiles: Sequence[PatientProfile],
        candidate_ids: Sequence[Sequence[str] | None] | None = None,
        top_k: int | Sequence[int] = DEFAULT_TOP_K,
        *,
        checkpoint: Checkpoint = _no_checkpoint,
        preferences: Sequence[Preferences] | None = None,
    ) -> list[ScoredRecommendation]:
        """Rank and explain validated profiles; one patient is a batch of one.

        Features, predictions and TreeSHAP run once for the whole batch; ranking (CPIC rules, warnings) runs
        per patient. ``candidate_ids``, ``top_k`` and ``preferences`` (the request's own utility weights and
        policy, checked with :meth:`preference_violations`) may be given per patient. ``checkpoint`` is called
        between stages and between patients and may raise to stop the work. The first patient that breaks a
        rule raises its error; :meth:`score_items` gives every other patient its answer instead.
        """
        out: list[ScoredRecommendation] = []
        items = self.score_items(
            profiles, candidate_ids, top_k, checkpoint=checkpoint, preferences=preferences
        )
        for item in items:
            if isinstance(item, PrecisionPainError):
                raise item
            out.append(item)
        return out

    def score_items(
        self,
        profiles: Sequence[PatientProfile],
        candidate_ids: Sequence[Sequence[str] | None] | None = None,
        top_k: int | Sequence[int] = DEFAULT_TOP_K,
        *,
        checkpoint: Checkpoint = _no_checkpoint,
        preferences: Sequence[Preferences] | None = None,
    ) -> Iterator[ScoredRecommendation | PrecisionPainError]:
        """:meth:`score` for a batch whose patients fail alone: a patient whose own request breaks a rule (its
        candidate options, its ranking) gets that error in its place and the others are still answered. What
        ``checkpoint`` raises (a deadline, a cancelled call) stops the whole batch.

        The answers come one patient at a time, in order: features, predictions and TreeSHAP run once for the
        whole batch (on the first ``next``), the ranking per patient as it is asked for. A caller that writes each
        answer out before asking for the next keeps only one patient's objects alive: with a large batch held
        whole, the garbage collector's passes walk all of them."""
        n = len(profiles)
        if n == 0:
            return
        cands = list(candidate_ids) if candidate_ids is not None else [None] * n
        ks = [int(top_k)] * n if isinstance(top_k, int) else [int(k) for k in top_k]
        prefs = list(preferences) if preferences is not None else [NO_PREFERENCES] * n
        if len(cands) != n or len(ks) != n or len(prefs) != n:
            raise ValueError("candidate_ids, top_k and preferences must have one entry per profile")
        failed: dict[int, PrecisionPainError] = {}
        wanted: list[tuple[str, ...]] = []
        for i, (profile, c) in enumerate(zip(profiles, cands, strict=True)):
            try:
                wanted.append(self.candidates(profile, c))
            except PrecisionPainError as exc:
                # kept without its traceback, which holds this frame: a cycle that kept the batch's arrays (and,
                # in the servicer, its answers) alive until a full collection
                failed[i] = exc.with_traceback(None)
                wanted.append(())
        checkpoint()
        X = self._feature_matrix(profiles)
        checkpoint()
        scores = self._score(X)
        response = scores[0]
        X.setflags(write=False)
        provenance = self.provenance()
        pkg = self.package
        names = self._feature_ids
        for i, profile in enumerate(profiles):
            checkpoint()
            if i in failed:
                yield failed[i]
                continue
            features = _feature_vector(X[i], names, self._catalog_ref)
            try:
                ranked = rank_options(
                    profile,
                    self._predictions(scores, i),
                    pkg.options,
                    pkg.tables,
                    provenance,
                    safety=apply_safety_rules(profile, self.safety),
                    warnings=data_warnings(profile, features, pkg.catalog, pkg.metadata.training_ranges),
                    candidate_ids=wanted[i],
                    guidelines=self.guidelines,
                    draws=self._draws(scores, i, profile),
                    ranking=self.ranking,
                    preferences=prefs[i],
                )
            except PrecisionPainError as exc:
                yield exc
                continue
            shown = {o.option_id for o in ranked.options} | {o.option_id for o in ranked.excluded}
            idx = [j for j, o in enumerate(self.option_ids) if o in shown]
            yield (
                ScoredRecommendation(
                    profile=profile,
                    recommendation=ranked,
                    option_ids=tuple(self.option_ids[j] for j in idx),
                    values=X[i],
                    contributions=response.contributions[i, idx],
                    base_values=response.base_values[i, idx],
                    margins=response.margins[i, idx],
                    catalog=pkg.catalog,
                    catalog_ref=self._catalog_ref,
                    top_k=ks[i],
                    harm_shap={
                        outcome: OutcomeShap(
                            s.contributions[i, idx], s.base_values[i, idx], s.margins[i, idx]
                        )
                        for outcome, s in zip(self.outcomes[1:], scores[1:], strict=True)
                    },
                )
            )

    def recommend(
        self,
        profile: PatientProfile,
        candidate_ids: Sequence[str] | None = None,
        top_k: int = DEFAULT_TOP_K,
        preferences: Preferences = NO_PREFERENCES,
    ) -> ExplainedRecommendation:
        """Ranked, explained options for one validated profile (``preferences``: checked with
        :meth:`preference_violations`)."""
        return self.score([profile], [candidate_ids], top_k, preferences=[preferences])[0].explained()

    def recommend_batch(
        self,
        profiles: Sequence[PatientProfile],
        candidate_ids: Sequence[Sequence[str] | None] | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> list[ExplainedRecommendation]:
        """Many validated profiles at once: features, predictions and TreeSHAP are computed for the whole batch."""
        return [s.explained() for s in self.score(profiles, candidate_ids, top_k)]

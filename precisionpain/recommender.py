"""The in-process recommendation engine: one loaded model package -> ExplainedRecommendation.

    profile --assemble_features--> FeatureVector --predict (TreeSHAP margins + calibration)--> OptionPrediction[]
        --rank_options (+ CPIC rules)--> RankedRecommendation --explain_options--> ExplainedRecommendation

The CLI (without --target), the gRPC service and the report all run this same code. Per-option boosters are
evaluated by the exact TreeSHAP in :mod:`precisionpain.explain.treeshap`, so the probability shown and its
explanation come from the same margins (base + sum of contributions = margin).

One patient and a batch take the same path (:meth:`Recommender.score`): features, predictions and TreeSHAP
are computed for all rows at once, then each patient is ranked. A :class:`ScoredRecommendation` keeps the raw
SHAP arrays next to the ranking, so a caller that only needs another representation (the gRPC response) can
convert straight from the arrays; :meth:`ScoredRecommendation.explained` gives the frozen stage type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from precisionpain.catalog.guidelines import GuidelineCatalog, load_guideline_catalog
from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.errors import ModelCatalogMismatchError, ModelError, PrecisionPainError
from precisionpain.explain.contributions import DEFAULT_TOP_K, explain_options
from precisionpain.features.assemble import encode_columns
from precisionpain.features.frame import flat_columns, profile_to_row
from precisionpain.models.card import model_summary
from precisionpain.models.package import LoadedPackage
from precisionpain.provenance import code_version
from precisionpain.ranking import check_candidates, data_warnings, rank_options
from precisionpain.safety import SafetyCatalogs, apply_safety_rules, load_safety_catalogs
from precisionpain.schema import (
    CatalogRef,
    ExplainedRecommendation,
    FeatureVector,
    ModelSummary,
    OptionPrediction,
    PatientProfile,
    Provenance,
    RankedRecommendation,
)

PER_OPTION_STRATEGIES = ("t_learner", "ipw_t_learner")
_SEP = "\x1f"

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


@cache
def _predictions_adapter() -> TypeAdapter[list[OptionPrediction]]:
    """Validates a whole list of predictions in one call (cheaper than constructing them one by one)."""
    return TypeAdapter(list[OptionPrediction])


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

    def features(self) -> FeatureVector:
        return _feature_vector(self.values, self.catalog.feature_ids, self.catalog_ref)

    def explained(self) -> ExplainedRecommendation:
        """The frozen stage type: ranking, one OptionExplanation per shown option, and the feature vector."""
        explanations = explain_options(
            self.option_ids,
            self.values,
            self.contributions,
            self.base_values,
            self.margins,
            self.catalog,
            self.top_k,
        )
        return ExplainedRecommendation(
            recommendation=self.recommendation, explanations=explanations, features=self.features()
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
        self.fast = est.strategy in PER_OPTION_STRATEGIES
        self.alpha = meta.interval_alpha
        self._point: Any = None
        self._replicates: Any = None
        self._n_replicates = 0
        if self.fast:
            names = list(meta.feature_ids)
            self._point = TreeEnsembleSet.from_boosters(
                {str(o): est.boosters_[o] for o in est.options_}, names
            )
            reps = {
                f"{o}{_SEP}{r}": booster
                for o in est.options_
                for r, booster in enumerate(est.interval_boosters_.get(o, ()))
            }
            if reps:
                self._n_replicates = len(est.interval_boosters_[est.options_[0]])
                self._replicates = TreeEnsembleSet.from_boosters(reps, names)
        self._interval_q = _interval_quantile(est.interval_method, self.alpha, self._n_replicates)
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

    def _score(
        self, X: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(p, lower, upper, contributions (n,k,p), base_values (n,k), margins (n,k)) in option_ids order."""
        est = self.package.estimator
        if self.fast:
            shap = self._point.explain(X)
            margins = shap.margins
            contributions = shap.contributions
            base = np.broadcast_to(self._point.base_values, margins.shape)
            if self._replicates is not None:
                reps = self._replicates.margins(X).reshape(
                    X.shape[0], len(self.option_ids), self._n_replicates
                )
                p, lower, upper = self._interval(margins, reps)
            else:
                p = est.outcomes_from_margins(margins)
                lower = upper = p
            return p, lower, upper, contributions, base, margins
        explanation = est.explain(X)
        interval = est.predict_interval(X, alpha=self.alpha)
        return (
            interval.estimate,
            interval.lower,
            interval.upper,
            explanation.contributions,
            explanation.base_values,
            explanation.margins,
        )

    def _interval(self, margins: np.ndarray, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(estimate, lower, upper) from point margins (n, k) and replicate margins (n, k, r).

        The arithmetic of ``TreatmentResponseModel.interval_from_margins`` with its quantile computed once at
        load and the three margin arrays calibrated in one pass (the calibrators are elementwise maps), so the
        results are identical to it, only cheaper per call.
        """
        est = self.package.estimator
        q = self._interval_q
        if q is None:
            interval = est.interval_from_margins(margins, reps, self.alpha)
            return interval.estimate, interval.lower, interval.upper
        r = reps.shape[2]
        if est.interval_method == "jackknife":
            se = np.sqrt((r - 1) / r * ((reps - reps.mean(axis=2, keepdims=True)) ** 2).sum(axis=2))
        else:
            se = reps.std(axis=2, ddof=1)
        out = est.outcomes_from_margins(np.stack([margins, margins - q * se, margins + q * se], axis=-1))
        lo, hi = out[..., 1], out[..., 2]
        return out[..., 0], np.minimum(lo, hi), np.maximum(lo, hi)

    def _predictions(self, p: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[OptionPrediction]:
        level = 1.0 - self.alpha
        pp = np.clip(p, 0.0, 1.0).tolist()
        lo = np.clip(lower, 0.0, 1.0).tolist()
        hi = np.clip(upper, 0.0, 1.0).tolist()
        name, version = self.identity.name, self.identity.version
        return _predictions_adapter().validate_python(
            [
                {
                    "option_id": o,
                    "p_response": pp[j],
                    "interval": {"lower": lo[j], "upper": hi[j], "level": level},
                    "model_name": name,
                    "model_version": version,
                }
                for j, o in enumerate(self.option_ids)
            ]
        )

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
    ) -> list[ScoredRecommendation]:
        """Rank and explain validated profiles; one patient is a batch of one.

        Features, predictions and TreeSHAP run once for the whole batch; ranking (CPIC rules, warnings) runs
        per patient. ``candidate_ids`` and ``top_k`` may be given per patient. ``checkpoint`` is called
        between stages and between patients and may raise to stop the work. The first patient that breaks a
        rule raises its error; :meth:`score_items` gives every other patient its answer instead.
        """
        out: list[ScoredRecommendation] = []
        for item in self.score_items(profiles, candidate_ids, top_k, checkpoint=checkpoint):
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
    ) -> list[ScoredRecommendation | PrecisionPainError]:
        """:meth:`score` for a batch whose patients fail alone: a patient whose own request breaks a rule (its
        candidate options, its ranking) gets that error in its place and the others are still answered. What
        ``checkpoint`` raises (a deadline, a cancelled call) stops the whole batch."""
        n = len(profiles)
        if n == 0:
            return []
        cands = list(candidate_ids) if candidate_ids is not None else [None] * n
        ks = [int(top_k)] * n if isinstance(top_k, int) else [int(k) for k in top_k]
        if len(cands) != n or len(ks) != n:
            raise ValueError("candidate_ids and top_k must have one entry per profile")
        failed: dict[int, PrecisionPainError] = {}
        wanted: list[tuple[str, ...]] = []
        for i, (profile, c) in enumerate(zip(profiles, cands, strict=True)):
            try:
                wanted.append(self.candidates(profile, c))
            except PrecisionPainError as exc:
                failed[i] = exc
                wanted.append(())
        checkpoint()
        X = self._feature_matrix(profiles)
        checkpoint()
        p, lower, upper, contributions, base, margins = self._score(X)
        X.setflags(write=False)
        provenance = self.provenance()
        pkg = self.package
        names = self._feature_ids
        out: list[ScoredRecommendation | PrecisionPainError] = []
        for i, profile in enumerate(profiles):
            checkpoint()
            if i in failed:
                out.append(failed[i])
                continue
            features = _feature_vector(X[i], names, self._catalog_ref)
            try:
                ranked = rank_options(
                    profile,
                    self._predictions(p[i], lower[i], upper[i]),
                    pkg.options,
                    pkg.tables,
                    provenance,
                    safety=apply_safety_rules(profile, self.safety),
                    warnings=data_warnings(profile, features, pkg.catalog, pkg.metadata.training_ranges),
                    candidate_ids=wanted[i],
                    guidelines=self.guidelines,
                )
            except PrecisionPainError as exc:
                out.append(exc)
                continue
            shown = {o.option_id for o in ranked.options} | {o.option_id for o in ranked.excluded}
            idx = [j for j, o in enumerate(self.option_ids) if o in shown]
            out.append(
                ScoredRecommendation(
                    profile=profile,
                    recommendation=ranked,
                    option_ids=tuple(self.option_ids[j] for j in idx),
                    values=X[i],
                    contributions=contributions[i, idx],
                    base_values=base[i, idx],
                    margins=margins[i, idx],
                    catalog=pkg.catalog,
                    catalog_ref=self._catalog_ref,
                    top_k=ks[i],
                )
            )
        return out

    def recommend(
        self, profile: PatientProfile, candidate_ids: Sequence[str] | None = None, top_k: int = DEFAULT_TOP_K
    ) -> ExplainedRecommendation:
        """Ranked, explained options for one validated profile."""
        return self.score([profile], [candidate_ids], top_k)[0].explained()

    def recommend_batch(
        self,
        profiles: Sequence[PatientProfile],
        candidate_ids: Sequence[Sequence[str] | None] | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> list[ExplainedRecommendation]:
        """Many validated profiles at once: features, predictions and TreeSHAP are computed for the whole batch."""
        return [s.explained() for s in self.score(profiles, candidate_ids, top_k)]

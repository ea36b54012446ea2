"""The in-process recommendation engine: one loaded model package -> ExplainedRecommendation.

    profile --assemble_features--> FeatureVector --predict (TreeSHAP margins + calibration)--> OptionPrediction[]
        --rank_options (+ CPIC rules)--> RankedRecommendation --explain_options--> ExplainedRecommendation

The CLI (without --target), the gRPC service and the report all run this same code. Per-option boosters are
evaluated by the exact TreeSHAP in :mod:`precisionpain.explain.treeshap`, so the probability shown and its
explanation come from the same margins (base + sum of contributions = margin).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from precisionpain.errors import ModelCatalogMismatchError, ModelError
from precisionpain.explain.contributions import DEFAULT_TOP_K, explain_options
from precisionpain.features.assemble import assemble_features
from precisionpain.features.frame import profiles_to_frame
from precisionpain.models.card import model_summary
from precisionpain.models.package import LoadedPackage
from precisionpain.provenance import code_version
from precisionpain.ranking import check_candidates, data_warnings, rank_options
from precisionpain.schema import (
    ExplainedRecommendation,
    FeatureVector,
    Interval,
    ModelSummary,
    OptionPrediction,
    PatientProfile,
    Provenance,
)

PER_OPTION_STRATEGIES = ("t_learner", "ipw_t_learner")
_SEP = "\x1f"


@dataclass(frozen=True)
class ModelIdentity:
    """Where the loaded model came from (registry name, version, alias, run, URI)."""

    name: str
    version: str = ""
    alias: str = ""
    run_id: str = ""
    uri: str = ""


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Recommender:
    """Holds one model package and everything precomputed to answer quickly; safe to share across threads."""

    def __init__(
        self,
        package: LoadedPackage,
        identity: ModelIdentity | None = None,
        *,
        expected_catalog_sha256: str | None = None,
        clock: Callable[[], str] = _utc_now,
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
            raise ModelCatalogMismatchError("the model's feature list differs from its catalog's feature columns")
        est = package.estimator
        self.option_ids: tuple[str, ...] = tuple(str(o) for o in est.options_)
        unknown = [o for o in self.option_ids if o not in package.options.ids]
        if unknown:
            raise ModelCatalogMismatchError(f"the model ranks options missing from its catalog: {', '.join(unknown)}")
        self.fast = est.strategy in PER_OPTION_STRATEGIES
        self.alpha = meta.interval_alpha
        self._point: Any = None
        self._replicates: Any = None
        self._n_replicates = 0
        if self.fast:
            names = list(meta.feature_ids)
            self._point = TreeEnsembleSet.from_boosters({str(o): est.boosters_[o] for o in est.options_}, names)
            reps = {
                f"{o}{_SEP}{r}": booster
                for o in est.options_
                for r, booster in enumerate(est.interval_boosters_.get(o, ()))
            }
            if reps:
                self._n_replicates = len(est.interval_boosters_[est.options_[0]])
                self._replicates = TreeEnsembleSet.from_boosters(reps, names)
        self.summary: ModelSummary = model_summary(meta, version=self.identity.version, alias=self.identity.alias)

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
        meta = self.package.metadata
        cpic = {r.cpic_data_version for r in self.package.tables.recommendations if r.cpic_data_version}
        return Provenance(
            model_name=self.identity.name,
            model_version=self.identity.version,
            model_alias=self.identity.alias,
            model_run_id=self.identity.run_id or meta.run_id,
            catalog_id=meta.catalog_id,
            catalog_version=meta.catalog_version,
            catalog_sha256=meta.catalog_sha256,
            options_catalog_sha256=meta.options_catalog_sha256,
            code_version=code_version(),
            cpic_data_version=",".join(sorted(cpic)),
            generated_at=self._clock(),
        )

    # ------------------------------------------------------------------------------------------ scoring

    def _score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(p, lower, upper, contributions (n,k,p), base_values (n,k), margins (n,k)) in option_ids order."""
        est = self.package.estimator
        if self.fast:
            shap = self._point.explain(X)
            margins = shap.margins
            contributions = shap.contributions
            base = np.broadcast_to(self._point.base_values, margins.shape)
            p = est.outcomes_from_margins(margins)
            if self._replicates is not None:
                reps = self._replicates.margins(X).reshape(X.shape[0], len(self.option_ids), self._n_replicates)
                interval = est.interval_from_margins(margins, reps, self.alpha)
                lower, upper = interval.lower, interval.upper
            else:
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

    def _predictions(self, p: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[OptionPrediction]:
        level = 1.0 - self.alpha
        pp = np.clip(p, 0.0, 1.0).tolist()
        lo = np.clip(lower, 0.0, 1.0).tolist()
        hi = np.clip(upper, 0.0, 1.0).tolist()
        return [
            OptionPrediction.model_construct(
                option_id=o,
                p_response=pp[j],
                interval=Interval.model_construct(lower=lo[j], upper=hi[j], level=level),
                model_name=self.identity.name,
                model_version=self.identity.version,
            )
            for j, o in enumerate(self.option_ids)
        ]

    def _finish(
        self,
        profile: PatientProfile,
        features: FeatureVector,
        scored: tuple[np.ndarray, ...],
        candidate_ids: Sequence[str] | None,
        top_k: int,
    ) -> ExplainedRecommendation:
        p, lower, upper, contributions, base, margins = scored
        pkg = self.package
        warnings = data_warnings(profile, features, pkg.catalog, pkg.metadata.training_ranges)
        ranked = rank_options(
            profile,
            self._predictions(p, lower, upper),
            pkg.options,
            pkg.tables,
            self.provenance(),
            warnings=warnings,
            candidate_ids=candidate_ids,
        )
        shown = {o.option_id for o in ranked.options} | {o.option_id for o in ranked.excluded}
        idx = [j for j, o in enumerate(self.option_ids) if o in shown]
        explanations = explain_options(
            [self.option_ids[j] for j in idx],
            np.asarray(features.values),
            contributions[idx],
            base[idx],
            margins[idx],
            pkg.catalog,
            top_k,
        )
        return ExplainedRecommendation(recommendation=ranked, explanations=explanations, features=features)

    def _candidates(self, profile: PatientProfile, candidate_ids: Sequence[str] | None) -> Sequence[str] | None:
        wanted = candidate_ids or profile.candidate_option_ids
        if wanted:
            check_candidates(wanted, self.package.options)
            missing = [o for o in wanted if o not in self.option_ids]
            if missing:
                raise ModelError(f"the loaded model has no model for option(s) {', '.join(missing)}")
            return tuple(wanted)
        return self.option_ids

    # ------------------------------------------------------------------------------------------ public

    def features(self, profile: PatientProfile) -> FeatureVector:
        return assemble_features(profile, self.package.catalog, self.package.tables)

    def recommend(
        self, profile: PatientProfile, candidate_ids: Sequence[str] | None = None, top_k: int = DEFAULT_TOP_K
    ) -> ExplainedRecommendation:
        """Ranked, explained options for one validated profile."""
        wanted = self._candidates(profile, candidate_ids)
        features = self.features(profile)
        X = np.asarray(features.values, dtype=np.float64)[None, :]
        scored = self._score(X)
        return self._finish(profile, features, tuple(a[0] for a in scored), wanted, top_k)

    def recommend_batch(
        self,
        profiles: Sequence[PatientProfile],
        candidate_ids: Sequence[Sequence[str] | None] | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> list[ExplainedRecommendation]:
        """Many validated profiles at once: features, predictions and TreeSHAP are computed for the whole batch."""
        if not profiles:
            return []
        cands = list(candidate_ids) if candidate_ids is not None else [None] * len(profiles)
        wanted = [self._candidates(p, c) for p, c in zip(profiles, cands, strict=True)]
        pkg = self.package
        frame = profiles_to_frame(profiles, pkg.catalog)
        matrix = assemble_features(frame, pkg.catalog, pkg.tables, validate=False)
        scored = self._score(matrix.values)
        out = []
        for i, profile in enumerate(profiles):
            values = matrix.values[i]
            features = FeatureVector(
                catalog=matrix.catalog,
                names=matrix.names,
                values=tuple(values.tolist()),
                missing=tuple(n for n, v in zip(matrix.names, values, strict=True) if v != v),
            )
            out.append(self._finish(profile, features, tuple(a[i] for a in scored), wanted[i], top_k))
        return out

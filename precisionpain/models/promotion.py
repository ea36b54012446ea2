"""Whether a newly trained version takes ``champion`` from the current one.

The comparison is paired and made on patients new to both models. Both policies ("give each patient the top
option the safety rules do not exclude", from each model's own predictions) are scored patient by patient with the
same doubly robust (AIPW) estimator and the challenger's nuisance models, on the challenger's held-out patients.
The challenger is promoted only when the one-sided lower confidence bound of the mean paired difference is above
``promotion.min_improvement`` (a paired normal bound: mean - z * sd / sqrt(n)): a gain inside the noise of a
small held-out set does not move the champion.

Those held-out patients must be new to the champion too. Each training run records who it trained on
(:class:`TrainingPatients`: keyed 64-bit hashes of the patient ids, never the ids, and the data's namespace);
a later run counts how many of its held-out patients the champion was trained on, and any overlap blocks
promotion with the count in the decision. The namespace matters for synthetic cohorts, whose ids
(``SYN-0000001``, ...) repeat in every cohort: there it is the generator's seed and parameters, so cohorts with
another seed are other patients and cohorts with the same seed are treated as the same patients. A champion
without a record can be compared only on the same table split the same way (identical held-out patients).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from precisionpain.base import FrozenModel
from precisionpain.errors import ModelError, ValidationError, Violation, kind_of
from precisionpain.models.config import PromotionConfig, SplitConfig

RECORD_FORMAT = "precisionpain.training_patients"
RECORD_FORMAT_VERSION = 1
RECORD_FOLDER = "data"  # run artifact folder of the record
RECORD_META = "training_patients.json"
RECORD_DIGESTS = "training_patients.npy"
_SALT_BYTES = 16


class PairedComparison(FrozenModel):
    """Challenger minus champion, patient by patient, on the same held-out patients.

    ``difference`` is the mean paired difference of DR scores (= the difference of the two DR policy values),
    ``standard_error`` its standard error (sd of the differences / sqrt(n)), ``lower_bound`` the one-sided
    ``confidence`` lower bound ``difference - z * standard_error``; ``n_discordant`` counts the patients the two
    policies treat differently (the only ones whose differences are not zero)."""

    n_patients: int
    n_discordant: int
    challenger_value: float
    champion_value: float
    difference: float
    standard_error: float
    lower_bound: float
    confidence: float

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metric names (non-finite ones left out)."""
        values = {
            "promotion.n_patients": float(self.n_patients),
            "promotion.n_discordant": float(self.n_discordant),
            "promotion.challenger_dr_policy_value": self.challenger_value,
            "promotion.champion_dr_policy_value": self.champion_value,
            "promotion.dr_difference": self.difference,
            "promotion.dr_difference_se": self.standard_error,
            "promotion.dr_difference_lower_bound": self.lower_bound,
            "promotion.confidence": self.confidence,
        }
        return {k: v for k, v in values.items() if math.isfinite(v)}


def compare_paired(
    challenger_scores: Any, champion_scores: Any, *, confidence: float, n_discordant: int
) -> PairedComparison:
    """The paired comparison of two policies' per-patient DR scores on the same patients (same order)."""
    problems: list[Violation] = []
    a = np.asarray(challenger_scores, dtype=np.float64)
    b = np.asarray(champion_scores, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        problems.append(
            Violation("challenger_scores", "must be a non-empty vector of finite numbers", kind_of(a))
        )
    if b.shape != a.shape or not np.isfinite(b).all():
        problems.append(
            Violation("champion_scores", "must be finite numbers, one per challenger score", kind_of(b))
        )
    if not 0.5 <= confidence < 1.0:
        problems.append(Violation("confidence", "must be in [0.5, 1)", kind_of(confidence)))
    ValidationError.raise_if_any("compare_paired", problems)
    d = a - b
    n = int(d.size)
    difference = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    lower = difference - NormalDist().inv_cdf(confidence) * se if math.isfinite(se) else -math.inf
    return PairedComparison(
        n_patients=n,
        n_discordant=int(n_discordant),
        challenger_value=float(a.mean()),
        champion_value=float(b.mean()),
        difference=difference,
        standard_error=se,
        lower_bound=float(lower),
        confidence=float(confidence),
    )


def promotion_rule(config: PromotionConfig) -> str:
    """The rule in words, as recorded with every decision."""
    return (
        f"champion moves only when the one-sided {config.confidence:.0%} lower bound of the paired difference in "
        f"DR policy value (challenger - champion, on held-out patients neither model was trained on) is above "
        f"{config.min_improvement:g}"
    )


def decide_promotion(
    version: str,
    challenger_value: float,
    champion_version: str | None,
    comparison: PairedComparison | None,
    why: str,
    config: PromotionConfig,
) -> tuple[bool, str]:
    """Whether ``version`` becomes champion, and the sentence that says why with both figures (difference and its
    lower bound). ``why`` explains a missing comparison (no champion yet, champion not comparable)."""
    if champion_version is None:
        return True, f"v{version} becomes champion: {why} (DR policy value {challenger_value:.4f})"
    if comparison is None:
        return False, f"v{version} stays challenger: {why}; promote it by hand if intended"
    c = comparison
    figures = (
        f"DR policy value {c.challenger_value:.4f} vs champion v{champion_version} ({c.champion_value:.4f}) on the "
        f"same {c.n_patients:,} held-out patients: difference {c.difference:+.4f}, one-sided {c.confidence:.0%} "
        f"lower bound {c.lower_bound:+.4f}"
    )
    required = config.min_improvement
    if c.lower_bound > required:
        return True, f"v{version} becomes champion: {figures} > {required:g} required"
    because = "not better than the champion" if c.difference <= required else "the gain is within the noise"
    return False, f"v{version} stays challenger: {figures}, not above the {required:g} required ({because})"


# ------------------------------------------------------------------------------------ who a run trained on


@dataclass(frozen=True)
class TrainingPatients:
    """Who one run trained on: keyed 64-bit BLAKE2b hashes of the patient ids (sorted, unique), the key (a
    random salt per run), the patient column and the data's namespace (see the module docstring)."""

    namespace: str
    group_column: str
    salt: bytes
    digests: np.ndarray

    @classmethod
    def of(
        cls, ids: Iterable[Any], *, namespace: str, group_column: str, salt: bytes | None = None
    ) -> TrainingPatients:
        key = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
        return cls(namespace, group_column, key, np.unique(_digests(ids, key)))

    def count_seen(self, ids: Iterable[Any], namespace: str) -> int:
        """How many of ``ids`` (patients of a table with this ``namespace``) are among these patients."""
        if namespace != self.namespace:
            return 0
        return int(np.isin(_digests(ids, self.salt), self.digests).sum())

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": RECORD_FORMAT,
            "format_version": RECORD_FORMAT_VERSION,
            "hash": "blake2b-64, keyed with salt",
            "salt": self.salt.hex(),
            "namespace": self.namespace,
            "group_column": self.group_column,
            "n_patients": int(self.digests.size),
        }
        (folder / RECORD_META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        np.save(folder / RECORD_DIGESTS, self.digests.astype(np.uint64), allow_pickle=False)

    @classmethod
    def read(cls, folder: Path) -> TrainingPatients | None:
        """The record in ``folder``; None when there is none; ModelError when it is malformed."""
        meta_path, digest_path = folder / RECORD_META, folder / RECORD_DIGESTS
        if not meta_path.is_file() or not digest_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            digests = np.load(digest_path, allow_pickle=False)
            ok = (
                isinstance(meta, dict)
                and meta.get("format") == RECORD_FORMAT
                and meta.get("format_version") == RECORD_FORMAT_VERSION
                and isinstance(meta.get("namespace"), str)
                and isinstance(meta.get("group_column"), str)
                and digests.dtype == np.uint64
                and digests.ndim == 1
                and digests.size == meta.get("n_patients")
            )
            salt = bytes.fromhex(meta["salt"]) if ok else b""
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok or len(salt) != _SALT_BYTES:
            raise ModelError("the run's record of its training patients is malformed")
        return cls(meta["namespace"], meta["group_column"], salt, np.unique(digests))


def _digests(ids: Iterable[Any], key: bytes) -> np.ndarray:
    values = [
        int.from_bytes(hashlib.blake2b(str(i).encode("utf-8"), digest_size=8, key=key).digest(), "little")
        for i in ids
    ]
    return np.asarray(values, dtype=np.uint64)


def overlap_reason(
    champion_version: str,
    champion_patients: TrainingPatients | None,
    champion_fingerprint: str,
    champion_split: SplitConfig,
    *,
    fingerprint: str,
    split: SplitConfig,
    namespace: str,
    held_out_ids: list[Any] | None,
) -> str:
    """Why the challenger's held-out patients cannot be used to compare it with the champion ("" when they can):
    some of them were among the champion's training patients, or the champion's run recorded none to check
    against and was trained on another table or split."""
    if champion_patients is not None and held_out_ids is not None:
        seen = champion_patients.count_seen(held_out_ids, namespace)
        if not seen:
            return ""
        same = f" ({namespace})" if namespace else ""
        return (
            f"{seen:,} of its {len(held_out_ids):,} held-out patients were among champion v{champion_version}'s "
            f"training patients{same}, so the comparison would not be on patients new to both models"
        )
    if champion_fingerprint == fingerprint and champion_split == split:
        return ""  # the same table split the same way: the same held-out patients
    return (
        f"champion v{champion_version}'s run recorded no training patients to check against, and it was trained "
        "on another table or split, so these held-out patients may include patients it was trained on"
    )

"""XGBoost tree ensembles as flat arrays for the TreeSHAP kernels.

A booster is read from its JSON model (``Booster.save_raw("json")``): per tree ``left_children``,
``right_children``, ``split_indices``, ``split_conditions`` (threshold of a split, value of a leaf),
``default_left`` (where a missing value goes), ``split_type`` and ``sum_hessian`` (the cover: the share of
the training data reaching a node, which path-dependent TreeSHAP uses as the distribution of a feature that
is left out). Thresholds, leaf values and covers are float32 numbers in the model and are kept exactly; a
row goes left when ``float32(x) < threshold`` or, for a missing value, when ``default_left``.

Layout. Trees are grouped by depth. In a group every tree is padded to a complete binary tree of the
group's depth and stored in heap order (children of node ``j`` at ``2j+1`` and ``2j+2``, leaves after the
``2**depth - 1`` internal nodes), so the kernels need no child pointers and no leaf tests. A leaf above the
bottom level is padded with splits on *padding features* (one per level, always missing and sent left; both
children keep the leaf's value and half of its cover). Padding changes neither the prediction nor any real
feature's contribution: such a split only moves value between two identical subtrees, and its own
contribution lands in a padding column that is dropped.

For path-dependent TreeSHAP a feature split on more than once along a path counts once, with the product of
its cover ratios and the conjunction of its conditions. The layout keeps for every edge the merged cover
ratio along its path (``merged_z``) and, for every split on a feature already split on above, the heap index
of that earlier edge (``prev_edge``), so that the kernels merge the conditions per row.

Missing values. Each split stores ``split_index = feature + default_left * row_width`` into a doubled row
whose first half holds the values with NaN replaced by +inf and whose second half has NaN replaced by -inf,
so ``row[split_index] < threshold`` is XGBoost's rule for every value, missing or not. This needs finite
thresholds (checked when parsing) and finite values (checked on input).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Deepest tree accepted; a tree is padded to 2**(depth+1) - 1 nodes.
MAX_TREE_DEPTH = 12

# Link between XGBoost's ``base_score`` (stored on the response scale) and the margin it adds, per objective.
_LOGIT_OBJECTIVES = frozenset({"binary:logistic", "reg:logistic"})
_LOG_OBJECTIVES = frozenset({"count:poisson", "reg:gamma", "reg:tweedie"})
_IDENTITY_OBJECTIVES = frozenset(
    {
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:pseudohubererror",
        "reg:absoluteerror",
        "binary:logitraw",
    }
)
SUPPORTED_OBJECTIVES = _LOGIT_OBJECTIVES | _LOG_OBJECTIVES | _IDENTITY_OBJECTIVES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
ByteArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ModelProblem:
    """Why one option's booster cannot be explained. ``catalog_mismatch`` marks feature-set disagreements."""

    option_id: str
    rule: str
    catalog_mismatch: bool = False

    def describe(self) -> str:
        return f"option {self.option_id!r}: {self.rule}"


@dataclass(frozen=True, slots=True)
class ParsedTree:
    """One regression tree in XGBoost's node numbering (unreachable nodes are ignored)."""

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    threshold: npt.NDArray[np.float32]
    default_left: npt.NDArray[np.bool_]
    cover: FloatArray
    value: FloatArray
    depth: int


@dataclass(frozen=True, slots=True)
class ParsedBooster:
    """The trees of one option's booster and the margin its ``base_score`` contributes."""

    option_id: str
    objective: str
    base_margin: float
    trees: tuple[ParsedTree, ...]


@dataclass(frozen=True, slots=True)
class DepthGroup:
    """The trees of one depth, padded to complete heaps; every array is ``[tree, ...]`` and read-only.

    With ``ni = 2**depth - 1`` internal nodes: ``feature``, ``split_index``, ``threshold``, ``prev_edge``
    and ``has_prev`` are ``[tree, ni]``; ``merged_z`` is ``[tree, 2 * ni + 1]`` (the edge into each heap
    node; entry 0 is unused); ``leaf_value`` is ``[tree, ni + 1]``; ``bottom_mean`` is the cover-weighted
    mean of the two leaves under each bottom-level split, ``[tree, (ni + 1) // 2]``; ``pair_has_prev`` flags
    each split of the level above the bottom whose subtree (itself and its two children) contains a split on
    a feature already split on above it, ``[tree, max(1, (ni + 1) // 4)]``.
    """

    depth: int
    feature: IntArray
    split_index: npt.NDArray[np.uint32]
    threshold: npt.NDArray[np.float32]
    prev_edge: IntArray
    has_prev: ByteArray
    pair_has_prev: ByteArray
    merged_z: FloatArray
    leaf_value: FloatArray
    bottom_mean: FloatArray
    option: IntArray

    @property
    def n_trees(self) -> int:
        return int(self.feature.shape[0])


@dataclass(frozen=True, slots=True)
class EnsembleLayout:
    """Every option's trees grouped by depth, with per-option constants.

    ``row_width`` is the width of one half of the doubled row (features, then one padding column per level).
    """

    n_features: int
    n_options: int
    row_width: int
    groups: tuple[DepthGroup, ...]
    base_values: FloatArray  # (k,) base margin + expected tree output: the SHAP base value
    constant_margins: FloatArray  # (k,) base margin + single-leaf trees
    max_depth: int
    n_trees: IntArray  # (k,)


# ---------------------------------------------------------------------------------------------- parsing


def _as_float(text: Any) -> float:
    """XGBoost writes ``base_score`` as ``"5E-1"`` (up to 2.x) or ``"[5E-1]"`` (3.x, one value per target)."""
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        raise ValueError("not a number")
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        parts = [p for p in stripped[1:-1].split(",") if p.strip()]
        if len(parts) != 1:
            raise ValueError("one intercept per target")
        stripped = parts[0]
    return float(stripped)


def _base_margin(objective: str, base_score: float) -> float:
    if objective in _LOGIT_OBJECTIVES:
        if not 0.0 < base_score < 1.0:
            raise ValueError("base_score of a logistic objective must lie in (0, 1)")
        return math.log(base_score / (1.0 - base_score))
    if objective in _LOG_OBJECTIVES:
        if not base_score > 0.0:
            raise ValueError("base_score of a log-link objective must be positive")
        return math.log(base_score)
    return base_score


def _int_param(params: Mapping[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    return int(value) if isinstance(value, int | str) else default


def parse_booster_json(
    option_id: str, model: bytes | str | Mapping[str, Any], feature_names: Sequence[str]
) -> tuple[ParsedBooster | None, list[ModelProblem]]:
    """Read one booster's JSON model; return it, or ``None`` and every reason it cannot be explained."""
    problems: list[ModelProblem] = []

    def problem(rule: str, *, mismatch: bool = False) -> None:
        problems.append(ModelProblem(option_id, rule, mismatch))

    try:
        doc = json.loads(model) if isinstance(model, bytes | str) else model
        learner = doc["learner"]
        params = learner["learner_model_param"]
        objective = str(learner["objective"]["name"])
        gbm = learner["gradient_booster"]
        gbm_name = str(gbm.get("name", ""))
    except (ValueError, KeyError, TypeError):
        problem("the model is not an XGBoost JSON model (learner, objective or gradient_booster missing)")
        return None, problems

    if gbm_name != "gbtree":
        problem(f"booster type {gbm_name!r} is not supported; only 'gbtree' tree ensembles are")
        return None, problems
    if objective not in SUPPORTED_OBJECTIVES:
        problem(
            f"objective {objective!r} is not supported (one margin per row is required; supported: "
            f"{', '.join(sorted(SUPPORTED_OBJECTIVES))})"
        )
    n_class = _int_param(params, "num_class", 0)
    n_target = _int_param(params, "num_target", 1)
    single_output = n_class <= 1 and n_target <= 1
    if not single_output:
        problem(f"multi-output boosters are not supported (num_class={n_class}, num_target={n_target})")

    n_features = len(feature_names)
    model_features = _int_param(params, "num_feature", -1)
    if model_features != n_features:
        problem(
            f"the booster has {model_features} features but the feature list has {n_features}", mismatch=True
        )
    names = learner.get("feature_names") or []
    if names and list(names) != list(feature_names):
        first = next(
            (i for i, (a, b) in enumerate(zip(names, feature_names, strict=False)) if a != b),
            min(len(names), n_features),
        )
        problem(
            f"the booster's feature names differ from the feature list (first at position {first})",
            mismatch=True,
        )
    types = learner.get("feature_types") or []
    if any(t == "c" for t in types):
        problem("categorical features are not supported (feature_types contains 'c')")

    base_margin = 0.0
    if single_output and objective in SUPPORTED_OBJECTIVES:
        try:
            base_margin = _base_margin(objective, _as_float(params.get("base_score", "0.5")))
            if not math.isfinite(base_margin):
                raise ValueError("the base margin is not finite")
        except ValueError as exc:
            problem(f"base_score cannot be used ({exc})")

    try:
        tree_docs = gbm["model"]["trees"]
        tree_info = list(gbm["model"].get("tree_info", []))
    except (KeyError, TypeError):
        problem("the model has no gbtree trees")
        return None, problems
    if single_output and any(int(g) != 0 for g in tree_info):
        problem("trees belong to more than one output group (multi-output)")

    trees: list[ParsedTree] = []
    bad_trees: dict[str, list[int]] = {}
    for index, tree_doc in enumerate(tree_docs):
        tree, rule = _parse_tree(tree_doc, max(model_features, n_features))
        if rule is not None:
            bad_trees.setdefault(rule, []).append(index)
        elif tree is not None:
            trees.append(tree)
    for rule, indices in bad_trees.items():
        where = (
            f"tree {indices[0]}" if len(indices) == 1 else f"{len(indices)} trees (first: tree {indices[0]})"
        )
        problem(f"{where}: {rule}")
    if problems:
        return None, problems
    return ParsedBooster(option_id, objective, base_margin, tuple(trees)), problems


def _parse_tree(doc: Mapping[str, Any], n_features: int) -> tuple[ParsedTree | None, str | None]:
    try:
        left = np.asarray(doc["left_children"], dtype=np.int64)
        right = np.asarray(doc["right_children"], dtype=np.int64)
        feature = np.asarray(doc["split_indices"], dtype=np.int64)
        # Parse as float64 then round to float32: the values are float32 numbers written in shortest form.
        condition = np.asarray(doc["split_conditions"], dtype=np.float64).astype(np.float32)
        default_left = np.asarray(doc["default_left"], dtype=np.int64) != 0
        cover = np.asarray(doc["sum_hessian"], dtype=np.float64).astype(np.float32).astype(np.float64)
        split_type = np.asarray(doc.get("split_type", []), dtype=np.int64)
        leaf_size = int(doc.get("tree_param", {}).get("size_leaf_vector", "1"))
    except (KeyError, TypeError, ValueError):
        return None, "malformed tree (missing or non-numeric node arrays)"
    n = left.shape[0]
    if n == 0 or any(a.shape != (n,) for a in (right, feature, condition, default_left, cover)):
        return None, "malformed tree (node arrays of different lengths)"
    if leaf_size > 1:
        return None, f"vector leaves are not supported (size_leaf_vector={leaf_size})"
    if (split_type.size and np.any(split_type != 0)) or doc.get("categories"):
        return None, "categorical splits are not supported"

    # Walk from the root: every reachable node once, children in range, depth bounded.
    depth = np.full(n, -1, dtype=np.int64)
    depth[0] = 0
    stack = [0]
    order: list[int] = []
    while stack:
        node = stack.pop()
        order.append(node)
        lo, hi = int(left[node]), int(right[node])
        if lo == -1 and hi == -1:
            continue
        if not (0 < lo < n and 0 < hi < n) or lo == hi or depth[lo] >= 0 or depth[hi] >= 0:
            return None, "malformed tree (child indices out of range or shared)"
        if depth[node] + 1 > MAX_TREE_DEPTH:
            return None, f"depth exceeds the supported maximum of {MAX_TREE_DEPTH}"
        depth[lo] = depth[hi] = depth[node] + 1
        stack.extend((hi, lo))
    reach = np.asarray(order, dtype=np.int64)
    internal = reach[left[reach] >= 0]
    leaves = reach[left[reach] < 0]
    if internal.size and (np.any(feature[internal] < 0) or np.any(feature[internal] >= n_features)):
        return None, "a split uses a feature index outside the feature list"
    if not np.all(np.isfinite(cover[reach])) or np.any(cover[reach] <= 0.0):
        return (
            None,
            "a node has a non-positive or non-finite cover (sum_hessian); path-dependent TreeSHAP needs covers",
        )
    if internal.size and not np.all(np.isfinite(condition[internal])):
        return None, "a split threshold is not finite"
    value = condition.astype(np.float64)
    if not np.all(np.isfinite(value[leaves])):
        return None, "a leaf value is not finite"
    return (
        ParsedTree(left, right, feature, condition, default_left, cover, value, int(depth[reach].max())),
        None,
    )


def option_parts(
    booster: ParsedBooster, n_features: int, option_ids: tuple[str, ...], separator: str
) -> list[ParsedBooster]:
    """A booster over ``n_features`` features and one 0/1 column per option (columns ``n_features + j``) as the
    parts :meth:`~precisionpain.explain.treeshap.TreeEnsembleSet.from_option_column_boosters` lays out: the
    booster itself, then per option the trees with a split on its column twice, once with that column moved to
    ``n_features + len(option_ids) + j`` and once with negated leaves (no base margin)."""
    k = len(option_ids)
    parts = [booster]
    remapped: list[list[ParsedTree]] = [[] for _ in range(k)]
    negated: list[list[ParsedTree]] = [[] for _ in range(k)]
    for tree in booster.trees:
        splits = tree.feature[tree.left >= 0]
        for j in np.unique(splits[splits >= n_features]) - n_features:
            column = n_features + int(j)
            feature = np.where(tree.feature == column, column + k, tree.feature)
            remapped[j].append(_replace(tree, feature=feature))
            negated[j].append(_replace(tree, value=-tree.value))
    for j, option in enumerate(option_ids):
        trees = tuple(remapped[j] + negated[j])
        parts.append(ParsedBooster(f"{booster.option_id}{separator}{option}", booster.objective, 0.0, trees))
    return parts


def _replace(tree: ParsedTree, **changes: Any) -> ParsedTree:
    fields = {name: getattr(tree, name) for name in ParsedTree.__slots__}
    return ParsedTree(**(fields | changes))


# ---------------------------------------------------------------------------------------------- layout


def _expected_value(tree: ParsedTree) -> float:
    """Cover-weighted mean leaf value: sum over leaves of value times the product of cover ratios."""
    total = 0.0
    stack: list[tuple[int, float]] = [(0, 1.0)]
    while stack:
        node, weight = stack.pop()
        lo = int(tree.left[node])
        if lo < 0:
            total += float(tree.value[node]) * weight
            continue
        hi = int(tree.right[node])
        parent = float(tree.cover[node])
        stack.append((lo, weight * (float(tree.cover[lo]) / parent)))
        stack.append((hi, weight * (float(tree.cover[hi]) / parent)))
    return total


class _GroupBuilder:
    """Fills the heap arrays of one depth group, one tree per row."""

    def __init__(self, depth: int, n_trees: int, n_features: int, row_width: int) -> None:
        self.depth = depth
        self.n_features = n_features
        self.row_width = row_width
        ni = (1 << depth) - 1
        self.ni = ni
        self.feature = np.zeros((n_trees, ni), dtype=np.int32)
        self.default_left = np.zeros((n_trees, ni), dtype=np.int64)
        self.threshold = np.zeros((n_trees, ni), dtype=np.float32)
        self.prev_edge = np.zeros((n_trees, ni), dtype=np.int32)
        self.has_prev = np.zeros((n_trees, ni), dtype=np.uint8)
        self.merged_z = np.ones((n_trees, 2 * ni + 1), dtype=np.float64)
        self.leaf_value = np.zeros((n_trees, ni + 1), dtype=np.float64)
        self.option = np.zeros(n_trees, dtype=np.int32)

    def add(self, row: int, option: int, tree: ParsedTree) -> None:
        self.option[row] = option
        ni, depth = self.ni, self.depth
        # (node in the tree, or -1 below a padded leaf; heap index; level; leaf value; {feature: heap edge})
        stack: list[tuple[int, int, int, float, dict[int, int]]] = [(0, 0, 0, 0.0, {})]
        while stack:
            node, heap, level, value, path = stack.pop()
            if node < 0 or int(tree.left[node]) < 0:
                if node >= 0:
                    value = float(tree.value[node])
                if level == depth:
                    self.leaf_value[row, heap - ni] = value
                    continue
                # Padding split: a feature of its own per level, always missing, default left.
                self.feature[row, heap] = self.n_features + level
                self.default_left[row, heap] = 1
                self.merged_z[row, 2 * heap + 1] = 0.5
                self.merged_z[row, 2 * heap + 2] = 0.5
                stack.append((-1, 2 * heap + 2, level + 1, value, path))
                stack.append((-1, 2 * heap + 1, level + 1, value, path))
                continue
            feature = int(tree.feature[node])
            self.feature[row, heap] = feature
            self.threshold[row, heap] = tree.threshold[node]
            self.default_left[row, heap] = 1 if tree.default_left[node] else 0
            earlier = path.get(feature)
            base_z = 1.0
            if earlier is not None:
                self.prev_edge[row, heap] = earlier
                self.has_prev[row, heap] = 1
                base_z = float(self.merged_z[row, earlier])
            parent_cover = float(tree.cover[node])
            for child, child_heap in (
                (int(tree.right[node]), 2 * heap + 2),
                (int(tree.left[node]), 2 * heap + 1),
            ):
                self.merged_z[row, child_heap] = base_z * (float(tree.cover[child]) / parent_cover)
                child_path = dict(path)
                child_path[feature] = child_heap
                stack.append((child, child_heap, level + 1, 0.0, child_path))

    def finish(self) -> DepthGroup:
        ni = self.ni
        bottom = np.arange((ni - 1) // 2, ni)
        bottom_mean = (
            self.merged_z[:, 2 * bottom + 1] * self.leaf_value[:, 2 * bottom + 1 - ni]
            + self.merged_z[:, 2 * bottom + 2] * self.leaf_value[:, 2 * bottom + 2 - ni]
        )
        if self.depth >= 2:
            pairs = np.arange((ni - 3) // 4, (ni - 1) // 2)
            pair_has_prev = (
                self.has_prev[:, pairs] | self.has_prev[:, 2 * pairs + 1] | self.has_prev[:, 2 * pairs + 2]
            )
        else:
            pair_has_prev = np.zeros((self.feature.shape[0], 1), dtype=np.uint8)
        split_index = (self.feature + self.default_left * self.row_width).astype(np.uint32)
        arrays = (
            self.feature, split_index, self.threshold, self.prev_edge, self.has_prev,
            np.ascontiguousarray(pair_has_prev), self.merged_z, self.leaf_value,
            np.ascontiguousarray(bottom_mean), self.option,
        )  # fmt: skip
        for array in arrays:
            array.setflags(write=False)
        return DepthGroup(self.depth, *arrays)


def build_layout(boosters: Sequence[ParsedBooster], n_features: int) -> EnsembleLayout:
    """Group every tree of every option by depth and pad it into the heap layout."""
    k = len(boosters)
    base_values = np.zeros(k, dtype=np.float64)
    constant_margins = np.zeros(k, dtype=np.float64)
    n_trees = np.zeros(k, dtype=np.int32)
    by_depth: dict[int, list[tuple[int, ParsedTree]]] = {}
    for option, booster in enumerate(boosters):
        base_values[option] = booster.base_margin
        constant_margins[option] = booster.base_margin
        n_trees[option] = len(booster.trees)
        for tree in booster.trees:
            base_values[option] += _expected_value(tree)
            if tree.depth == 0:
                constant_margins[option] += float(tree.value[0])
            else:
                by_depth.setdefault(tree.depth, []).append((option, tree))
    max_depth = max(by_depth, default=0)
    row_width = n_features + max_depth
    groups: list[DepthGroup] = []
    for depth in sorted(by_depth):
        members = by_depth[depth]
        builder = _GroupBuilder(depth, len(members), n_features, row_width)
        for row, (option, tree) in enumerate(members):
            builder.add(row, option, tree)
        groups.append(builder.finish())
    for array in (base_values, constant_margins, n_trees):
        array.setflags(write=False)
    return EnsembleLayout(
        n_features=n_features,
        n_options=k,
        row_width=row_width,
        groups=tuple(groups),
        base_values=base_values,
        constant_margins=constant_margins,
        max_depth=max_depth,
        n_trees=n_trees,
    )

"""Figures logged with every training run: calibration per option, global SHAP summaries per option.

Pure functions that return PNG bytes. Figures are built with ``matplotlib.figure.Figure`` and rendered by the
Agg canvas directly: no pyplot state, no display, safe to call from any thread; the training pipeline decides
where the bytes go.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def calibration_plot(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[int]]], title: str
) -> bytes:
    """Reliability diagram: per option, mean predicted vs observed response rate per bin (marker size = n)."""
    n = len(curves)
    cols = min(4, max(1, n))
    rows = int(np.ceil(n / cols))
    fig = _figure(3.2 * cols, 3.0 * rows)
    for i, (name, (pred, obs, count)) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=1, linestyle="--")
        sizes = 10 + 60 * np.asarray(count, dtype=float) / max(
            1.0, float(np.max(count)) if len(count) else 1.0
        )
        ax.plot(pred, obs, color="#1f5fa8", linewidth=1.2)
        ax.scatter(pred, obs, s=sizes, color="#1f5fa8", zorder=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        if i % cols == 0:
            ax.set_ylabel("observed response", fontsize=8)
        if i // cols == rows - 1:
            ax.set_xlabel("predicted p(response)", fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _png(fig)


def shap_bar_plot(mean_abs: np.ndarray, labels: Sequence[str], title: str, max_display: int = 15) -> bytes:
    """Mean |SHAP| per feature (log-odds), largest first."""
    order = np.argsort(-mean_abs)[:max_display][::-1]
    fig = _figure(6.0, 0.32 * len(order) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh([labels[i] for i in order], mean_abs[order], color="#1f5fa8")
    ax.set_xlabel("mean |SHAP value| (log-odds)", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def shap_beeswarm_plot(
    contributions: np.ndarray, values: np.ndarray, labels: Sequence[str], title: str, max_display: int = 15
) -> bytes:
    """Per feature, each patient's SHAP value (x) coloured by the feature value's rank (missing = grey)."""
    mean_abs = np.abs(contributions).mean(axis=0)
    order = np.argsort(-mean_abs)[:max_display][::-1]
    fig = _figure(6.5, 0.36 * len(order) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    rng = np.random.default_rng(0)
    import matplotlib

    cmap = matplotlib.colormaps["coolwarm"]
    xs, ys, colours = [], [], []
    for row, j in enumerate(order):
        x = contributions[:, j]
        v = values[:, j]
        present = ~np.isnan(v)
        c = np.full((len(x), 4), (0.6, 0.6, 0.6, 0.6))
        if present.any():
            ranks = np.argsort(np.argsort(v[present])) / max(1, present.sum() - 1)
            c[present] = cmap(ranks)
        xs.append(x)
        ys.append(row + rng.uniform(-0.3, 0.3, size=len(x)))
        colours.append(c)
    if xs:
        ax.scatter(np.concatenate(xs), np.concatenate(ys), s=5, c=np.concatenate(colours), linewidths=0)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([labels[j] for j in order], fontsize=8)
    ax.axvline(0, color="#666666", linewidth=0.8)
    ax.set_xlabel(
        "SHAP value (log-odds); colour: low (blue) to high (red) feature value, grey = missing", fontsize=7
    )
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)

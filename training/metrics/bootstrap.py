"""95 % confidence intervals by a patient-level bootstrap.

Images of one infant are not independent (both eyes, several views and visits look alike), so
the resampling unit is the **patient**: each resample draws as many patients as there are, with
replacement, and takes all of their images. The interval is the percentile interval of the
resampled statistic (``level`` 0.95 → the 2.5th and 97.5th percentiles) over ``n_resamples``
resamples drawn with numpy from a fixed ``seed``, so the same predictions always give the same
interval. Records without a patient are their own group.

The point estimates stay torchmetrics' (``binary_report``, ``multiclass_report``, ``mask_scores``);
here the resampled statistics are computed from per-patient counts (confusion counts, sums of
per-image Dice), so a thousand resamples cost milliseconds — except AUROC, which is recomputed by
torchmetrics on every resample. A statistic that is undefined in more than half of the resamples
(e.g. sensitivity when most resamples hold no ROP case) gets no interval (``None``).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc

from training.metrics._common import MetricsInputError, ReportMixin

#: Defaults: 95 % intervals from 1000 patient resamples, numpy seed 0.
LEVEL = 0.95
N_RESAMPLES = 1000
SEED = 0
#: An interval is reported only when the statistic is defined in at least this share of resamples.
MIN_DEFINED_SHARE = 0.5


@dataclass(frozen=True)
class ConfidenceIntervals(ReportMixin):
    """Percentile intervals by metric name (``None``: undefined in most resamples)."""

    level: float
    n_resamples: int
    seed: int
    n_groups: int  #: patients (records without a patient count as one each)
    intervals: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    unit: str = "patient"

    def get(self, name: str) -> tuple[float, float] | None:
        return self.intervals.get(name)

    def describe(self) -> str:
        return (
            f"{self.level:.0%} CI: {self.unit}-level bootstrap, {self.n_groups} {self.unit}s, "
            f"{self.n_resamples} resamples, seed {self.seed}"
        )


def _groups(groups: Sequence[Hashable | None]) -> tuple[np.ndarray, int]:
    """Row → group index (rows without a group are their own)."""
    index: dict[Hashable, int] = {}
    out = np.empty(len(groups), np.int64)
    for i, g in enumerate(groups):
        key = ("\0row", i) if g is None else g
        out[i] = index.setdefault(key, len(index))
    return out, len(index)


def resample_weights(n_groups: int, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``(n_resamples, n_groups)`` counts: how often each group is drawn in each resample."""
    if n_groups < 1:
        raise MetricsInputError("no groups to resample")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    return np.stack([np.bincount(row, minlength=n_groups) for row in draws])


def _interval(values: np.ndarray, level: float) -> tuple[float, float] | None:
    values = np.asarray(values, np.float64)
    defined = values[np.isfinite(values)]
    if defined.size < MIN_DEFINED_SHARE * values.size or defined.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(defined, [tail, 100.0 - tail])
    return float(low), float(high)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _per_group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of row values per group; ``values`` (rows, ...) → (groups, ...)."""
    out = np.zeros((n_groups, *values.shape[1:]), np.float64)
    np.add.at(out, group, values)
    return out


def _check(n: int, groups: Sequence[Hashable | None]) -> None:
    if len(groups) != n:
        raise MetricsInputError(f"{len(groups)} patients for {n} predictions")
    if n == 0:
        raise MetricsInputError("nothing to bootstrap")


def binary_intervals(
    y_true: Sequence[int],
    y_score: Sequence[float],
    threshold: float,
    groups: Sequence[Hashable | None],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> ConfidenceIntervals:
    """Intervals of sensitivity, specificity, precision, accuracy, F1 (rule ``score >= threshold``) and AUROC."""
    y = np.asarray(y_true, np.int64)
    s = np.asarray(y_score, np.float64)
    _check(len(y), groups)
    group, n_groups = _groups(groups)
    pred = (s >= threshold).astype(np.int64)
    cells = np.stack(
        [(pred == 1) & (y == 1), (pred == 1) & (y == 0), (pred == 0) & (y == 0), (pred == 0) & (y == 1)], axis=1
    ).astype(np.float64)
    weights = resample_weights(n_groups, n_resamples, seed)
    tp, fp, tn, fn = (weights @ _per_group_sum(cells, group, n_groups)).T
    stats = {
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }
    members = [np.flatnonzero(group == g) for g in range(n_groups)]
    aurocs = np.full(n_resamples, np.nan)
    scores, target = torch.as_tensor(s), torch.as_tensor(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k, row in enumerate(weights):
            idx = np.concatenate([np.repeat(members[g], c) for g, c in enumerate(row) if c])
            t = target[idx]
            if 0 < int(t.sum()) < len(t):
                aurocs[k] = float(binary_auroc(scores[idx], t))
    stats["auroc"] = aurocs
    return ConfidenceIntervals(level, n_resamples, seed, n_groups, {k: _interval(v, level) for k, v in stats.items()})


def multiclass_intervals(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    classes: Sequence[str],
    groups: Sequence[Hashable | None],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> ConfidenceIntervals:
    """Intervals of accuracy, macro F1 and every class's precision, recall and F1
    (``"<class> recall"`` …), from resampled confusion matrices."""
    y = np.asarray(y_true, np.int64)
    p = np.asarray(y_pred, np.int64)
    _check(len(y), groups)
    k = len(classes)
    group, n_groups = _groups(groups)
    cells = np.zeros((len(y), k, k))
    cells[np.arange(len(y)), y, p] = 1.0
    weights = resample_weights(n_groups, n_resamples, seed)
    confusion = np.tensordot(weights, _per_group_sum(cells, group, n_groups), axes=1)  # R×K×K
    diag = np.diagonal(confusion, axis1=1, axis2=2)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    precision, recall = _ratio(diag, predicted), _ratio(diag, support)
    f1 = _ratio(2 * diag, support + predicted)
    stats: dict[str, np.ndarray] = {"accuracy": _ratio(diag.sum(axis=1), confusion.sum(axis=(1, 2)))}
    present = support > 0  # macro over the classes present in the resample's reference
    with np.errstate(invalid="ignore"):
        stats["macro_f1"] = np.where(
            present.any(axis=1),
            np.nansum(np.where(present, np.nan_to_num(f1), 0.0), axis=1) / np.maximum(present.sum(axis=1), 1),
            np.nan,
        )
    for c, name in enumerate(classes):
        stats[f"{name} precision"], stats[f"{name} recall"], stats[f"{name} F1"] = (
            precision[:, c],
            recall[:, c],
            f1[:, c],
        )
    return ConfidenceIntervals(level, n_resamples, seed, n_groups, {n: _interval(v, level) for n, v in stats.items()})


def mean_intervals(
    values: Mapping[str, Sequence[float] | np.ndarray],
    groups: Sequence[Hashable | None],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> ConfidenceIntervals:
    """Intervals of per-image means (e.g. ``{"dice": [...], "iou": [...]}``) over resampled patients."""
    first = next(iter(values.values()), None)
    if first is None:
        raise MetricsInputError("no values to bootstrap")
    _check(len(first), groups)
    group, n_groups = _groups(groups)
    weights = resample_weights(n_groups, n_resamples, seed)
    counts = weights @ _per_group_sum(np.ones(len(first)), group, n_groups)
    out: dict[str, tuple[float, float] | None] = {}
    for name, vals in values.items():
        v = np.asarray(vals, np.float64)
        if len(v) != len(first):
            raise MetricsInputError(f"{name}: {len(v)} values for {len(first)} images")
        out[name] = _interval(_ratio(weights @ _per_group_sum(v, group, n_groups), counts), level)
    return ConfidenceIntervals(level, n_resamples, seed, n_groups, out)


def format_interval(value: Any, interval: Sequence[float] | None, decimals: int = 3, level: float = LEVEL) -> str:
    """``0.912 (95% CI 0.850-0.960)``; ``n/a`` for an undefined value."""
    if value is None:
        return "n/a"
    text = f"{float(value):.{decimals}f}"
    if interval is not None:
        text += f" ({level:.0%} CI {interval[0]:.{decimals}f}-{interval[1]:.{decimals}f})"
    return text

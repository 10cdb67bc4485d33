"""Patient-level bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import binary_report
from training.metrics.bootstrap import (
    binary_intervals,
    format_interval,
    mean_intervals,
    multiclass_intervals,
    resample_weights,
)


def _binary(n_patients: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_patients)
    return y, np.clip(0.35 * y + 0.65 * rng.random(n_patients), 0, 1)


def test_resampling_unit_is_the_patient() -> None:
    y, s = _binary(30)
    one = binary_intervals(y, s, 0.5, groups=list(range(30)), n_resamples=200)
    # five identical images per patient: the same patients, so the same intervals (an image-level
    # bootstrap would see 150 independent cases and give narrower ones)
    many = binary_intervals(np.repeat(y, 5), np.repeat(s, 5), 0.5, groups=np.repeat(np.arange(30), 5).tolist(),
                            n_resamples=200)
    assert many.intervals == one.intervals and many.n_groups == 30
    by_image = binary_intervals(np.repeat(y, 5), np.repeat(s, 5), 0.5, groups=[None] * 150, n_resamples=200)
    lo, hi = one.intervals["sensitivity"]
    lo_i, hi_i = by_image.intervals["sensitivity"]
    assert hi_i - lo_i < hi - lo


def test_intervals_hold_the_estimate_and_are_reproducible() -> None:
    y, s = _binary(60, seed=3)
    ci = binary_intervals(y, s, 0.5, groups=list(range(60)))
    report = binary_report(y, s, 0.5)
    for name in ("sensitivity", "specificity", "precision", "accuracy", "f1", "auroc"):
        lo, hi = ci.intervals[name]
        assert 0.0 <= lo <= getattr(report, name) <= hi <= 1.0, name
    assert binary_intervals(y, s, 0.5, groups=list(range(60))).intervals == ci.intervals
    assert binary_intervals(y, s, 0.5, groups=list(range(60)), seed=1, n_resamples=200).intervals != ci.intervals
    assert (ci.level, ci.n_resamples, ci.unit) == (0.95, 1000, "patient")


def test_undefined_statistics_get_no_interval() -> None:
    ci = binary_intervals(np.zeros(20, int), np.full(20, 0.2), 0.5, groups=list(range(20)), n_resamples=200)
    assert ci.intervals["sensitivity"] is None and ci.intervals["auroc"] is None  # no ROP case at all
    assert ci.intervals["specificity"] == (1.0, 1.0)


def test_multiclass_and_mean_intervals() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 90)
    pred = np.where(rng.random(90) < 0.7, y, rng.integers(0, 3, 90))
    groups = [i // 3 for i in range(90)]
    ci = multiclass_intervals(y, pred, ["stage 1", "stage 2", "stage 3"], groups)
    accuracy = float((y == pred).mean())
    lo, hi = ci.intervals["accuracy"]
    assert lo <= accuracy <= hi and ci.n_groups == 30
    assert {"macro_f1", "stage 2 recall", "stage 3 F1"} <= set(ci.intervals)
    dice = rng.random(90)
    lo, hi = mean_intervals({"dice": dice}, groups).intervals["dice"]
    assert lo < dice.mean() < hi


def test_weights_and_formatting() -> None:
    w = resample_weights(7, n_resamples=50, seed=0)
    assert w.shape == (50, 7) and (w.sum(axis=1) == 7).all()
    assert format_interval(0.9123, (0.85, 0.96)) == "0.912 (95% CI 0.850-0.960)"
    assert format_interval(None, None) == "n/a"
    with pytest.raises(ValueError):
        binary_intervals([0, 1], [0.2, 0.8], 0.5, groups=["a"])

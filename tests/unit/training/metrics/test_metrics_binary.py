"""Binary evaluation (paper A) against counts and rates worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import MetricsInputError, binary_report, choose_threshold, error_reduction

# Eight images. Positive when score >= 0.5 → predictions [1, 1, 0, 0, 1, 0, 1, 1]
# (image 7 sits exactly on the threshold and counts as positive).
Y_TRUE = [1, 1, 1, 0, 0, 0, 0, 1]
Y_SCORE = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1, 0.5, 0.5]


def test_counts_and_rates_by_hand() -> None:
    r = binary_report(Y_TRUE, Y_SCORE, threshold=0.5)
    assert (r.tp, r.fp, r.tn, r.fn, r.n) == (3, 2, 2, 1, 8)
    assert r.sensitivity == pytest.approx(3 / 4)
    assert r.specificity == pytest.approx(2 / 4)
    assert r.precision == pytest.approx(3 / 5)
    assert r.accuracy == pytest.approx(5 / 8)
    assert r.f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert r.notes == ()


def test_auroc_and_roc_by_hand() -> None:
    r = binary_report(Y_TRUE, Y_SCORE)
    # Positive/negative pairs ranked correctly, ties count 1/2: 4 + 4 + 2 + 2.5 out of 16.
    assert r.auroc == pytest.approx(12.5 / 16)
    assert r.roc is not None
    assert np.all(np.diff(r.roc.thresholds) < 0), "thresholds descend"
    # The ROC point at threshold 0.5 is the report at threshold 0.5 (same >= rule).
    i = int(np.flatnonzero(np.isclose(r.roc.thresholds, 0.5))[0])
    assert r.roc.tpr[i] == pytest.approx(r.sensitivity)
    assert r.roc.fpr[i] == pytest.approx(1 - r.specificity)


def test_one_class_gives_none_with_notes() -> None:
    r = binary_report([1, 1, 1], [0.2, 0.7, 0.9])
    assert r.auroc is None and r.roc is None and r.specificity is None
    assert r.sensitivity == pytest.approx(2 / 3)
    assert any("specificity undefined" in n for n in r.notes)
    assert any("AUROC" in n for n in r.notes)
    nothing_called = binary_report([0, 1], [0.1, 0.2], threshold=0.9)
    assert nothing_called.precision is None and nothing_called.f1 == 0.0
    assert r.to_dict()["auroc"] is None


@pytest.mark.parametrize(
    ("y_true", "y_score", "fragment"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "0/1 labels"),
        ([0, 1], [0.1, 1.5], "apply a sigmoid"),
        ([0, 1], [0.1], "has 1 values"),
        ([], [], "empty"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_bad_input_is_refused_with_reason(y_true: list, y_score: list, fragment: str) -> None:
    with pytest.raises(MetricsInputError, match=fragment):
        binary_report(y_true, y_score)


def test_choose_threshold_by_hand() -> None:
    # Distinct scores descending with the sensitivity each reaches: 0.9 → 1/4, 0.8 → 2/4, 0.6 → 2/4, 0.5 → 3/4, 0.4 → 4/4.
    for target, expected in [(0.75, 0.5), (0.5, 0.8), (1.0, 0.4)]:
        t = choose_threshold(Y_TRUE, Y_SCORE, target_sensitivity=target)
        assert t == pytest.approx(expected)
        assert binary_report(Y_TRUE, Y_SCORE, threshold=t).sensitivity == pytest.approx(target)
    with pytest.raises(MetricsInputError, match="no positive"):
        choose_threshold([0, 0], [0.2, 0.3])


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 1.0])
def test_chosen_threshold_meets_target_and_is_the_highest(target: float) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 200)
    score = np.clip(0.35 * y + rng.normal(0.35, 0.2, 200), 0, 1)
    t = choose_threshold(y, score, target)
    assert binary_report(y, score, threshold=t).sensitivity >= target
    higher = score[score > t]
    if higher.size:  # the next higher candidate misses the target
        assert binary_report(y, score, threshold=float(higher.min())).sensitivity < target


def test_error_reduction_per_grader_and_mean() -> None:
    ref = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    model = [1, 0, 1, 0, 1, 0, 1, 0, 1, 1]  # wrong on image 9
    a = [0, 1, 1, 0, 0, 0, 1, 1, 1, 0]  # wrong on 0, 1, 4, 7
    b = [1, 0, None, 0, 1, 1, 1, None, 1, 1]  # graded 8 images, wrong on 5 and 9
    c = list(ref)  # no error
    r = error_reduction(ref, model, {"A": a, "B": b, "C": c})
    assert r.model_error_rate == pytest.approx(0.1)
    assert r.per_grader["A"].grader_error_rate == pytest.approx(0.4)
    assert r.per_grader["A"].error_reduction == pytest.approx((0.4 - 0.1) / 0.4)
    # B: on its 8 images the model is wrong once (image 9): 1/8 vs B's 2/8.
    assert r.per_grader["B"].n_images == 8
    assert r.per_grader["B"].model_error_rate == pytest.approx(1 / 8)
    assert r.per_grader["B"].error_reduction == pytest.approx((2 / 8 - 1 / 8) / (2 / 8))
    assert r.per_grader["C"].error_reduction is None
    assert any("'C' made no error" in n for n in r.notes)
    assert r.mean_error_reduction == pytest.approx((0.75 + 0.5) / 2)
    with pytest.raises(MetricsInputError, match="grader 'A' has 2 labels"):
        error_reduction(ref, model, {"A": [0, 1]})

"""The operating-threshold rule for small validation splits (training.metrics.operating_point)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from training.metrics import (
    MetricsInputError,
    binary_report,
    choose_operating_threshold,
    choose_threshold,
    tolerance_factor,
)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize(("n", "exact"), [(10, 2.568), (18, 2.249), (20, 2.208), (50, 1.965)])
def test_tolerance_factor_is_close_to_the_exact_one(n: int, exact: float) -> None:
    # Exact one-sided factors (coverage 0.95, confidence 0.90): the noncentral-t quantile
    # t'(0.90; n-1, 1.645 sqrt(n)) / sqrt(n), computed once with 2e6 draws. Natrella's approximation is within 3 %.
    assert tolerance_factor(n, 0.95, 0.90) == pytest.approx(exact, rel=0.03)


def test_the_margin_grows_as_the_split_shrinks() -> None:
    ks = [tolerance_factor(n, 0.95, 0.9) for n in (3, 5, 10, 20, 100)]
    assert ks == sorted(ks, reverse=True) and ks[-1] > NormalDist().inv_cdf(0.95)


def test_population_sensitivity_holds_far_more_often_than_with_the_empirical_rule() -> None:
    """The bug: with 18 validation positives the empirical rule sits on the lowest one, and the next
    ROP image a little lower is missed. Simulated binormal scores (positives logit N(2, 1.5), negatives
    N(-3, 1.5)): how often does the chosen threshold keep >= 95 % of ALL positives?"""
    rng = np.random.default_rng(0)
    positives = NormalDist(2.0, 1.5)
    held = {"empirical": 0, "tolerance": 0}
    trials = 200
    for _ in range(trials):
        y = np.r_[np.ones(18, int), np.zeros(42, int)]
        scores = _logistic(np.r_[rng.normal(2.0, 1.5, 18), rng.normal(-3.0, 1.5, 42)])
        for rule in held:
            t = choose_operating_threshold(y, scores, rule=rule, min_specificity=None).threshold
            held[rule] += 1.0 - positives.cdf(math.log(t / (1 - t))) >= 0.95
    assert held["empirical"] / trials < 0.75  # theory: 1 - 0.95**18 = 0.60
    assert held["tolerance"] / trials >= 0.85  # designed for 0.90


def test_never_above_the_empirical_threshold_and_validation_keeps_the_target() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        y = rng.integers(0, 2, 40)
        y[:2] = 1
        scores = np.clip(0.3 * y + rng.normal(0.4, 0.2, 40), 0, 1)
        choice = choose_operating_threshold(y, scores)
        assert choice.threshold <= choose_threshold(y, scores, 0.95) == choice.empirical_threshold
        assert binary_report(y, scores, choice.threshold).sensitivity >= 0.95 - 1e-6  # float32 in torchmetrics
        assert choice.val_sensitivity == pytest.approx(binary_report(y, scores, choice.threshold).sensitivity)


def test_the_specificity_floor_stops_the_margin() -> None:
    # Five positives spread widely: the tolerance bound falls far below the negatives' top.
    y = [1] * 5 + [0] * 20
    scores = [0.9, 0.8, 0.7, 0.6, 0.55] + [0.01 * k for k in range(1, 21)]  # negatives 0.01 .. 0.20
    free = choose_operating_threshold(y, scores, min_specificity=None)
    floored = choose_operating_threshold(y, scores, min_specificity=0.9)
    assert free.bound_by == "tolerance" and free.threshold < 0.18
    assert floored.bound_by == "specificity floor"
    assert floored.val_specificity == pytest.approx(0.9) and floored.val_sensitivity == 1.0
    assert binary_report(y, scores, floored.threshold).specificity == pytest.approx(0.9)
    assert "raised to keep validation specificity >= 0.9" in floored.describe()


def test_the_empirical_rule_is_the_old_one_and_says_so() -> None:
    y, scores = [1, 1, 0, 1, 0], [0.9, 0.8, 0.6, 0.5, 0.4]
    choice = choose_operating_threshold(y, scores, rule="empirical", target_sensitivity=0.6)
    assert choice.threshold == choose_threshold(y, scores, 0.6) == pytest.approx(0.8)
    assert choice.describe() == "validation split (5 images, 3 ROP), the highest threshold reaching sensitivity 0.6"
    assert choice.to_dict()["confidence"] is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rule": "magic"}, "unknown threshold rule"),
        ({"confidence": 1.0}, "confidence"),
        ({"min_specificity": 1.5}, "min_specificity"),
    ],
)
def test_bad_arguments_are_refused_with_reason(kwargs: dict, fragment: str) -> None:
    with pytest.raises(MetricsInputError, match=fragment):
        choose_operating_threshold([1, 0], [0.6, 0.4], **kwargs)
    with pytest.raises(MetricsInputError, match="no positive"):
        choose_operating_threshold([0, 0], [0.6, 0.4])


def test_a_margin_that_would_cost_specificity_is_not_taken_and_the_card_says_why() -> None:
    y = [1] * 5 + [0] * 20
    scores = [0.9, 0.8, 0.7, 0.6, 0.2] + [0.03 * k for k in range(1, 21)]  # negatives 0.03 .. 0.60
    choice = choose_operating_threshold(y, scores)
    assert choice.tolerance_threshold < choice.empirical_threshold == choice.threshold == pytest.approx(0.2)
    assert choice.bound_by == "empirical" and choice.val_specificity < 0.9  # sensitivity first
    assert "the margin would cost validation specificity below 0.9" in choice.describe()

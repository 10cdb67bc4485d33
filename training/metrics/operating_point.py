"""A binary model's operating threshold from a SMALL validation split, with a margin.

Why not simply "the highest threshold reaching sensitivity 0.95 on validation"
(:func:`training.metrics.binary.choose_threshold`)? With 18 validation ROP images, 0.95 means
"all 18": the threshold lands exactly on the lowest validation positive, and the next ROP image
whose score falls a little lower — one in every ~19 — is missed. The empirical rule cannot see
below its lowest positive; it has no margin.

The ``tolerance`` rule (the default) asks instead for a threshold that keeps ``target`` of ALL
positives above it with ``confidence``, not just those of this split: the validation positives'
scores in logit space are modelled as normal (the binormal ROC model) and the threshold is the
one-sided lower normal tolerance bound ``mean − k·sd`` (NIST/SEMATECH e-Handbook 7.2.6.3, the
Natrella approximation of ``k``). ``k`` grows as the number of positives shrinks, so a small
split buys a wider margin. Two guards keep the rule honest:

* never ABOVE the empirical threshold: validation sensitivity always reaches ``target``;
* never so low that validation specificity falls under ``min_specificity`` (the screening goal's
  specificity), unless the empirical threshold itself already is that low — sensitivity first.

Every number of the choice is returned (:class:`OperatingThreshold`) and stored in the model
card as the threshold's provenance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from training.metrics._common import MetricsInputError, ReportMixin, binary_targets, probabilities
from training.metrics.binary import choose_threshold

THRESHOLD_RULES = ("tolerance", "empirical")
_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] before the logit (a saturated 1.0 is finite)


@dataclass(frozen=True)
class OperatingThreshold(ReportMixin):
    """The chosen threshold and where it came from (stored in the card as ``threshold_choice``)."""

    threshold: float
    rule: str  #: "tolerance" | "empirical"
    bound_by: str  #: which term set it: "empirical" | "tolerance" | "specificity floor"
    target_sensitivity: float
    confidence: float | None  #: tolerance rule: confidence that `target` of all positives lie above
    min_specificity: float | None
    empirical_threshold: float  #: highest validation threshold reaching the target
    tolerance_threshold: float | None  #: mean − k·sd of the positives' logits, as a probability
    k: float | None  #: the tolerance factor used
    n_positive: int
    n_negative: int
    val_sensitivity: float
    val_specificity: float | None

    def describe(self) -> str:
        """One sentence for cards, logs and the window: where the threshold came from."""
        n = self.n_positive + self.n_negative
        base = f"validation split ({n} images, {self.n_positive} ROP)"
        if self.rule == "empirical":
            return f"{base}, the highest threshold reaching sensitivity {self.target_sensitivity:g}"
        if (
            self.bound_by == "empirical"
            and self.tolerance_threshold is not None
            and self.tolerance_threshold < self.empirical_threshold
        ):
            why = (
                f"the margin would cost validation specificity below {self.min_specificity:g}: kept at the "
                "highest threshold reaching the target"
            )
        else:
            why = {
                "empirical": "the highest threshold reaching the target was already lower",
                "tolerance": "set by the tolerance bound",
                "specificity floor": f"raised to keep validation specificity >= {self.min_specificity:g}",
            }[self.bound_by]
        return (
            f"{base}, tolerance rule: sensitivity {self.target_sensitivity:g} of all ROP images with "
            f"{self.confidence:g} confidence (binormal lower bound, k {self.k:.2f}); {why}"
        )


def tolerance_factor(n: int, coverage: float, confidence: float) -> float:
    """One-sided normal tolerance factor ``k`` (Natrella's approximation): with ``confidence``, at least
    ``coverage`` of the population lies above ``mean − k·sd`` estimated from ``n`` values (n >= 2)."""
    if n < 2:
        raise MetricsInputError(f"a tolerance bound needs at least 2 values, got {n}")
    z_p, z_g = NormalDist().inv_cdf(coverage), NormalDist().inv_cdf(confidence)
    a = 1.0 - z_g**2 / (2.0 * (n - 1))
    b = z_p**2 - z_g**2 / n
    if a <= 0:  # very few values at a very high confidence: the approximation breaks down; be conservative
        return z_p + z_g * math.sqrt(1.0 / n + z_p**2 / (2.0 * (n - 1)))
    return (z_p + math.sqrt(max(z_p**2 - a * b, 0.0))) / a


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _specificity_floor(negatives: np.ndarray, min_specificity: float) -> float:
    """The lowest threshold (rule ``score >= t``) keeping at least ``min_specificity`` of ``negatives`` below."""
    needed = math.ceil(min_specificity * len(negatives) - 1e-9)
    if needed <= 0:
        return 0.0
    kth = float(np.sort(negatives)[needed - 1])  # the needed-th lowest negative must fall below t
    return float(np.nextafter(kth, 1.0))


def choose_operating_threshold(
    y_true_val: Sequence[int] | np.ndarray,
    y_score_val: Sequence[float] | np.ndarray,
    *,
    target_sensitivity: float = 0.95,
    rule: str = "tolerance",
    confidence: float = 0.9,
    min_specificity: float | None = 0.9,
) -> OperatingThreshold:
    """The operating threshold of a binary model from VALIDATION data (module docstring: the rule).

    ``rule="empirical"`` is the plain highest threshold reaching ``target_sensitivity``. Raises
    :class:`MetricsInputError` when the labels hold no positive case or an argument is out of range.
    """
    if rule not in THRESHOLD_RULES:
        raise MetricsInputError(f"unknown threshold rule {rule!r}; expected one of {', '.join(THRESHOLD_RULES)}")
    if not 0.0 < confidence < 1.0:
        raise MetricsInputError(f"confidence must be in (0, 1), got {confidence}")
    if min_specificity is not None and not 0.0 <= min_specificity <= 1.0:
        raise MetricsInputError(f"min_specificity must be in [0, 1], got {min_specificity}")
    target = binary_targets(y_true_val, "y_true_val").numpy().astype(bool)
    scores = probabilities(y_score_val, "y_score_val", len(target)).numpy().astype(np.float64)
    empirical = choose_threshold(target.astype(int), scores, target_sensitivity)
    pos, neg = scores[target], scores[~target]
    threshold, bound_by, tol, k = empirical, "empirical", None, None
    if rule == "tolerance" and target_sensitivity < 1.0 and len(pos) >= 2:
        logits = _logit(pos)
        k = tolerance_factor(len(pos), target_sensitivity, confidence)
        tol = float(1.0 / (1.0 + math.exp(-(logits.mean() - k * logits.std(ddof=1)))))
        if tol < empirical:
            threshold, bound_by = tol, "tolerance"
            if min_specificity is not None and len(neg):
                floor = _specificity_floor(neg, min_specificity)
                if floor > threshold:
                    threshold, bound_by = min(floor, empirical), "specificity floor"
                    if threshold == empirical:
                        bound_by = "empirical"
    sens = float((pos >= threshold).mean())
    spec = float((neg < threshold).mean()) if len(neg) else None
    return OperatingThreshold(
        threshold=float(threshold),
        rule=rule,
        bound_by=bound_by,
        target_sensitivity=float(target_sensitivity),
        confidence=float(confidence) if rule == "tolerance" else None,
        min_specificity=min_specificity if rule == "tolerance" else None,
        empirical_threshold=float(empirical),
        tolerance_threshold=tol,
        k=k,
        n_positive=int(len(pos)),
        n_negative=int(len(neg)),
        val_sensitivity=sens,
        val_specificity=spec,
    )


def threshold_choice_dict(choice: OperatingThreshold) -> dict[str, Any]:
    """The card's ``metrics["threshold_choice"]``: every field plus the sentence."""
    return {**choice.to_dict(), "description": choice.describe()}

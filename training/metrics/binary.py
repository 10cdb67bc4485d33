"""Binary ROP yes/no evaluation (paper A): counts, rates, ROC, threshold choice, error reduction.

Every metric comes from ``torchmetrics.functional.classification``; this module only validates
input, turns undefined values (a division by zero) into ``None`` with a note, and packs the
results into plain dataclasses.

Decision rule everywhere: an image is called positive when ``score >= threshold``. (torchmetrics'
own thresholding uses ``>``; we binarise first so that a threshold read off the ROC curve, whose
points use ``>=``, gives exactly the sensitivity the curve shows.)
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_auroc,
    binary_f1_score,
    binary_precision,
    binary_recall,
    binary_roc,
    binary_specificity,
    binary_stat_scores,
    multiclass_accuracy,
)

from training.metrics._common import (
    MetricsInputError,
    ReportMixin,
    binary_targets,
    categories_of,
    encode,
    probabilities,
)


@dataclass(frozen=True)
class BinaryRates(ReportMixin):
    """Confusion counts and the rates derived from them; a rate is ``None`` when undefined."""

    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None
    specificity: float | None
    precision: float | None
    accuracy: float
    f1: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class RocCurve(ReportMixin):
    """ROC points, thresholds descending; point i is the rule ``score >= thresholds[i]``."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True, eq=False)
class BinaryReport(ReportMixin):
    """Paper A's figures for one model on one data set at one threshold."""

    threshold: float
    n: int
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None  #: recall, TP / (TP + FN)
    specificity: float | None  #: TN / (TN + FP)
    precision: float | None  #: TP / (TP + FP)
    accuracy: float
    f1: float | None
    auroc: float | None  #: None when the labels hold one class only
    roc: RocCurve | None  #: None when the labels hold one class only
    notes: tuple[str, ...] = ()


def binary_rates(preds: torch.Tensor, target: torch.Tensor) -> BinaryRates:
    """Counts and rates of 0/1 predictions against 0/1 targets (both long tensors, same length)."""
    tp, fp, tn, fn, _ = (int(v) for v in binary_stat_scores(preds, target))
    notes: list[str] = []

    def defined(ok: bool, metric: Any, why: str) -> float | None:
        if ok:
            return float(metric(preds, target))
        notes.append(why)
        return None

    sensitivity = defined(tp + fn > 0, binary_recall, "sensitivity undefined: no positive reference cases")
    specificity = defined(tn + fp > 0, binary_specificity, "specificity undefined: no negative reference cases")
    precision = defined(tp + fp > 0, binary_precision, "precision undefined: nothing was called positive")
    f1 = defined(
        tp + fp + fn > 0, binary_f1_score, "F1 undefined: no positives in the reference nor in the predictions"
    )
    accuracy = float(binary_accuracy(preds, target))
    return BinaryRates(tp, fp, tn, fn, sensitivity, specificity, precision, accuracy, f1, tuple(notes))


def binary_report(
    y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> BinaryReport:
    """Evaluate probabilities ``y_score`` against 0/1 labels ``y_true``, positive when ``score >= threshold``.

    Raises :class:`MetricsInputError` for empty or misaligned input, labels other than 0/1, or
    scores outside [0, 1] (apply a sigmoid to logits first).
    """
    target = binary_targets(y_true, "y_true")
    scores = probabilities(y_score, "y_score", len(target))
    if not 0.0 <= threshold <= 1.0:
        raise MetricsInputError(f"threshold must be in [0, 1], got {threshold}")
    rates = binary_rates((scores >= threshold).long(), target)
    notes = list(rates.notes)
    auroc: float | None = None
    roc: RocCurve | None = None
    if 0 < int(target.sum()) < len(target):
        auroc = float(binary_auroc(scores, target))
        fpr, tpr, thr = binary_roc(scores, target)
        roc = RocCurve(fpr.numpy(), tpr.numpy(), thr.numpy())
    else:
        notes.append("AUROC and ROC undefined: the labels hold one class only")
    return BinaryReport(
        threshold=float(threshold),
        n=len(target),
        tp=rates.tp,
        fp=rates.fp,
        tn=rates.tn,
        fn=rates.fn,
        sensitivity=rates.sensitivity,
        specificity=rates.specificity,
        precision=rates.precision,
        accuracy=rates.accuracy,
        f1=rates.f1,
        auroc=auroc,
        roc=roc,
        notes=tuple(notes),
    )


def choose_threshold(
    y_true_val: Sequence[int] | np.ndarray, y_score_val: Sequence[float] | np.ndarray, target_sensitivity: float = 0.95
) -> float:
    """The highest threshold whose sensitivity on these data reaches ``target_sensitivity``.

    Pass VALIDATION data only. A threshold chosen on the test set makes the test figures
    optimistic and is never reported as a test result (thresholds are chosen on validation data
    only). The returned value is one of the validation scores; use it with
    :func:`binary_report` (rule ``score >= threshold``).
    """
    target = binary_targets(y_true_val, "y_true_val")
    scores = probabilities(y_score_val, "y_score_val", len(target))
    if not 0.0 < target_sensitivity <= 1.0:
        raise MetricsInputError(f"target_sensitivity must be in (0, 1], got {target_sensitivity}")
    if int(target.sum()) == 0:
        raise MetricsInputError("the validation labels hold no positive case: sensitivity cannot be targeted")
    with warnings.catch_warnings():  # no negatives: torchmetrics warns that FPR is meaningless; we only read TPR
        warnings.simplefilter("ignore", UserWarning)
        _, tpr, thresholds = binary_roc(scores, target)
    reached = torch.nonzero(tpr >= target_sensitivity - 1e-12).flatten()
    return float(thresholds[int(reached[0])])  # thresholds descend: the first one reaching it is the highest


@dataclass(frozen=True)
class GraderComparison(ReportMixin):
    """One grader against the model, on the images that grader labelled."""

    n_images: int
    grader_error_rate: float
    model_error_rate: float
    error_reduction: float | None  #: (grader − model) / grader; None when the grader made no error


@dataclass(frozen=True)
class ErrorReductionReport(ReportMixin):
    """Paper A's "error reduction versus human graders", per grader and mean."""

    model_error_rate: float  #: on every image with a reference label
    per_grader: dict[str, GraderComparison]
    mean_error_reduction: float | None  #: mean of the defined per-grader reductions
    notes: tuple[str, ...] = ()


def _error_rate(pred: list[Hashable], ref: list[Hashable], categories: list[Hashable]) -> float:
    acc = multiclass_accuracy(
        encode(pred, categories), encode(ref, categories), num_classes=max(len(categories), 2), average="micro"
    )
    return 1.0 - float(acc)


def error_reduction(
    y_reference: Sequence[Hashable | None],
    y_model: Sequence[Hashable],
    labels_by_grader: Mapping[str, Sequence[Hashable | None]],
) -> ErrorReductionReport:
    """Relative error reduction of the model versus each grader: (grader error − model error) / grader error.

    All sequences are aligned image by image; ``None`` means "no reference" / "not graded" and the
    image is left out of that comparison. Each grader is compared with the model on the images
    that grader labelled. Labels may be 0/1 or any categories (an error is any disagreement with
    the reference). A grader without errors makes the ratio undefined: ``None`` and a note.
    """
    n = len(y_model)
    if len(y_reference) != n:
        raise MetricsInputError(f"y_reference has {len(y_reference)} images but y_model has {n}")
    if any(v is None for v in y_model):
        raise MetricsInputError("y_model holds None: the model must label every image")
    if not labels_by_grader:
        raise MetricsInputError("labels_by_grader is empty: give at least one grader")
    for name, labels in labels_by_grader.items():
        if len(labels) != n:
            raise MetricsInputError(f"grader {name!r} has {len(labels)} labels for {n} images")
    categories = categories_of(y_reference, y_model, *labels_by_grader.values())
    scored = [i for i in range(n) if y_reference[i] is not None]
    if not scored:
        raise MetricsInputError("no image has a reference label")
    model_rate = _error_rate([y_model[i] for i in scored], [y_reference[i] for i in scored], categories)
    notes: list[str] = []
    per_grader: dict[str, GraderComparison] = {}
    for name, labels in labels_by_grader.items():
        items = [i for i in scored if labels[i] is not None]
        if not items:
            notes.append(f"grader {name!r} labelled no image that has a reference: left out")
            continue
        ref = [y_reference[i] for i in items]
        grader_rate = _error_rate([labels[i] for i in items], ref, categories)
        model_here = _error_rate([y_model[i] for i in items], ref, categories)
        reduction = None if grader_rate == 0.0 else (grader_rate - model_here) / grader_rate
        if reduction is None:
            notes.append(f"grader {name!r} made no error on {len(items)} images: error reduction undefined")
        per_grader[name] = GraderComparison(len(items), grader_rate, model_here, reduction)
    defined = [g.error_reduction for g in per_grader.values() if g.error_reduction is not None]
    return ErrorReductionReport(model_rate, per_grader, fmean(defined) if defined else None, tuple(notes))

"""Multi-class evaluation (paper B, stages 1–3): per-class precision/recall/F1, accuracy, confusion.

Figures come from ``torchmetrics.functional.classification``. :func:`report_from_confusion`
rebuilds the label pairs a confusion matrix stands for and runs the same code, so a published
matrix can be checked against the figures printed beside it (:func:`check_table_consistency`).

Undefined per-class values are ``None`` with a note: precision of a class never predicted,
recall of a class absent from the reference. The macro/weighted averages are torchmetrics':
an undefined per-class value counts as 0 there, and a class absent from both the reference and
the predictions is left out of the macro mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from training.metrics._common import MetricsInputError, ReportMixin

_AVERAGED = ("precision", "recall", "f1")
_METRICS = dict(zip(_AVERAGED, (multiclass_precision, multiclass_recall, multiclass_f1_score), strict=True))


@dataclass(frozen=True, eq=False)
class MulticlassReport(ReportMixin):
    """Per-class figures (tuples ordered like ``classes``), averages and the confusion matrix."""

    classes: tuple[str, ...]
    n: int
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    f1: tuple[float | None, ...]
    support: tuple[int, ...]  #: reference count of each class
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    confusion: np.ndarray  #: rows = reference (true) class, columns = predicted class
    notes: tuple[str, ...] = ()

    def class_scores(self, name: str) -> dict[str, float | int | None]:
        """Precision, recall, F1 and support of one class, by name."""
        if name not in self.classes:
            raise MetricsInputError(f"unknown class {name!r}; classes are {list(self.classes)}")
        i = self.classes.index(name)
        return {"precision": self.precision[i], "recall": self.recall[i], "f1": self.f1[i], "support": self.support[i]}


def _class_names(classes: Sequence[str]) -> tuple[str, ...]:
    names = tuple(classes)
    if len(names) < 2:
        raise MetricsInputError(f"give at least two classes, got {list(names)}")
    if not all(isinstance(c, str) for c in names):
        raise MetricsInputError(f"classes must be names (str), got {list(names)}; labels may then be names or indices")
    if len(set(names)) != len(names):
        raise MetricsInputError(f"classes contain duplicates: {list(names)}")
    return names


def _indices(labels: Any, classes: tuple[str, ...], name: str) -> torch.Tensor:
    """Labels that are class names (str) or class indices (int) as a long tensor of indices."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    values = list(np.asarray(labels, dtype=object).ravel()) if isinstance(labels, np.ndarray) else list(labels)
    out: list[int] = []
    for v in values:
        if isinstance(v, str):
            if v not in classes:
                raise MetricsInputError(f"{name} holds {v!r}, which is not one of the classes {list(classes)}")
            out.append(classes.index(v))
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and 0 <= v < len(classes):
            out.append(int(v))
        else:
            raise MetricsInputError(
                f"{name} holds {v!r}: labels are class names {list(classes)} or indices 0..{len(classes) - 1}"
            )
    return torch.tensor(out, dtype=torch.long)


def _predictions(y_pred: Any, classes: tuple[str, ...], n: int) -> torch.Tensor:
    """Predicted indices from labels (1-D) or per-class scores/probabilities (N x C, argmax)."""
    arr = y_pred.detach().cpu().numpy() if isinstance(y_pred, torch.Tensor) else y_pred
    if np.ndim(arr) == 2:
        probs = np.asarray(arr, dtype=np.float64)
        if probs.shape != (n, len(classes)):
            raise MetricsInputError(f"probabilities must have shape ({n}, {len(classes)}), got {probs.shape}")
        if not np.all(np.isfinite(probs)):
            raise MetricsInputError("probabilities hold NaN or infinite values")
        return torch.as_tensor(probs.argmax(axis=1))
    preds = _indices(arr, classes, "y_pred")
    if len(preds) != n:
        raise MetricsInputError(f"y_pred has {len(preds)} labels but y_true has {n}")
    return preds


def multiclass_report(y_true: Any, y_pred: Any, classes: Sequence[str]) -> MulticlassReport:
    """Evaluate predictions (labels, or N x C probabilities → argmax) against reference labels.

    ``classes`` are the class names in index order, e.g. ``["stage 1", "stage 2", "stage 3"]``;
    labels may be those names or their indices 0..C-1.
    """
    names = _class_names(classes)
    target = _indices(y_true, names, "y_true")
    if len(target) == 0:
        raise MetricsInputError("y_true is empty: nothing to evaluate")
    preds = _predictions(y_pred, names, len(target))
    k = len(names)
    cm = multiclass_confusion_matrix(preds, target, num_classes=k).numpy()
    per = {m: fn(preds, target, average="none", num_classes=k) for m, fn in _METRICS.items()}
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    notes: list[str] = []
    precision: list[float | None] = []
    recall: list[float | None] = []
    f1: list[float | None] = []
    for i, name in enumerate(names):
        precision.append(float(per["precision"][i]) if predicted[i] else None)
        recall.append(float(per["recall"][i]) if support[i] else None)
        f1.append(float(per["f1"][i]) if support[i] or predicted[i] else None)
        if not predicted[i]:
            notes.append(f"precision of {name!r} undefined: never predicted")
        if not support[i]:
            notes.append(f"recall of {name!r} undefined: absent from the reference")
    if notes:
        notes.append("macro and weighted averages count an undefined per-class value as 0 (torchmetrics)")
    averages = {
        f"{avg}_{m}": float(fn(preds, target, average=avg, num_classes=k))
        for avg in ("macro", "weighted")
        for m, fn in _METRICS.items()
    }
    return MulticlassReport(
        classes=names,
        n=len(target),
        precision=tuple(precision),
        recall=tuple(recall),
        f1=tuple(f1),
        support=tuple(int(s) for s in support),
        accuracy=float(multiclass_accuracy(preds, target, average="micro", num_classes=k)),
        confusion=cm,
        notes=tuple(notes),
        **averages,
    )


def _matrix(cm: Any) -> np.ndarray:
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise MetricsInputError(f"a confusion matrix must be square C x C with C >= 2, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise MetricsInputError("a confusion matrix holds non-negative whole counts")
    if arr.sum() == 0:
        raise MetricsInputError("the confusion matrix is all zeros: nothing to evaluate")
    return arr.astype(np.int64)


def report_from_confusion(cm: Any, classes: Sequence[str]) -> MulticlassReport:
    """The :class:`MulticlassReport` of a confusion matrix (rows = true, columns = predicted)."""
    matrix = _matrix(cm)
    names = _class_names(classes)
    k = len(names)
    if matrix.shape[0] != k:
        raise MetricsInputError(f"the matrix is {matrix.shape[0]} x {matrix.shape[0]} but {k} classes were named")
    counts = matrix.ravel()
    y_true = np.repeat(np.repeat(np.arange(k), k), counts)
    y_pred = np.repeat(np.tile(np.arange(k), k), counts)
    return multiclass_report(y_true, y_pred, names)


_SCALARS = ("accuracy", *(f"{a}_{m}" for a in ("macro", "weighted") for m in _AVERAGED))
_PER_CLASS = (*_AVERAGED, "support")


def check_table_consistency(
    reported: Mapping[str, Any], cm: Any, classes: Sequence[str] | None = None, decimals: int = 2
) -> list[str]:
    """Every reported figure that the confusion matrix contradicts, as readable lines (empty: consistent).

    ``reported`` holds scalars ``accuracy``, ``macro_precision`` … ``weighted_f1`` and per-class
    mappings ``precision``, ``recall``, ``f1``, ``support`` keyed by class name (or index), e.g.
    ``{"accuracy": 0.67, "recall": {"stage 1": 0.8, ...}}``. A figure agrees when it is within
    half a unit of its last printed decimal (``decimals``) of the matrix's value; supports must
    match exactly. A figure the matrix leaves undefined must be reported as ``None``.
    """
    matrix = _matrix(cm)
    names = _class_names(classes if classes is not None else [str(i) for i in range(matrix.shape[0])])
    report = report_from_confusion(matrix, names)
    tolerance = 0.5 * 10.0 ** (-decimals) + 1e-9
    problems: list[str] = []

    def compare(label: str, claimed: Any, actual: float | int | None, exact: bool = False) -> None:
        if claimed is None or actual is None:
            if claimed is not actual:
                problems.append(f"{label}: reported {claimed}, the matrix gives {actual}")
            return
        if exact and claimed != actual:
            problems.append(f"{label}: reported {claimed}, the matrix gives {actual}")
        elif not exact and abs(float(claimed) - actual) > tolerance:
            problems.append(
                f"{label}: reported {claimed}, the matrix gives {actual:.4f} (off by {abs(float(claimed) - actual):.4f}, "
                f"more than rounding to {decimals} decimals allows)"
            )

    for key, value in reported.items():
        if key in _SCALARS:
            compare(key, value, getattr(report, key))
        elif key in _PER_CLASS:
            if not isinstance(value, Mapping):
                raise MetricsInputError(f"reported[{key!r}] must map class → value, got {type(value).__name__}")
            for cls, claimed in value.items():
                if cls in names:
                    i = names.index(cls)
                elif isinstance(cls, int) and 0 <= cls < len(names):
                    i = cls
                else:
                    raise MetricsInputError(f"reported[{key!r}] names class {cls!r}, not one of {list(names)}")
                compare(f"{key}[{names[i]}]", claimed, getattr(report, key)[i], exact=key == "support")
        else:
            raise MetricsInputError(f"unknown reported figure {key!r}; known: {list(_SCALARS + _PER_CLASS)}")
    return problems

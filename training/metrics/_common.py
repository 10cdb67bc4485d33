"""Shared plumbing of the metrics package: input errors, label encoding, JSON-ready reports.

Nothing here computes a metric: that is torchmetrics' (and pycocotools') job. This module turns
user input (lists, numpy arrays, labels that may be ints or strings, ``None`` for "not rated")
into the integer tensors those libraries expect, and reports back into plain Python.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from training.errors import TrainingError


class MetricsInputError(TrainingError):
    """Input a metric cannot be computed from; ``reason`` says what is wrong and how to fix it."""


def to_builtin(value: Any) -> Any:
    """``value`` with numpy arrays/scalars, tuples and tensors turned into JSON-ready Python."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class ReportMixin:
    """``to_dict()`` for the report dataclasses: ``dataclasses.asdict`` with numpy → lists."""

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready Python (lists, floats, ints, str, None)."""
        return to_builtin(dataclasses.asdict(self))  # type: ignore[call-overload]


def scalar(value: torch.Tensor) -> float | None:
    """A 0-d tensor as a float; ``None`` when the library returned NaN (undefined)."""
    out = float(value)
    return None if math.isnan(out) else out


def as_vector(values: Any, name: str) -> np.ndarray:
    """``values`` (list, numpy array or tensor) as a non-empty 1-D numpy array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricsInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricsInputError(f"{name} is empty: nothing to evaluate")
    return arr


def binary_targets(values: Any, name: str) -> torch.Tensor:
    """0/1 (or bool) labels as a long tensor; anything else is refused with the offending values."""
    arr = as_vector(values, name)
    if arr.dtype.kind not in "biuf":
        raise MetricsInputError(f"{name} must hold 0/1 labels, got {sorted(set(map(repr, arr.tolist())))[:5]}")
    as_float = arr.astype(np.float64)
    bad = sorted({v for v in as_float.tolist() if v not in (0.0, 1.0)})
    if bad:
        raise MetricsInputError(f"{name} must hold 0/1 labels, got {bad[:5]}")
    return torch.as_tensor(as_float.astype(np.int64))


def probabilities(values: Any, name: str, length: int) -> torch.Tensor:
    """Scores in [0, 1] as a float64 tensor of the given length."""
    arr = as_vector(values, name)
    if arr.dtype.kind not in "biuf":
        raise MetricsInputError(f"{name} must hold numbers in [0, 1]")
    arr = arr.astype(np.float64)
    if arr.size != length:
        raise MetricsInputError(f"{name} has {arr.size} values but the labels have {length}")
    if not np.all(np.isfinite(arr)):
        raise MetricsInputError(f"{name} holds NaN or infinite values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise MetricsInputError(
            f"{name} must be probabilities in [0, 1] (got {arr.min():.4g} .. {arr.max():.4g}); apply a sigmoid to logits first"
        )
    return torch.as_tensor(arr)


def categories_of(*label_lists: Iterable[Hashable | None], given: Sequence[Hashable] | None = None) -> list[Hashable]:
    """A stable category list: ``given`` as is (checked), else the sorted labels seen (``None`` = missing).

    The order matters for weighted kappa (it is the ordinal order): pass ``given`` when the labels
    are strings whose alphabetical order is not their clinical order.
    """
    seen = {label for labels in label_lists for label in labels if label is not None}
    if given is not None:
        cats = list(given)
        if len(set(cats)) != len(cats):
            raise MetricsInputError(f"categories contain duplicates: {cats}")
        unknown = seen - set(cats)
        if unknown:
            raise MetricsInputError(f"labels {sorted(map(repr, unknown))} are not in the categories {cats}")
        return cats
    try:
        return sorted(seen)  # type: ignore[type-var]
    except TypeError:
        raise MetricsInputError(
            f"labels of mixed types cannot be ordered ({sorted(map(repr, seen))}): pass categories=[...]"
        ) from None


def encode(labels: Sequence[Hashable], categories: Sequence[Hashable]) -> torch.Tensor:
    """Labels (none missing) as indices into ``categories``, a long tensor."""
    index = {c: i for i, c in enumerate(categories)}
    return torch.tensor([index[label] for label in labels], dtype=torch.long)


def paired(
    a: Sequence[Hashable | None], b: Sequence[Hashable | None], names: tuple[str, str]
) -> list[tuple[Hashable, Hashable]]:
    """The (a, b) label pairs of items both rated (``None`` = not rated); lengths must agree."""
    if len(a) != len(b):
        raise MetricsInputError(
            f"{names[0]} rates {len(a)} items but {names[1]} rates {len(b)}: align them item by item"
        )
    return [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]

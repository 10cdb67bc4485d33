"""Inter-rater agreement for the grading dashboard: percent agreement, Cohen's and Fleiss' kappa,
pairwise kappa with missing ratings, and each rater against a reference built without them.

Labels are any hashable categories (ints, strings, the app's str enums); ``None`` means "not
rated". Categories are mapped to indices with a stable list: the one given, else the sorted
labels seen. For weighted kappa that list is the ordinal order: pass ``categories`` when the
alphabetical order of string labels is not the clinical one. Kappa values come from
torchmetrics; an undefined kappa (chance agreement of 1, e.g. both raters always give the same
single label) is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_cohen_kappa
from torchmetrics.functional.nominal import fleiss_kappa as _tm_fleiss_kappa

from training.metrics._common import MetricsInputError, ReportMixin, categories_of, encode, paired, scalar
from training.metrics.binary import binary_rates

Label = Hashable
Weights = Literal["linear", "quadratic"] | None


def _encoded_pairs(
    a: Sequence[Label | None], b: Sequence[Label | None], categories: Sequence[Label], names: tuple[str, str]
) -> tuple[torch.Tensor, torch.Tensor] | None:
    pairs = paired(a, b, names)
    if not pairs:
        return None
    return encode([x for x, _ in pairs], categories), encode([y for _, y in pairs], categories)


def percent_agreement(
    a: Sequence[Label | None], b: Sequence[Label | None], categories: Sequence[Label] | None = None
) -> float | None:
    """Share of the items rated by both on which ``a`` and ``b`` give the same label; ``None`` if none is shared."""
    cats = categories_of(a, b, given=categories)
    pairs = _encoded_pairs(a, b, cats, ("a", "b"))
    if pairs is None:
        return None
    return float(multiclass_accuracy(pairs[0], pairs[1], num_classes=max(len(cats), 2), average="micro"))


def cohen_kappa(
    a: Sequence[Label | None],
    b: Sequence[Label | None],
    weights: Weights = None,
    categories: Sequence[Label] | None = None,
) -> float | None:
    """Cohen's kappa of two raters on the items both rated; ``weights`` "linear"/"quadratic" for ordinal labels.

    ``None`` when no item is shared or kappa is undefined (chance agreement 1).
    """
    if weights not in (None, "linear", "quadratic"):
        raise MetricsInputError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    cats = categories_of(a, b, given=categories)
    pairs = _encoded_pairs(a, b, cats, ("a", "b"))
    if pairs is None:
        return None
    # torchmetrics needs >= 2 classes; a padded, never-used class changes nothing.
    return scalar(multiclass_cohen_kappa(pairs[0], pairs[1], num_classes=max(len(cats), 2), weights=weights))


def fleiss_kappa(counts: np.ndarray | Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of an N items x K categories matrix of rating counts (same number of raters per item).

    ``None`` when undefined (every rating in one category).
    """
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise MetricsInputError(f"counts must be N items x K >= 2 categories, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise MetricsInputError("counts must be non-negative whole numbers of ratings")
    per_item = arr.sum(axis=1)
    if np.any(per_item != per_item[0]) or per_item[0] < 2:
        raise MetricsInputError(
            f"every item needs the same number (>= 2) of ratings, got {sorted(set(per_item.astype(int).tolist()))}"
        )
    return scalar(_tm_fleiss_kappa(torch.as_tensor(arr.astype(np.int64)), mode="counts"))


def _check_raters(labels_by_rater: Mapping[str, Sequence[Label | None]], minimum: int) -> int:
    if len(labels_by_rater) < minimum:
        raise MetricsInputError(f"give at least {minimum} raters, got {len(labels_by_rater)}")
    lengths = {name: len(labels) for name, labels in labels_by_rater.items()}
    if len(set(lengths.values())) != 1:
        raise MetricsInputError(f"raters must label the same items in the same order, got lengths {lengths}")
    return next(iter(lengths.values()))


def pairwise_kappa(
    labels_by_rater: Mapping[str, Sequence[Label | None]],
    weights: Weights = None,
    categories: Sequence[Label] | None = None,
) -> dict[tuple[str, str], float | None]:
    """Cohen's kappa of every pair of raters (in the mapping's order), each on the items both rated.

    All pairs share one category list, so weighted kappas are comparable.
    """
    _check_raters(labels_by_rater, 2)
    cats = categories_of(*labels_by_rater.values(), given=categories)
    return {
        (r1, r2): cohen_kappa(labels_by_rater[r1], labels_by_rater[r2], weights, cats)
        for r1, r2 in combinations(labels_by_rater, 2)
    }


@dataclass(frozen=True)
class RaterPerformance(ReportMixin):
    """One rater against the reference of the other raters (leave-one-out)."""

    n_items: int  #: items the rater labelled and the others' reference decided
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None
    specificity: float | None
    accuracy: float | None  #: exact agreement with the reference category
    notes: tuple[str, ...] = ()


def leave_one_out_performance(
    labels_by_rater: Mapping[str, Sequence[Label | None]],
    reference_fn: Callable[[list[Label]], Label | None],
    positive: Collection[Label] | None = None,
    categories: Sequence[Label] | None = None,
) -> dict[str, RaterPerformance]:
    """Each rater's sensitivity, specificity and accuracy against a reference built WITHOUT their vote.

    For rater R and item i, ``reference_fn`` receives the labels the OTHER raters gave item i
    (missing ratings left out, possibly an empty list) and returns the reference label, or ``None``
    when it cannot decide (the item then does not count for R). ``positive`` is the set of labels
    that count as disease for sensitivity/specificity; by default ``{1}``, allowed only when all
    labels are 0/1. Accuracy is exact agreement on the category.
    """
    n = _check_raters(labels_by_rater, 2)
    references: dict[str, list[Label | None]] = {}
    for rater in labels_by_rater:
        others = [labels for name, labels in labels_by_rater.items() if name != rater]
        references[rater] = [reference_fn([o[i] for o in others if o[i] is not None]) for i in range(n)]
    cats = categories_of(*labels_by_rater.values(), *references.values(), given=categories)
    if positive is None:
        if not set(cats) <= {0, 1}:
            raise MetricsInputError(f"labels {cats} are not 0/1: say which count as disease with positive=[...]")
        positive = {1}
    unknown = set(positive) - set(cats)
    if unknown:
        raise MetricsInputError(
            f"positive labels {sorted(map(repr, unknown))} are not among the categories {cats} "
            "(pass categories=[...] listing every possible label when some do not occur in these data)"
        )
    result: dict[str, RaterPerformance] = {}
    for rater, labels in labels_by_rater.items():
        pairs = paired(labels, references[rater], (rater, "reference"))
        if not pairs:
            result[rater] = RaterPerformance(
                0, 0, 0, 0, 0, None, None, None, ("no item both rated by this rater and decided by the others",)
            )
            continue
        mine = [x for x, _ in pairs]
        ref = [y for _, y in pairs]
        rates = binary_rates(
            torch.tensor([x in positive for x in mine], dtype=torch.long),
            torch.tensor([y in positive for y in ref], dtype=torch.long),
        )
        accuracy = float(
            multiclass_accuracy(encode(mine, cats), encode(ref, cats), num_classes=max(len(cats), 2), average="micro")
        )
        notes = tuple(n for n in rates.notes if n.startswith(("sensitivity", "specificity")))
        result[rater] = RaterPerformance(
            len(pairs), rates.tp, rates.fp, rates.tn, rates.fn, rates.sensitivity, rates.specificity, accuracy, notes
        )
    return result

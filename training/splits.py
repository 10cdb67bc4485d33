"""Patient-grouped, label-stratified train / test / validation splits.

Every record of one patient (both eyes, every exam) lands in one split, so no infant is seen in
training and evaluation alike. Within that rule the splits are stratified by a label: patients
are taken in a seeded random order (largest first) and each goes to the split whose per-class
counts it brings closest to their targets (the greedy step that most reduces the chi-square
distance between current and target counts). Records that already carry a split keep it, and
their patient follows them; augmented copies (records with a ``parent``) follow their original
and do not count towards the strata. The result depends on the records and the seed only, not
on the order of the records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from training.snapshot import SPLITS, SnapshotRecord

#: Paper B's 6:3:1 — in the order (train, test, val).
PAPER_B_RATIOS: tuple[float, float, float] = (0.6, 0.3, 0.1)

KeyFn = Callable[[SnapshotRecord], Hashable]


class SplitError(ValueError):
    """Splits cannot be made as asked (e.g. one patient fixed in two splits)."""


def _key_fn(spec: str | KeyFn | None, default: Callable[[SnapshotRecord], Hashable]) -> KeyFn:
    if spec is None:
        return default
    if callable(spec):
        return spec
    return lambda r: getattr(r, spec)


def _normalise_ratios(ratios: Sequence[float] | Mapping[str, float]) -> dict[str, float]:
    if isinstance(ratios, Mapping):
        unknown = set(ratios) - set(SPLITS)
        if unknown:
            raise SplitError(f"unknown splits {sorted(unknown)} in ratios; expected {', '.join(SPLITS)}")
        values = {s: float(ratios.get(s, 0.0)) for s in ("train", "test", "val")}
    else:
        if len(ratios) != 3:
            raise SplitError(f"ratios must be (train, test, val), got {tuple(ratios)!r}")
        values = dict(zip(("train", "test", "val"), map(float, ratios), strict=True))
    if any(v < 0 for v in values.values()) or sum(values.values()) <= 0:
        raise SplitError(f"ratios must be non-negative with a positive sum, got {values}")
    total = sum(values.values())
    return {s: v / total for s, v in values.items()}


def grouped_split(
    records: Iterable[SnapshotRecord],
    ratios: Sequence[float] | Mapping[str, float] = PAPER_B_RATIOS,
    seed: int = 0,
    stratify_by: str | KeyFn | None = "label_binary",
    group_by: str | KeyFn | None = "patient",
) -> dict[str, str]:
    """Assign every record a split: ``{record id: "train" | "test" | "val"}``.

    ``ratios`` is ``(train, test, val)`` (paper B's 6:3:1 by default) or a mapping by split name.
    ``stratify_by`` names a record field (or gives a function) whose value is balanced across
    splits (None: balance sizes only); ``group_by`` (default the patient; records without one are
    their own group) names what must never be divided. Deterministic for a given ``seed``.
    Raises :class:`SplitError` when a group is fixed to two splits or a parent is missing.
    """
    recs = list(records)
    targets_ratio = _normalise_ratios(ratios)
    group_of = _key_fn(group_by, lambda r: r.id)
    class_of = _key_fn(stratify_by, lambda r: None)
    ids = {r.id for r in recs}
    originals = [r for r in recs if r.parent is None]
    for r in recs:
        if r.parent is not None and r.parent not in ids:
            raise SplitError(f"record {r.id!r}: its parent {r.parent!r} is not among the records")

    groups: dict[Hashable, list[SnapshotRecord]] = defaultdict(list)
    for r in originals:
        key = group_of(r)
        groups[("\0id", r.id) if key is None else key].append(r)

    classes = sorted({class_of(r) for r in originals}, key=repr)
    cindex = {c: i for i, c in enumerate(classes)}
    splits = [s for s in ("train", "test", "val") if targets_ratio[s] > 0]
    counts = {
        key: np.bincount([cindex[class_of(r)] for r in members], minlength=len(classes)).astype(float)
        for key, members in groups.items()
    }
    totals = sum(counts.values(), np.zeros(len(classes)))
    target = {s: targets_ratio[s] * totals for s in splits}
    current = {s: np.zeros(len(classes)) for s in ("train", "test", "val")}

    assignment: dict[Hashable, str] = {}
    for key, members in groups.items():
        fixed = {r.split for r in members if r.split is not None}
        if len(fixed) > 1:
            raise SplitError(
                f"group {key!r} has records fixed in different splits ({', '.join(sorted(fixed))}); "
                "all records of a patient must share one split"
            )
        if fixed:
            split = fixed.pop()
            assignment[key] = split
            current[split] += counts[key]

    free = sorted((k for k in groups if k not in assignment), key=repr)  # independent of record order
    order = np.random.default_rng(seed).permutation(len(free))
    free = sorted((free[i] for i in order), key=lambda k: -len(groups[k]))  # stable: random among equals
    for key in free:
        n = counts[key]

        def cost(split: str, n: np.ndarray = n) -> float:
            t = np.maximum(target[split], 1e-9)
            return float(np.sum(n * (2.0 * (current[split] - target[split]) + n) / t))

        best = min(splits, key=cost)  # ties: the earlier split in (train, test, val)
        assignment[key] = best
        current[best] += n

    out: dict[str, str] = {}
    for key, members in groups.items():
        for r in members:
            out[r.id] = assignment[key]
    for r in recs:
        if r.parent is not None:
            out[r.id] = out[r.parent]
    return out


def apply_splits(records: Iterable[SnapshotRecord], assignment: Mapping[str, str]) -> list[SnapshotRecord]:
    """The records with their ``split`` set from ``assignment`` (records not in it unchanged)."""
    return [r.replace(split=assignment[r.id]) if r.id in assignment else r for r in records]


def split_counts(
    records: Iterable[SnapshotRecord],
    stratify_by: str | KeyFn | None = "label_binary",
) -> dict[str | None, Counter[Any]]:
    """Per split, how many original (non-derived) records of each class: for logs and model cards."""
    class_of = _key_fn(stratify_by, lambda r: None)
    out: dict[str | None, Counter[Any]] = defaultdict(Counter)
    for r in records:
        if r.parent is None:
            out[r.split][class_of(r)] += 1
    return dict(out)

"""Class imbalance: batches with a set positive:negative ratio (paper A) and class weights.

Paper A's text lost the ratio it used; ``positive_fraction`` is a config value (0.5 by default).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


class RatioBatchSampler(Sampler[list[int]]):
    """Batches of indices holding ``round(batch_size * positive_fraction)`` positives (label > 0).

    The minority class is over-sampled (its indices are cycled, reshuffled on every pass) and the
    majority class under-sampled, so every batch keeps the ratio. An epoch has ``num_batches``
    batches (default: as many as the data fills). Deterministic for (``seed``, epoch): the epoch
    advances on every iteration, or is set with :meth:`set_epoch`. Under torchrun give ``rank``
    and ``world_size``: every rank draws the same batches and keeps every ``world_size``-th one.
    """

    def __init__(
        self,
        labels: Sequence[int],
        batch_size: int,
        positive_fraction: float = 0.5,
        seed: int = 0,
        *,
        num_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if not 0.0 <= positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        y = np.asarray(labels)
        self.positives = np.flatnonzero(y > 0)
        self.negatives = np.flatnonzero(y <= 0)
        n_pos = int(round(batch_size * positive_fraction))
        if 0 < positive_fraction < 1 and batch_size >= 2:
            n_pos = min(max(n_pos, 1), batch_size - 1)
        self.n_pos, self.n_neg = n_pos, batch_size - n_pos
        if self.n_pos and not len(self.positives):
            raise ValueError("no positive labels to fill the positive share of a batch")
        if self.n_neg and not len(self.negatives):
            raise ValueError("no negative labels to fill the negative share of a batch")
        self.batch_size = batch_size
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        total = num_batches if num_batches is not None else math.ceil(len(y) / batch_size)
        self.num_batches = max(1, math.ceil(total / world_size)) if num_batches is None else num_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    @staticmethod
    def _stream(indices: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
        while True:
            yield from rng.permutation(indices).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        pos = self._stream(self.positives, rng) if self.n_pos else iter(())
        neg = self._stream(self.negatives, rng) if self.n_neg else iter(())
        for b in range(self.num_batches * self.world_size):
            batch = [next(pos) for _ in range(self.n_pos)] + [next(neg) for _ in range(self.n_neg)]
            order = rng.permutation(len(batch))
            if b % self.world_size == self.rank:
                yield [batch[i] for i in order]


def class_weights(labels: Sequence[int], num_classes: int | None = None) -> torch.Tensor:
    """Balanced class weights ``n / (k * n_c)`` for a weighted loss (0 for a class with no samples)."""
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        raise ValueError("no labels")
    if y.min() < 0:
        raise ValueError(f"labels must be class indices ≥ 0, got {int(y.min())}")
    k = num_classes if num_classes is not None else int(y.max()) + 1
    if y.max() >= k:
        raise ValueError(f"label {int(y.max())} is not below num_classes={k}")
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weights = np.where(counts > 0, y.size / (k * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)

"""The interface every training task implements (see :mod:`training.engine.tasks`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from training.config import TrainConfig
from training.data.datasets import MaskFn, SnapshotDataset
from training.presets import Preset
from training.snapshot import Snapshot

Row = dict[str, Any]


class ConfigError(ValueError):
    """A training configuration that cannot run (e.g. a segmenter for a classification task)."""


class Task(ABC):
    """One training task. ``classes`` come from the snapshot's class lists."""

    name: str
    snapshot_task: str  #: the filter of ``Snapshot.for_task``
    stratify: str | None  #: record field balanced across splits
    registry_tasks: tuple[str, ...]  #: model registry tasks that fit

    def __init__(self, config: TrainConfig, snapshot_classes: dict[str, list[str]]) -> None:
        self.config = config
        self.snapshot_classes = snapshot_classes

    # -- description -------------------------------------------------------------------------
    @property
    @abstractmethod
    def num_classes(self) -> int: ...

    @property
    @abstractmethod
    def classes(self) -> list[str]: ...

    def select(self, snapshot: Snapshot) -> Snapshot:
        """The records this task trains on."""
        return snapshot.for_task(self.snapshot_task)

    def check(self, splits: dict[str, Snapshot]) -> str | None:
        """Why these splits cannot train this task (None: they can)."""
        return None

    # -- data and loss -----------------------------------------------------------------------
    @abstractmethod
    def dataset(
        self, snapshot: Snapshot, preset: Preset, train: bool, cache: bool, mask_fn: MaskFn | None = None
    ) -> SnapshotDataset:
        """The split's dataset; ``mask_fn`` (a hybrid's validation split with ``fit(line_bundle=...)``)
        supplies the line-mask channel instead of the reference masks."""

    # an optional hook (the base builds no loss), so not abstract
    def setup_loss(self, train: Any, device: torch.device, batch_positive_fraction: float | None) -> None:  # noqa: B027
        """Build the loss from the training dataset (class weights); an optional hook, a no-op here."""

    @abstractmethod
    def train_loss(
        self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device
    ) -> torch.Tensor: ...

    @abstractmethod
    def eval_rows(self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device) -> list[Row]:
        """One row per image: ``index``, ``loss`` and what :meth:`metrics` needs (model in eval mode)."""

    @abstractmethod
    def metrics(self, rows: list[Row]) -> dict[str, float]: ...


def drop_none(values: dict[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None}


def label_counts(snapshot: Snapshot, task: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in snapshot:
        label = r.target(task)
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    return counts

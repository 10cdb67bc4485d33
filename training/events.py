"""Typed events yielded by :func:`training.engine.fit`.

A training run is a generator of these plain dataclasses. The desktop app's worker relays them
as Qt signals; the CLI prints them as progress bars; tests assert on them. Every event has a
``kind`` string so it can be logged as JSON lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    task: str
    architecture: str
    device: str
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    batches_per_epoch: int
    init: str  # where the starting weights came from ("random", "imagenet:<file>", "bundle:<path>")


@dataclass(frozen=True)
class Log(Event):
    message: str
    level: str = "info"


@dataclass(frozen=True)
class BatchProgress(Event):
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches: int
    loss: float
    images_per_s: float
    eta_s: float  # whole run


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    val_metrics: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    is_best: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    epoch: int
    is_best: bool


@dataclass(frozen=True)
class Paused(Event):
    epoch: int
    batch: int


@dataclass(frozen=True)
class Finished(Event):
    bundle_dir: str
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    test_metrics: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # binary: operating threshold; segmentation: mask threshold (validation)
    time_budget_reached: bool = False  # training stopped at config.max_minutes


@dataclass(frozen=True)
class Failed(Event):
    reason: str
    category: str  # "diverged" | "out_of_memory" | "bad_data" | "error"
    epoch: int = 0
    batch: int = 0


@dataclass(frozen=True)
class Cancelled(Event):
    epoch: int
    batch: int
    checkpoint: str | None = None

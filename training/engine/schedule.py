"""The learning rate of a run: warm-up, then paper A's plateau rule or a cosine that fits the budget.

``LrSchedule`` owns the optimiser's learning rate. Its parts:

- the **base** rate: ``config.lr``, or ``config.lr_from_scratch`` when the model starts from random
  weights (paper B's Mask R-CNN rate 0.002 is for COCO-pretrained weights and diverges from scratch);
  lowered by ``config.divergence_lr_factor`` each time a non-finite loss sends the run back to its
  last good state;
- **plateau** (``lr_schedule="plateau"``): torch's ``ReduceLROnPlateau`` multiplies the rate by
  ``plateau_factor`` when the validation loss has not improved for ``plateau_patience`` epochs
  (paper A's x0.8);
- **cosine** (``lr_schedule="cosine"``): the rate falls from the base to ``base * min_lr_fraction``
  along a half cosine of the run's progress, which is the larger of the share of batches done and,
  with ``max_minutes``, the share of the time budget spent — so a budgeted run ends at its lowest
  rate whatever the machine's speed;
- **warm-up** (``warmup_batches``): the first batches of the run ramp linearly up to the rate.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from training.config import TrainConfig


class LrSchedule:
    """Sets the optimiser's learning rate before every batch and steps the plateau rule per epoch."""

    def __init__(
        self, config: TrainConfig, optimizer: torch.optim.Optimizer, base_lr: float, total_batches: int
    ) -> None:
        self.config, self.optimizer = config, optimizer
        self.base_lr = base_lr
        self.total_batches = max(1, total_batches)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
        self.plateau_lr = base_lr  # the rate the plateau rule has reached (before warm-up)
        self._set(base_lr)

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def rate(self, batches_done: int, elapsed_s: float) -> float:
        """The rate for the next batch, ``batches_done`` batches and ``elapsed_s`` seconds into the run."""
        c = self.config
        if c.lr_schedule == "cosine":
            progress = batches_done / self.total_batches
            if c.max_minutes:
                progress = max(progress, elapsed_s / (c.max_minutes * 60.0))
            progress = min(max(progress, 0.0), 1.0)
            floor = self.base_lr * c.min_lr_fraction
            lr = floor + (self.base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            lr = self.plateau_lr
        if c.warmup_batches and batches_done < c.warmup_batches:
            lr *= (batches_done + 1) / (c.warmup_batches + 1)
        return lr

    def before_batch(self, batches_done: int, elapsed_s: float) -> None:
        self._set(self.rate(batches_done, elapsed_s))

    def after_epoch(self, val_loss: float) -> None:
        """Paper A's plateau rule (plateau schedule only): x ``plateau_factor`` after a stall."""
        if self.config.lr_schedule != "plateau":
            return
        self._set(self.plateau_lr)
        self.plateau.step(val_loss)
        self.plateau_lr = self.lr

    def lower(self) -> float:
        """After a divergence: the base rate (and the plateau's) times ``divergence_lr_factor``."""
        factor = self.config.divergence_lr_factor
        self.base_lr *= factor
        self.plateau_lr *= factor
        self._set(self.plateau_lr if self.config.lr_schedule == "plateau" else self.base_lr)
        return self.base_lr

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "plateau_lr": self.plateau_lr, "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "base_lr" not in state:  # a checkpoint of an older engine: the plateau scheduler's state only
            self.plateau.load_state_dict(state)
            self.plateau_lr = self.lr
            return
        self.base_lr, self.plateau_lr = float(state["base_lr"]), float(state["plateau_lr"])
        self.plateau.load_state_dict(state["plateau"])

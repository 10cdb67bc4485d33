"""Mask R-CNN training: the line mask's connected components are the instances."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from training.data.datasets import MaskFn, SegmentationDataset, SnapshotDataset
from training.engine.tasks.base import Row, Task
from training.metrics import dice
from training.models import model_info
from training.presets import Preset
from training.snapshot import Snapshot

#: Connected components smaller than this (pixels, prepared resolution) are not Mask R-CNN instances.
MIN_INSTANCE_AREA = 4


def mask_instances(mask: np.ndarray, min_area: int = MIN_INSTANCE_AREA) -> list[np.ndarray]:
    """A binary mask split into its 8-connected components (bool masks), small specks dropped."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    return [labels == k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= min_area]


def instance_target(mask: torch.Tensor, label: int) -> dict[str, torch.Tensor]:
    """Mask R-CNN's training target for one image's line mask (1×H×W): one instance per component."""
    parts = mask_instances(mask[0].cpu().numpy() > 0.5)
    h, w = mask.shape[-2:]
    if not parts:
        return {
            "boxes": torch.zeros((0, 4)),
            "labels": torch.zeros((0,), dtype=torch.int64),
            "masks": torch.zeros((0, h, w), dtype=torch.uint8),
        }
    boxes = []
    for part in parts:
        ys, xs = np.nonzero(part)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.full((len(parts),), label, dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(parts).astype(np.uint8)),
    }


def _frozen_bn_train_mode(model: nn.Module) -> None:
    """Train mode (so detection models return losses) with BatchNorm statistics left untouched."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class InstanceTask(Task):
    """Mask R-CNN: the line mask's connected components are the instances (class 1), or, for a
    per-stage model (more than 2 classes, paper B's segmentation-only baseline), class stage + 1."""

    name, snapshot_task, stratify, registry_tasks = (
        "instance",
        "segmentation",
        "label_binary",
        ("instance_segmentation",),
    )

    @property
    def num_classes(self) -> int:
        given = self.config.model_kwargs.get("num_classes")
        return int(given) if given else model_info(self.config.architecture).default_num_classes

    @property
    def per_stage(self) -> bool:
        return self.num_classes > 2

    @property
    def classes(self) -> list[str]:
        if self.per_stage:
            return list(self.snapshot_classes.get("stage3", ["stage 1", "stage 2", "stage 3"]))
        return list(self.snapshot_classes.get("segmentation", ["demarcation line"]))

    def select(self, snapshot: Snapshot) -> Snapshot:
        selected = snapshot.for_task("segmentation")
        if self.per_stage:
            selected = selected.with_records(r for r in selected if r.stage3 is not None and r.parent is None)
        return selected

    def dataset(
        self, snapshot: Snapshot, preset: Preset, train: bool, cache: bool, mask_fn: MaskFn | None = None
    ) -> SnapshotDataset:
        return SegmentationDataset(snapshot, preset, train, cache=cache)

    def _targets(self, batch: dict[str, Any], device: torch.device) -> list[dict[str, torch.Tensor]]:
        labels = batch["label"].tolist()
        return [
            {k: v.to(device) for k, v in instance_target(m, (lab + 1) if self.per_stage else 1).items()}
            for m, lab in zip(batch["mask"], labels, strict=True)
        ]

    def train_loss(
        self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device
    ) -> torch.Tensor:
        losses = model(list(x), self._targets(batch, device))
        return sum(losses.values())

    def eval_rows(self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device) -> list[Row]:
        targets = self._targets(batch, device)
        rows = []
        for k, image in enumerate(x):
            _frozen_bn_train_mode(model)
            try:
                loss = float(sum(model([image], [targets[k]]).values()))
            finally:
                model.eval()
            out = model([image])[0]
            pred = (
                (out["masks"][:, 0] > 0.5).any(dim=0).cpu().numpy()
                if len(out["masks"])
                else np.zeros(image.shape[-2:], bool)
            )
            rows.append(
                {"index": int(batch["index"][k]), "loss": loss, "dice": dice(pred, batch["mask"][k][0].numpy() > 0.5)}
            )
        return rows

    def metrics(self, rows: list[Row]) -> dict[str, float]:
        return {"dice": float(np.mean([r["dice"] for r in rows]))}

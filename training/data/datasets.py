"""PyTorch datasets over snapshot records: classification, segmentation, and paper B's hybrid.

Each item is a dict (batched by :func:`collate`)::

    {"image": float32 C×S×S, "label": int64 (classification / hybrid), "mask": float32 1×S×S
     (segmentation / hybrid), "id": record id, "index": position in the dataset}

Loading: ``cv2`` decode (RGB) → shrink to a working copy (longest side ``work_size``, default
1.25 × the preset's size, so crops and zooms still have pixels to spare) → the record's stored
``augment`` (augmented copies) → :meth:`Preset.prepare`. With ``cache=True`` the working copies
are kept in memory (per process: each DataLoader worker holds its own). Random augmentation
draws from torch's RNG, so ``torch.manual_seed`` and DataLoader worker seeding make it
reproducible and different in every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.augment import apply_augment
from training.data.io import read_mask, read_rgb
from training.data.mask_dropout import degrade_line_mask
from training.presets import MASK_COVERAGE, Preset
from training.snapshot import Snapshot, SnapshotRecord

#: Supplies a line mask for a record at evaluation time (e.g. the segmentation model's prediction):
#: called with the record and the RGB image as loaded (working copy, augmentation applied);
#: returns an H×W mask of the same size (0/255, 0/1 or bool).
MaskFn = Callable[[SnapshotRecord, np.ndarray], np.ndarray]
CLASSIFICATION_TASKS: tuple[str, ...] = ("binary", "stage3")


class DatasetError(ValueError):
    """Records that do not fit the dataset (missing labels or masks, wrong preset)."""


def _ids(records: Sequence[SnapshotRecord], limit: int = 5) -> str:
    shown = ", ".join(repr(r.id) for r in records[:limit])
    return shown + (f" and {len(records) - limit} more" if len(records) > limit else "")


class SnapshotDataset(Dataset[dict[str, Any]]):
    """Shared loading, caching and random-number handling of the three datasets."""

    def __init__(
        self,
        snapshot: Snapshot,
        preset: Preset,
        *,
        train: bool = False,
        cache: bool = False,
        work_size: int | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.records: tuple[SnapshotRecord, ...] = tuple(snapshot.records)
        self.preset = preset
        self.train = train
        self.cache = cache
        self.work_size = work_size or math.ceil(preset.image_size * 1.25)
        self._cache: dict[tuple[str, str, bool], tuple[np.ndarray, np.ndarray | None]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def _shrink(self, rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        h, w = rgb.shape[:2]
        scale = self.work_size / max(h, w)
        if scale >= 1.0:
            return rgb, mask
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = ((cv2.resize(mask, size, interpolation=cv2.INTER_AREA) >= MASK_COVERAGE) * 255).astype(np.uint8)
        return small, mask

    def _record_mask(self, record: SnapshotRecord, hw: tuple[int, int]) -> np.ndarray | None:
        if record.mask:
            mask = read_mask(self.snapshot.path(record.mask))
            if mask.shape != hw:
                raise DatasetError(
                    f"record {record.id!r}: mask {record.mask} is {mask.shape[1]}x{mask.shape[0]} "
                    f"but the image is {hw[1]}x{hw[0]}"
                )
            return mask
        if record.polygons:
            from training.formats.masks import polygons_to_mask

            return polygons_to_mask(record.polygons, hw)
        return None

    def load(self, index: int, with_mask: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The record's RGB working copy and line mask (0/255, or None), stored augmentation applied."""
        record = self.records[index]
        key = (record.image, record.mask or record.parent or record.id, with_mask)
        cached = self._cache.get(key)
        if cached is None:
            rgb = read_rgb(self.snapshot.path(record.image))
            mask = self._record_mask(record, rgb.shape[:2]) if with_mask else None
            cached = self._shrink(rgb, mask)
            if self.cache:
                self._cache[key] = cached
        return apply_augment(cached[0], cached[1], record.augment)

    def _rng(self) -> np.random.Generator | None:
        if not self.train:
            return None
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def _base(self, index: int) -> dict[str, Any]:
        return {"id": self.records[index].id, "index": index}


class ClassificationDataset(SnapshotDataset):
    """Image → class: ``task`` "binary" (label_binary, paper A) or "stage3" (stages 1–3, paper B)."""

    def __init__(
        self,
        snapshot: Snapshot,
        preset: Preset,
        task: str = "binary",
        train: bool = False,
        *,
        cache: bool = False,
        work_size: int | None = None,
    ) -> None:
        if task not in CLASSIFICATION_TASKS:
            raise DatasetError(f"task must be one of {', '.join(CLASSIFICATION_TASKS)}, got {task!r}")
        if preset.mask_channel:
            raise DatasetError(f"preset {preset.name!r} has a mask channel: use HybridDataset")
        super().__init__(snapshot, preset, train=train, cache=cache, work_size=work_size)
        unlabelled = [r for r in self.records if r.target(task) is None]
        if unlabelled:
            raise DatasetError(
                f"{len(unlabelled)} records have no {task} label ({_ids(unlabelled)}); "
                f"select them with snapshot.for_task({task!r})"
            )
        self.task = task
        self.labels: list[int] = [int(r.target(task)) for r in self.records]  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rgb, _ = self.load(index, with_mask=False)
        prepared = self.preset.prepare(rgb, None, train=self.train, rng=self._rng())
        return {**self._base(index), "image": prepared.image, "label": torch.tensor(self.labels[index])}


class SegmentationDataset(SnapshotDataset):
    """Image → line mask (from the mask file, else rasterised polygons); geometric augmentation
    moves image and mask together. ``label`` is the record's 3-class stage (−1 when unknown),
    for per-stage segmentation (paper B's segmentation-only baseline)."""

    def __init__(
        self,
        snapshot: Snapshot,
        preset: Preset,
        train: bool = False,
        *,
        cache: bool = False,
        work_size: int | None = None,
    ) -> None:
        super().__init__(snapshot, preset, train=train, cache=cache, work_size=work_size)
        if preset.mask_channel:
            raise DatasetError(f"preset {preset.name!r} has a mask channel: use HybridDataset")
        without = [r for r in self.records if not (r.mask or r.polygons)]
        if without:
            raise DatasetError(
                f"{len(without)} records have neither a mask nor polygons ({_ids(without)}); "
                "select them with snapshot.for_task('segmentation')"
            )
        self.labels = [r.stage3 if r.stage3 is not None else -1 for r in self.records]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rgb, mask = self.load(index)
        prepared = self.preset.prepare(rgb, mask, train=self.train, rng=self._rng())
        return {
            **self._base(index),
            "image": prepared.image,
            "mask": prepared.mask,
            "label": torch.tensor(self.labels[index]),
        }


class HybridDataset(SnapshotDataset):
    """Paper B's hybrid input: the preprocessed image with the line mask as an extra channel.

    The mask is the record's (file or polygons) or, at evaluation time, ``mask_fn(record, rgb)``
    (the segmentation model's prediction). With ``allow_missing_mask``, a record without one gets
    an empty mask (no line visible) instead of an error. ``mask_dropout`` (training datasets only):
    the probability that a sample's mask is emptied or partly erased
    (:func:`training.data.mask_dropout.degrade_line_mask`), so the model learns to read the image too.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        preset: Preset,
        task: str = "stage3",
        train: bool = False,
        *,
        mask_fn: MaskFn | None = None,
        allow_missing_mask: bool = False,
        cache: bool = False,
        work_size: int | None = None,
        mask_dropout: float = 0.0,
    ) -> None:
        if not 0.0 <= mask_dropout <= 1.0:
            raise DatasetError(f"mask_dropout must be between 0 and 1, got {mask_dropout}")
        if not preset.mask_channel:
            raise DatasetError(
                f"preset {preset.name!r} has no mask channel; use e.g. get_preset('paper_b', mask_channel=True)"
            )
        if task not in CLASSIFICATION_TASKS:
            raise DatasetError(f"task must be one of {', '.join(CLASSIFICATION_TASKS)}, got {task!r}")
        super().__init__(snapshot, preset, train=train, cache=cache, work_size=work_size)
        unlabelled = [r for r in self.records if r.target(task) is None]
        if unlabelled:
            raise DatasetError(f"{len(unlabelled)} records have no {task} label ({_ids(unlabelled)})")
        if mask_fn is None and not allow_missing_mask:
            without = [r for r in self.records if not (r.mask or r.polygons)]
            if without:
                raise DatasetError(
                    f"{len(without)} records have no line mask ({_ids(without)}); pass mask_fn "
                    "or allow_missing_mask=True"
                )
        self.task = task
        self.mask_fn = mask_fn
        self.mask_dropout = mask_dropout if train else 0.0  # never at validation / test
        self.labels: list[int] = [int(r.target(task)) for r in self.records]  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rgb, mask = self.load(index, with_mask=self.mask_fn is None)
        if self.mask_fn is not None:
            mask = np.asarray(self.mask_fn(self.records[index], rgb))
            if mask.shape[:2] != rgb.shape[:2]:
                raise DatasetError(
                    f"mask_fn returned a {mask.shape[1]}x{mask.shape[0]} mask for a "
                    f"{rgb.shape[1]}x{rgb.shape[0]} image (record {self.records[index].id!r})"
                )
        if mask is None:
            mask = np.zeros(rgb.shape[:2], np.uint8)
        rng = self._rng()
        # drawn only when dropout is on, so that runs without it keep their random streams
        if rng is not None and self.mask_dropout > 0 and rng.random() < self.mask_dropout:
            mask = degrade_line_mask(mask, rng)
        prepared = self.preset.prepare(rgb, mask, train=self.train, rng=rng)
        return {
            **self._base(index),
            "image": prepared.image,
            "mask": prepared.mask,
            "label": torch.tensor(self.labels[index]),
        }


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack same-shaped tensors of a batch of samples; keep anything else (ids, ragged) as lists."""
    if not batch:
        return {}
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [sample.get(key) for sample in batch]
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if len(tensors) == len(values) and len({tuple(t.shape) for t in tensors}) == 1:
            out[key] = torch.stack(tensors)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out

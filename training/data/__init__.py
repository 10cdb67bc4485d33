"""Data for training: image I/O, datasets, samplers, augmentation.

Importing this package is cheap; the torch-based names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from training.data.augment import apply_augment, crop_zoom, oversample_stage1
    from training.data.datasets import (
        ClassificationDataset,
        DatasetError,
        HybridDataset,
        MaskFn,
        SegmentationDataset,
        SnapshotDataset,
        collate,
    )
    from training.data.io import ImageReadError, read_mask, read_rgb, write_mask
    from training.data.samplers import RatioBatchSampler, class_weights

_EXPORTS = {
    "ClassificationDataset": "datasets",
    "SegmentationDataset": "datasets",
    "HybridDataset": "datasets",
    "SnapshotDataset": "datasets",
    "DatasetError": "datasets",
    "MaskFn": "datasets",
    "collate": "datasets",
    "RatioBatchSampler": "samplers",
    "class_weights": "samplers",
    "oversample_stage1": "augment",
    "crop_zoom": "augment",
    "apply_augment": "augment",
    "read_rgb": "io",
    "read_mask": "io",
    "write_mask": "io",
    "ImageReadError": "io",
}
__all__ = [  # spelled out (not sorted(_EXPORTS)) so that linters and IDEs see the public names
    "ClassificationDataset",
    "DatasetError",
    "HybridDataset",
    "ImageReadError",
    "MaskFn",
    "RatioBatchSampler",
    "SegmentationDataset",
    "SnapshotDataset",
    "apply_augment",
    "class_weights",
    "collate",
    "crop_zoom",
    "oversample_stage1",
    "read_mask",
    "read_rgb",
    "write_mask",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'training.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"training.data.{module}"), name)

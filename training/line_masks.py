"""The line model's predicted masks of a hybrid run's validation and test images, computed once.

A hybrid (image + line-mask channel) trains on the reference masks, as paper B does, but in use
it is fed what a line model predicts. Its validation passes (best epoch, operating threshold) and
its test report are only honest when they see those predicted masks: ``fit(..., line_bundle=DIR)``
predicts the masks of the few validation and test images ONCE, before the first epoch, and keeps
them here, PNG-compressed in memory (a line mask is mostly zeros; a 2040 px mask shrinks from 4 MB
to a few kB). The card records which line model fed them (:func:`describe_line_model`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.bundle import WEIGHTS_FILE, BundleError, read_card
from training.data.augment import apply_augment
from training.data.io import ImageReadError, binarize_mask, read_rgb
from training.presets import MASK_COVERAGE
from training.snapshot import Snapshot, SnapshotRecord


class LineMaskError(ValueError):
    """The line bundle cannot feed this run (not a line segmenter, unreadable, a mask missing)."""


def weights_sha256(folder: str | Path) -> str:
    """SHA-256 of a bundle's ``weights.safetensors``: the line model's identity on the card."""
    digest = hashlib.sha256()
    with open(Path(folder) / WEIGHTS_FILE, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_line_model(folder: str | Path) -> dict[str, Any]:
    """What a card says about the line model that fed a hybrid: folder, weights hash, provenance."""
    try:
        card = read_card(folder)
    except BundleError as exc:
        raise LineMaskError(f"line bundle: {exc}") from None
    if card.task not in ("segmentation", "instance_segmentation"):
        raise LineMaskError(f"{folder} holds a {card.task} model, not a line segmenter: --line-bundle needs one")
    return {
        "bundle": str(Path(folder).resolve()),
        "weights_sha256": weights_sha256(folder),
        "architecture": card.architecture,
        "snapshot_hash": card.snapshot_hash,
        "created": card.created,
        "mask_threshold": card.threshold,
        "test_dice": card.metrics.get("dice"),
    }


@dataclass
class LineMasks:
    """Predicted line masks by record id, at each image's own size (after its stored augmentation)."""

    line_model: dict[str, Any]  #: :func:`describe_line_model` of the model that predicted them
    _png: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._png

    def __len__(self) -> int:
        return len(self._png)

    def put(self, record_id: str, mask: np.ndarray) -> None:
        ok, encoded = cv2.imencode(".png", binarize_mask(mask))
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise LineMaskError(f"the predicted mask of record {record_id!r} cannot be encoded")
        self._png[record_id] = encoded.tobytes()

    def get(self, record_id: str) -> np.ndarray:
        """The uint8 0/255 mask predicted for ``record_id`` (``LineMaskError`` when none was)."""
        try:
            data = self._png[record_id]
        except KeyError:
            raise LineMaskError(
                f"no predicted line mask for record {record_id!r}: only the validation and test images get one"
            ) from None
        mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert mask is not None  # encoded by put()
        return np.asarray(mask, np.uint8)

    def mask_fn(self, record: SnapshotRecord, rgb: np.ndarray) -> np.ndarray:
        """A ``HybridDataset`` mask function: the record's predicted mask at the size of ``rgb``
        (the dataset's shrunken working copy; downscaled as the dataset downscales reference masks)."""
        mask = self.get(record.id)
        h, w = rgb.shape[:2]
        if mask.shape != (h, w):
            mask = ((cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA) >= MASK_COVERAGE) * 255).astype(np.uint8)
        return mask


def predict_line_masks(line_bundle: str | Path, snapshots: Iterable[Snapshot], device: str = "cpu") -> LineMasks:
    """Run the line model of ``line_bundle`` once over every record of ``snapshots``: each image read
    at full size, its stored augmentation applied, the mask cut at the line model's own threshold —
    exactly the mask ``Predictor.hybrid`` would feed the hybrid in use."""
    from training.predictor import Predictor, PredictorError

    out = LineMasks(describe_line_model(line_bundle))
    try:
        line = Predictor.from_bundle(line_bundle, device)
    except (BundleError, PredictorError) as exc:
        raise LineMaskError(f"line bundle {line_bundle}: {exc}") from None
    for snapshot in snapshots:
        for record in snapshot:
            if record.id in out:
                continue
            try:
                rgb = read_rgb(snapshot.image_path(record))
            except (ImageReadError, OSError) as exc:
                raise LineMaskError(f"record {record.id!r}: {exc}") from None
            rgb, _ = apply_augment(rgb, None, record.augment)
            out.put(record.id, line.line_mask(rgb))
    return out

"""Mask-channel dropout (``TrainConfig.mask_dropout``): a hybrid's TRAINING samples get an emptied or
partly erased line mask, the way a line model fails, so the classifier has to read the image too;
validation and test samples keep theirs, and a run without dropout is untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.bundle import read_card
from training.config import TrainConfig
from training.data.mask_dropout import degrade_line_mask
from training.engine import fit
from training.engine.setup import RunError, build_preset
from training.engine.tasks import make_task
from training.events import Finished
from training.snapshot import Snapshot

from .conftest import build_snapshot, run_all, tiny_config

# paper_b has no random augmentation: a training sample differs from its validation twin by the dropout only
HYBRID = {"architecture": "resnet18_hybrid", "preset": "paper_b",
          "preset_overrides": {"image_size": 32, "mask_channel": True}}


@pytest.fixture(scope="module")
def rop_only(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Twelve ROP images (six patients, both eyes), each with its reference line mask."""
    snap = build_snapshot(tmp_path_factory.mktemp("dropout") / "snap", labels=lambda p: 1, n_patients=6)
    return snap


def _mask_channels(snap: Snapshot, mask_dropout: float, train: bool, seed: int = 0) -> np.ndarray:
    """The line-mask channel (last input channel) of every sample, as the engine builds the dataset."""
    config = tiny_config(mask_dropout=mask_dropout, **HYBRID)
    dataset = make_task(config, snap.classes).dataset(snap, build_preset(config), train, False)
    torch.manual_seed(seed)  # the engine seeds torch with config.seed before training
    return np.stack([dataset[i]["image"][-1].numpy() for i in range(len(dataset))])


def test_training_masks_are_emptied_or_cut_and_validation_masks_kept(rop_only: Snapshot) -> None:
    reference = _mask_channels(rop_only, 0.0, train=False)
    assert (reference.sum(axis=(1, 2)) > 0).all()  # every image's line is in its reference mask
    np.testing.assert_array_equal(_mask_channels(rop_only, 1.0, train=False), reference)  # validation: never

    trained = _mask_channels(rop_only, 1.0, train=True)
    kept = trained.sum(axis=(1, 2)) / reference.sum(axis=(1, 2))
    assert (kept < 1).all()  # every training sample lost (part of) its line
    assert (trained <= reference).all()  # erased only: no line pixel invented
    assert (kept == 0).any() and ((kept > 0) & (kept < 1)).any()  # both ways a line model fails


def test_without_dropout_training_masks_are_untouched(rop_only: Snapshot) -> None:
    np.testing.assert_array_equal(_mask_channels(rop_only, 0.0, train=True), _mask_channels(rop_only, 0.0, False))


def test_the_degradation_is_seeded(rop_only: Snapshot) -> None:
    first = _mask_channels(rop_only, 0.5, train=True, seed=3)
    np.testing.assert_array_equal(_mask_channels(rop_only, 0.5, train=True, seed=3), first)
    assert not np.array_equal(_mask_channels(rop_only, 0.5, train=True, seed=4), first)


def test_degrade_line_mask_erases_whole_blobs_and_leaves_empty_masks_empty() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[28:33, 5:75] = 255  # a horizontal line
    rng = np.random.default_rng(0)
    outcomes = [degrade_line_mask(mask, rng) for _ in range(40)]
    for out in outcomes:
        assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 255}
        assert not (out[mask == 0]).any() and np.count_nonzero(out) < np.count_nonzero(mask)
    partial = [o for o in outcomes if o.any()]
    assert partial and len(partial) < len(outcomes)
    assert not degrade_line_mask(np.zeros((8, 8), np.uint8), rng).any()


def test_mask_dropout_is_refused_where_it_cannot_apply(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mask_dropout must be between 0 and 1"):
        TrainConfig(mask_dropout=1.5)
    with pytest.raises(RunError, match=r"mask_dropout 0\.5 applies to a hybrid"):
        build_preset(tiny_config(mask_dropout=0.5))  # tiny_cnn on RGB: no mask channel to drop


def test_a_hybrid_trains_with_mask_dropout_and_its_card_records_it(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    snap = build_snapshot(tmp_path / "snap", n_patients=8)
    config = tiny_config(mask_dropout=0.5, epochs=1, max_batches_per_epoch=2, threshold_rule="empirical",
                         preset_overrides={"image_size": 32, "mask_channel": True})
    finished = run_all(fit(config, snap, tmp_path / "run"))[-1]
    assert isinstance(finished, Finished), finished
    assert read_card(finished.bundle_dir).config["mask_dropout"] == 0.5

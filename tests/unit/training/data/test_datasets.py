"""Datasets, collate, the ratio batch sampler, class weights and stage-1 oversampling."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from training.data import (
    ClassificationDataset,
    DatasetError,
    HybridDataset,
    RatioBatchSampler,
    SegmentationDataset,
    class_weights,
    collate,
    oversample_stage1,
)
from training.data.io import read_rgb
from training.presets import get_preset
from training.splits import apply_splits, grouped_split

S = 32


def test_classification_dataset_and_loader(make_snapshot) -> None:
    snap = make_snapshot(8)
    ds = ClassificationDataset(snap.for_task("binary"), get_preset("paper_a", image_size=S), "binary", train=True)
    assert len(ds) == 8 and ds.labels == [0, 1, 1, 1, 0, 1, 1, 1]
    item = ds[1]
    assert set(item) == {"id", "index", "image", "label"}
    assert item["image"].shape == (3, S, S) and item["label"].dtype == torch.int64 and item["id"] == "img1"
    torch.manual_seed(0)
    sampler = RatioBatchSampler(ds.labels, batch_size=4, positive_fraction=0.5, seed=0)
    batches = list(DataLoader(ds, batch_sampler=sampler, collate_fn=collate))
    assert len(batches) == 2
    for batch in batches:
        assert batch["image"].shape == (4, 3, S, S) and batch["label"].tolist().count(1) == 2
        assert len(batch["id"]) == 4 and batch["index"].dtype == torch.int64
    stage = ClassificationDataset(snap.for_task("stage3"), get_preset("paper_b", image_size=S), "stage3")
    assert stage.labels == [0, 1, 2, 0, 1, 2] and stage[0]["image"].shape == (1, S, S)
    with pytest.raises(DatasetError, match=r"2 records have no stage3 label \('img0', 'img4'\)"):
        ClassificationDataset(snap, get_preset("paper_b", image_size=S), "stage3")
    with pytest.raises(DatasetError, match="use HybridDataset"):
        ClassificationDataset(snap, get_preset("paper_b", image_size=S, mask_channel=True))


def test_segmentation_dataset_keeps_mask_on_the_line(make_snapshot) -> None:
    snap = make_snapshot(8).for_task("segmentation")
    preset = get_preset("segmentation", image_size=S, hflip=1.0, vflip=1.0, crop=0.05)
    ds = SegmentationDataset(snap, preset, train=True)
    torch.manual_seed(1)
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch["image"].shape == (6, 3, S, S) and batch["mask"].shape == (6, 1, S, S)
    assert batch["label"].tolist() == [0, 1, 2, 0, 1, 2]
    line = batch["mask"][:, 0] > 0
    assert line.any(dim=(1, 2)).all()
    bright = batch["image"].mean(dim=1)
    assert bright[line].mean() > bright[~line & (bright > 0.05)].mean() + 0.15  # the mask moved with the image
    with pytest.raises(DatasetError, match="neither a mask nor polygons"):
        SegmentationDataset(make_snapshot(4, folder="other"), preset)


def test_hybrid_dataset_mask_from_record_or_callable(make_snapshot) -> None:
    snap = make_snapshot(8).for_task("hybrid")
    preset = get_preset("paper_b", image_size=S, mask_channel=True)
    ds = HybridDataset(snap, preset)
    item = ds[0]
    assert item["image"].shape == (2, S, S) and item["label"].item() == 0
    torch.testing.assert_close(item["image"][1], item["mask"][0])
    assert item["mask"].sum() > 0

    calls = []

    def predicted(record, rgb):
        calls.append(record.id)
        out = np.zeros(rgb.shape[:2], np.uint8)
        out[: rgb.shape[0] // 2] = 255
        return out

    evaluated = HybridDataset(snap, preset, mask_fn=predicted)
    item = evaluated[2]
    assert calls == ["img3"]
    assert item["image"][1, 4, S // 2] == 1.0 and item["image"][1, S - 5, S // 2] == 0.0
    with pytest.raises(DatasetError, match="has no mask channel"):
        HybridDataset(snap, get_preset("paper_b", image_size=S))
    bare = snap.with_records(r.replace(mask=None) for r in snap)
    with pytest.raises(DatasetError, match="have no line mask"):
        HybridDataset(bare, preset)
    empty = HybridDataset(bare, preset, allow_missing_mask=True)[0]
    assert empty["image"][1].sum() == 0


def test_cache_decodes_each_image_once(make_snapshot) -> None:
    snap = make_snapshot(4)
    preset = get_preset("fast", image_size=S)
    cached = ClassificationDataset(snap, preset, cache=True)
    plain = ClassificationDataset(snap, preset)
    first = [cached[i]["image"] for i in range(4)]
    for record in snap:
        snap.image_path(record).unlink()  # from now on only the cache has the images
    torch.testing.assert_close([cached[i]["image"] for i in range(4)], first)
    with pytest.raises(OSError, match=r"img0.png"):
        plain[0]


def test_large_images_are_shrunk_to_a_working_copy(make_snapshot) -> None:
    snap = make_snapshot(2, size=(200, 240))
    ds = SegmentationDataset(snap.for_task("segmentation"), get_preset("segmentation", image_size=S))
    rgb, mask = ds.load(0)
    assert max(rgb.shape[:2]) == 40 and mask.shape == rgb.shape[:2] and mask.max() == 255


def test_ratio_sampler_holds_the_ratio() -> None:
    labels = [1] * 5 + [0] * 95
    sampler = RatioBatchSampler(labels, batch_size=8, positive_fraction=0.25, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    for batch in batches:
        assert len(batch) == 8 and sum(labels[i] for i in batch) == 2
    seen = Counter(i for b in batches for i in b)
    assert all(seen[i] >= 4 for i in range(5))  # the rare positives are over-sampled
    assert list(sampler) != batches  # the next epoch differs ...
    sampler.set_epoch(0)
    assert list(sampler) == batches  # ... and an epoch is reproducible
    ranks = [list(RatioBatchSampler(labels, 8, 0.25, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 7 and ranks[0] != ranks[1]
    with pytest.raises(ValueError, match="no positive labels"):
        RatioBatchSampler([0, 0, 0], batch_size=2)


def test_class_weights() -> None:
    torch.testing.assert_close(class_weights([0, 0, 0, 1]), torch.tensor([4 / 6, 2.0]))
    torch.testing.assert_close(class_weights([0, 2, 2, 2], num_classes=3), torch.tensor([4 / 3, 0.0, 4 / 9]))
    with pytest.raises(ValueError, match="not below num_classes=2"):
        class_weights([0, 2], num_classes=2)


def test_stage1_oversampling(make_snapshot) -> None:
    snap = make_snapshot(12, stages=("1", "2", "3", "1"))
    assignment = grouped_split(snap, seed=0)
    split = apply_splits(snap, assignment)
    grown = oversample_stage1(split, factor=5, seed=0)
    stage1 = [r for r in split if r.stage == "1"]
    assert len(grown) == len(split) + 4 * len(stage1)
    copies = [r for r in grown if r.parent]
    assert Counter(r.parent for r in copies) == {r.id: 4 for r in stage1}
    by_id = {r.id: r for r in grown}
    for copy in copies:
        parent = by_id[copy.parent]
        assert (copy.split, copy.patient, copy.stage3, copy.image) == (parent.split, parent.patient, 0, parent.image)
        crop, zoom = copy.augment["crop"], copy.augment["zoom"]
        assert all(0 <= c <= 0.05 for c in crop) and 1.0 <= zoom <= 1.1
    assert len(oversample_stage1(split, factor=5, only_split="train")) < len(grown)
    # the copies load as augmented versions of the parent's image, and validate as a snapshot
    with_copies = snap.with_records(grown)
    ds = ClassificationDataset(with_copies.for_task("stage3"), get_preset("paper_b", image_size=S), "stage3",
                               work_size=64)  # no shrinking of the 48x40 images
    parent_index = next(i for i, r in enumerate(ds.records) if r.id == copies[0].parent)
    copy_index = next(i for i, r in enumerate(ds.records) if r.id == copies[0].id)
    parent_rgb, copy_rgb = ds.load(parent_index)[0], ds.load(copy_index)[0]
    assert copy_rgb.shape[0] < parent_rgb.shape[0] or copy_rgb.shape[1] < parent_rgb.shape[1]
    np.testing.assert_array_equal(parent_rgb, read_rgb(snap.image_path(ds.records[parent_index])))
    assert not torch.equal(ds[parent_index]["image"], ds[copy_index]["image"])

"""Dice / IoU of binary masks and instance AP@0.5 against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.metrics import MetricsInputError, dice, instance_ap, iou, mask_scores


def _box(r0: int, r1: int, c0: int, c1: int, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    m = np.zeros(size, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def test_dice_and_iou_by_hand() -> None:
    pred = _box(2, 4, 2, 4)  # 4 pixels, inside the reference
    true = _box(2, 4, 2, 5)  # 6 pixels
    assert dice(pred, true) == pytest.approx(2 * 4 / (4 + 6), abs=1e-6)
    assert iou(pred, true) == pytest.approx(4 / 6, abs=1e-6)
    assert dice(torch.from_numpy(true).to(torch.uint8), true.astype(np.float32)) == pytest.approx(1.0)


def test_empty_versus_empty_is_perfect_and_empty_versus_line_is_zero() -> None:
    empty = np.zeros((16, 16), dtype=np.uint8)
    line = _box(5, 6, 0, 16, (16, 16))
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice(empty, line) == 0.0 and iou(line, empty) == 0.0


def test_mask_scores_per_image_and_mean_with_mixed_sizes() -> None:
    preds = [_box(2, 4, 2, 4), np.zeros((8, 12), bool), _box(0, 4, 0, 4, (8, 8))]
    trues = [_box(2, 4, 2, 5), np.zeros((8, 12), bool), _box(0, 4, 2, 6, (8, 8))]  # last: 8 of 16 + 16 overlap
    s = mask_scores(preds, trues)
    assert s.dice == pytest.approx([0.8, 1.0, 2 * 8 / 32], abs=1e-6)
    assert s.iou == pytest.approx([4 / 6, 1.0, 8 / 24], abs=1e-6)
    assert s.mean_dice == pytest.approx((0.8 + 1.0 + 0.5) / 3, abs=1e-6)
    assert s.mean_iou == pytest.approx((4 / 6 + 1.0 + 1 / 3) / 3, abs=1e-6)
    assert s.n_both_empty == 1


@pytest.mark.parametrize(
    ("pred", "true", "fragment"),
    [
        (np.full((4, 4), 255, np.uint8), np.zeros((4, 4)), "booleans or 0/1"),
        (np.zeros((4, 4)), np.zeros((4, 5)), r"\(4, 4\) but true_mask is \(4, 5\)"),
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), "2-D"),
    ],
)
def test_bad_masks_are_refused(pred: np.ndarray, true: np.ndarray, fragment: str) -> None:
    with pytest.raises(MetricsInputError, match=fragment):
        dice(pred, true)


G1, G2 = _box(0, 8, 0, 8), _box(16, 24, 16, 24)
FP = _box(0, 8, 20, 28)  # overlaps no reference instance


def test_perfect_predictions_give_ap_one() -> None:
    r = instance_ap([[(G1, 0.9), (G2, 0.8)], [(G2, 0.7)]], [[G1, G2], [G2]])
    assert r.ap == pytest.approx(1.0)
    assert np.all(r.precision == 1.0)
    assert len(r.recall) == 101 and r.recall[0] == 0.0 and r.recall[-1] == 1.0
    assert (r.n_images, r.n_ground_truth, r.n_predictions) == (2, 3, 3)


def test_false_positive_scored_above_the_true_ones() -> None:
    # Ranked FP, TP, TP: (recall, precision) = (0, 0), (1/2, 1/2), (1, 2/3); made monotone from
    # the right, precision is 2/3 at every recall point → AP = 2/3.
    r = instance_ap([[(FP, 0.9), (G1, 0.8), (G2, 0.7)]], [[G1, G2]])
    assert r.ap == pytest.approx(2 / 3)


def test_false_positive_between_two_true_ones_is_101_point_interpolated() -> None:
    # Ranked TP, FP, TP: precision 1 up to recall 1/2 (51 of COCO's 101 recall points, 0.00-0.50),
    # then 2/3 on the 50 points 0.51-1.00.
    r = instance_ap([[(G1, 0.9), (FP, 0.8), (G2, 0.7)]], [[G1, G2]])
    assert r.ap == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)
    assert r.precision[50] == pytest.approx(1.0) and r.precision[51] == pytest.approx(2 / 3)


def test_iou_threshold_decides_a_match() -> None:
    shifted = _box(0, 8, 2, 10)  # IoU with G1 = 48 / 80 = 0.6
    assert instance_ap([[(shifted, 0.9)]], [[G1]], iou_threshold=0.5).ap == pytest.approx(1.0)
    assert instance_ap([[(shifted, 0.9)]], [[G1]], iou_threshold=0.7).ap == pytest.approx(0.0)


def test_missing_predictions_and_missing_references() -> None:
    none_predicted = instance_ap([[]], [[G1]])
    assert none_predicted.ap == 0.0 and np.all(none_predicted.precision == 0.0)
    no_reference = instance_ap([[(G1, 0.5)]], [[]])
    assert no_reference.ap is None and "no reference instance" in no_reference.notes[0]
    with pytest.raises(MetricsInputError, match="differs"):
        instance_ap([[(_box(0, 2, 0, 2, (8, 8)), 0.5)]], [[G1]])

from __future__ import annotations

import cv2
import numpy as np

from training import imageops


def _fundus(h: int = 300, w: int = 400) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    cv2.circle(img, (w // 2, h // 2), min(h, w) // 2 - 10, (190, 110, 70), -1)
    cv2.line(img, (60, h // 2), (w - 60, h // 2), (15, 10, 10), 4)  # a dark vessel must stay inside
    return img


def test_gray_uses_paper_b_weights() -> None:
    px = np.array([[[100, 200, 50]]], np.uint8)
    assert imageops.to_gray(px)[0, 0] == round(0.3 * 100 + 0.59 * 200 + 0.11 * 50)


def test_fov_mask_finds_the_aperture() -> None:
    img = _fundus()
    mask = imageops.field_of_view_mask(img)
    r = min(img.shape[:2]) // 2 - 10
    expected = np.pi * r * r / mask.size
    assert abs(mask.mean() / 255 - expected) < 0.02
    assert mask[img.shape[0] // 2, img.shape[1] // 2] == 255  # vessel pixel is inside
    cx, cy, rr = imageops.fov_circle(mask)
    assert abs(cx - 200) < 3 and abs(cy - 150) < 3 and abs(rr - r) < 4


def test_fov_mask_of_full_frame_image_is_everything() -> None:
    img = np.full((50, 60, 3), 120, np.uint8)
    assert imageops.field_of_view_mask(img).min() == 255


def test_letterbox_round_trip_keeps_aspect() -> None:
    img = np.zeros((100, 200), np.uint8)
    img[40:60, 90:110] = 255
    square, params = imageops.letterbox(img, 64, interpolation=cv2.INTER_NEAREST)
    assert square.shape == (64, 64)
    back = imageops.unletterbox(square, (100, 200), params, interpolation=cv2.INTER_NEAREST)
    assert back.shape == (100, 200)
    ys, xs = np.nonzero(back)
    assert abs(xs.mean() - 100) < 3 and abs(ys.mean() - 50) < 3


def test_standardize_zero_mean_unit_std() -> None:
    x = np.random.default_rng(0).integers(0, 255, (32, 32)).astype(np.uint8)
    s = imageops.standardize(x)
    assert abs(s.mean()) < 1e-4 and abs(s.std() - 1) < 1e-3


def test_masked_equalisation_ignores_background() -> None:
    img = _fundus()
    mask = imageops.field_of_view_mask(img)
    eq = imageops.equalize_hist(imageops.to_gray(img), mask)
    assert eq[mask == 0].max() == 0
    assert eq[mask > 0].max() == 255


def test_adjust_identity_and_brightness() -> None:
    img = _fundus()
    assert np.array_equal(imageops.adjust(img), img)
    assert imageops.adjust(img, brightness=20).mean() > img.mean()

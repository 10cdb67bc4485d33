"""Presets: output shapes and dtypes, paper B's statistics, serialisation, the inverse mapping."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from training import imageops
from training.presets import IMAGENET_MEAN, IMAGENET_STD, Preset, PresetError, get_preset, list_presets

S = 48


def fov_square(rgb: np.ndarray, size: int = S) -> np.ndarray:
    square, _ = imageops.letterbox(imageops.field_of_view_mask(rgb), size)
    return square >= 128


@pytest.mark.parametrize(("name", "channels"), [("paper_a", 3), ("paper_b", 1), ("fast", 3), ("segmentation", 3)])
def test_shapes_and_dtypes(fundus, name: str, channels: int) -> None:
    rgb, mask = fundus(40, 60)
    preset = get_preset(name, image_size=S)
    for train in (False, True):
        image, out_mask, geometry = preset.prepare(rgb, mask, train=train, rng=np.random.default_rng(0))
        assert image.shape == (channels, S, S) and image.dtype == torch.float32
        assert out_mask is not None and out_mask.shape == (1, S, S) and out_mask.dtype == torch.float32
        assert set(out_mask.unique().tolist()) == {0.0, 1.0}
        assert torch.isfinite(image).all()
    assert (geometry.height, geometry.width, geometry.pad_x, geometry.pad_y) == (40, 60, 0, 8)
    assert preset.in_channels == channels
    image, none_mask, _ = preset.prepare(rgb)
    assert none_mask is None and image.shape == (channels, S, S)


def test_built_in_sizes() -> None:
    assert {n: get_preset(n).image_size for n in list_presets()} == {
        "paper_a": 300, "paper_b": 299, "fast": 224, "segmentation": 512, "line": 320}


def test_paper_b_is_standardised_inside_the_fov(fundus) -> None:
    rgb, mask = fundus(80, 96, seed=3)
    preset = get_preset("paper_b", image_size=64, mask_channel=True)
    image, out_mask, _ = preset.prepare(rgb, mask)
    assert image.shape == (2, 64, 64) and preset.in_channels == 2
    gray = image[0].numpy()
    fov = fov_square(rgb, 64)
    assert 0.3 < fov.mean() < 0.9
    assert gray[fov].mean() == pytest.approx(0.0, abs=1e-4)
    assert gray[fov].std() == pytest.approx(1.0, abs=1e-3)
    assert np.all(gray[~fov] == 0)
    torch.testing.assert_close(image[1], out_mask[0])  # the mask channel is the returned mask
    with pytest.raises(PresetError, match="has a mask channel"):
        preset.prepare(rgb)


def test_paper_b_equalisation_counts_the_field_of_view_only(fundus) -> None:
    rgb, _ = fundus(80, 96, seed=4)
    preset = get_preset("paper_b", image_size=64)
    square, _ = imageops.letterbox(rgb, 64)
    fov = fov_square(rgb, 64).astype(np.uint8) * 255
    gray = imageops.to_gray(square)
    inside = imageops.clahe(imageops.equalize_hist(gray, fov), preset.clahe_clip, preset.clahe_grid)
    whole = imageops.clahe(imageops.equalize_hist(gray), preset.clahe_clip, preset.clahe_grid)
    image = preset.prepare(rgb).image[0].numpy()
    np.testing.assert_allclose(image, imageops.standardize(inside, fov), atol=1e-5)
    assert not np.allclose(image, imageops.standardize(whole, fov), atol=1e-2)  # the black surround would count


def _disc(gray: np.ndarray) -> np.ndarray:
    """A grey 128x128 picture inside a field-of-view disc on black, as RGB uint8."""
    yy, xx = np.mgrid[0:128, 0:128]
    gray = np.clip(gray, 1, 255)
    gray[np.hypot(xx - 64, yy - 64) > 60] = 0
    return np.repeat(gray[..., None], 3, axis=2).astype(np.uint8)


def test_paper_b_equalises_the_histogram_of_the_field_of_view() -> None:
    """A dim, mostly dark field (skewed histogram) comes out with its grey levels spread evenly:
    the standardisation alone (an affine map) would keep the skew."""
    yy, xx = np.mgrid[0:128, 0:128]
    radius = np.hypot(xx - 64, yy - 64) / 58
    rgb = _disc(40 + 25 * radius**4 + np.random.default_rng(0).normal(0, 2.0, (128, 128)))
    image = get_preset("paper_b", image_size=128).prepare(rgb).image[0].numpy()
    inside = np.sort(image[fov_square(rgb, 128)])
    spread = (inside - inside[0]) / (inside[-1] - inside[0])
    distance_from_uniform = np.abs(spread - np.linspace(0, 1, spread.size)).max()  # Kolmogorov-Smirnov
    assert distance_from_uniform < 0.2  # 0.09 equalised; 0.44 without equalisation and CLAHE, 0.33 with CLAHE only


def test_paper_b_contrast_is_adaptive_to_the_neighbourhood() -> None:
    """CLAHE is local: the same grey (100) reads brighter among dark pixels (50) than among bright
    ones (150). A global mapping (equalisation, standardisation) would give both patches one value."""
    _, xx = np.mgrid[0:128, 0:128]
    gray = np.where(xx < 64, 50.0, 150.0) + np.random.default_rng(1).normal(0, 3.0, (128, 128))
    gray[40:52, 30:42] = 100
    gray[40:52, 86:98] = 100
    image = get_preset("paper_b", image_size=128).prepare(_disc(gray)).image[0].numpy()
    among_dark, among_bright = image[43:49, 33:39].mean(), image[43:49, 89:95].mean()
    assert among_dark - among_bright > 0.2  # standard deviations; 0.42 with CLAHE, exactly 0 without


def test_imagenet_normalisation_and_fov_masking() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    cv2.circle(rgb, (32, 32), 28, (200, 120, 60), -1)
    image = get_preset("paper_a", image_size=64).prepare(rgb).image.numpy()
    expected = (np.array([200, 120, 60]) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(image[:, 32, 32], expected, atol=1e-5)
    np.testing.assert_allclose(image[:, 1, 1], -IMAGENET_MEAN / IMAGENET_STD, atol=1e-5)  # outside: black
    unit = get_preset("paper_a", image_size=64, normalize="unit").prepare(rgb).image.numpy()
    np.testing.assert_allclose(unit[:, 32, 32], np.array([200, 120, 60]) / 255.0, atol=1e-6)


def test_serialisation_round_trip_and_errors() -> None:
    preset = get_preset("paper_b", image_size=32, mask_channel=True, hflip=0.5)
    data = json.loads(json.dumps(preset.to_dict()))
    assert Preset.from_dict(data) == preset
    with pytest.raises(PresetError, match=r"unknown preset settings \['colour'\]"):
        Preset.from_dict({**data, "colour": "rgb"})
    with pytest.raises(PresetError, match="unknown preset 'paper_c'; available: paper_a, paper_b, fast, segmentation, line"):
        get_preset("paper_c")
    with pytest.raises(PresetError, match=r"hflip is a probability in \[0, 1\], got 2"):
        get_preset("fast", hflip=2)
    with pytest.raises(PresetError, match="normalize='imagenet' needs color='rgb'"):
        get_preset("fast", color="gray")
    with pytest.raises(PresetError, match="has no settings"):
        get_preset("fast", size=3)


def test_restore_maps_back_onto_the_original(fundus) -> None:
    rgb, _ = fundus(90, 120)
    blob = np.zeros((90, 120), np.uint8)
    cv2.ellipse(blob, (70, 40), (25, 15), 20, 0, 360, 255, -1)
    preset = get_preset("segmentation", image_size=64)
    _, square_mask, geometry = preset.prepare(rgb, blob)
    back = preset.restore(square_mask, geometry) > 0.5
    dice = 2 * (back & (blob > 0)).sum() / (back.sum() + (blob > 0).sum())
    assert back.shape == blob.shape and dice > 0.93


def test_training_augmentation_moves_mask_with_image(fundus) -> None:
    rgb, mask = fundus(64, 64, seed=2)
    preset = get_preset("segmentation", image_size=64, hflip=1.0, vflip=1.0, brightness=0.0, crop=0.05, zoom=0.1)
    image, out_mask, _ = preset.prepare(rgb, mask, train=True, rng=np.random.default_rng(5))
    _plain, plain_mask, _ = preset.prepare(rgb, mask)
    assert not torch.equal(out_mask, plain_mask)
    on_line = image[:, out_mask[0] > 0].mean()
    off_line = image[:, (out_mask[0] == 0) & (image[0] > 0.1)].mean()
    assert on_line > off_line + 0.15  # the (bright) line is still under the mask after flips and crops
    again = preset.prepare(rgb, mask, train=True, rng=np.random.default_rng(5))
    torch.testing.assert_close(again.image, image)  # the same rng gives the same augmentation
    rotated = get_preset("fast", image_size=64, rotate=30.0, brightness=0.2).prepare(
        rgb, mask, train=True, rng=np.random.default_rng(1))
    assert rotated.image.shape == (3, 64, 64) and rotated.mask.shape == (1, 64, 64)

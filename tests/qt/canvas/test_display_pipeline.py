"""The canvas's display pipeline (imaging.display): settings persistence and rendering (no Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rop_desktop.imaging.display import (
    DisplayRenderer,
    DisplaySettings,
    DisplaySettingsError,
    fov_outline,
    render_display,
)
from training.imageops import paper_b_gray


def test_settings_round_trip_through_json() -> None:
    settings = DisplaySettings(mode="clahe", brightness=-12.5, contrast=1.4, gamma=0.8, show_fov=True)
    assert DisplaySettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    # missing keys take defaults; keys from a newer version are ignored
    assert DisplaySettings.from_dict({"mode": "green", "sharpen": 3}) == DisplaySettings(mode="green")


@pytest.mark.parametrize(("data", "match"), [
    ({"mode": "sepia"}, "display mode 'sepia'"),
    ({"brightness": 400}, r"'brightness' must be within \[-255.0, 255.0\]"),
    ({"gamma": 0}, "'gamma' must be within"),
    ({"contrast": "high"}, "'contrast' must be a number"),
    ({"show_fov": "yes"}, "'show_fov' must be true or false"),
])
def test_bad_settings_are_refused_with_the_field_named(data: dict, match: str) -> None:
    with pytest.raises(DisplaySettingsError, match=match):
        DisplaySettings.from_dict(data)


def test_modes_render_rgb_of_the_same_size() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    original = render_display(rgb, DisplaySettings())
    assert np.array_equal(original, rgb)
    green = render_display(rgb, DisplaySettings(mode="green"))
    assert green.shape == rgb.shape and np.array_equal(green[..., 2], rgb[..., 1])
    clahe = render_display(rgb, DisplaySettings(mode="clahe"))
    assert np.array_equal(clahe[..., 0], paper_b_gray(rgb))  # the models' own CLAHE
    brighter = render_display(rgb, DisplaySettings(brightness=40))
    assert (brighter.astype(int) >= rgb).all() and brighter.mean() > rgb.mean() + 30


def test_renderer_caches_the_mode_and_accepts_gray_images() -> None:
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1))
    renderer = DisplayRenderer(gray)
    assert renderer.source.shape == (32, 64, 3)
    base = renderer.base("clahe")
    renderer.render(DisplaySettings(mode="clahe", gamma=2.0))
    assert renderer.base("clahe") is base  # the slider only re-applies the LUT
    with pytest.raises(ValueError, match="uint8"):
        DisplayRenderer(gray.astype(np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        DisplayRenderer(np.zeros((4, 4, 2), np.uint8))


def test_fov_outline_finds_the_camera_disc() -> None:
    yy, xx = np.mgrid[0:120, 0:120]
    disc = ((xx - 60) ** 2 + (yy - 58) ** 2 <= 45 ** 2)
    rgb = np.zeros((120, 120, 3), np.uint8)
    rgb[disc] = (180, 90, 40)
    cx, cy, r = fov_outline(rgb)
    assert (cx, cy, r) == pytest.approx((60, 58, 45), abs=2)

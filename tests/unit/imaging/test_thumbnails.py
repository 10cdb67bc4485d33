"""Thumbnails, encodings and the field-of-view circle (synthetic discs and one real image)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.imaging.decode import decode_file, decode_image
from rop_desktop.imaging.thumbnails import (
    ImageEncodeError,
    encode_jpeg,
    encode_png,
    fov_circle_of,
    make_thumbnail,
)


def _disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """A RetCam-like frame: an orange disc with a few dark vessels on black."""
    rgb = np.zeros((h, w, 3), np.uint8)
    cv2.circle(rgb, (round(cx), round(cy)), round(r), (190, 110, 60), thickness=-1)
    for angle in (0.3, 1.6, 2.9):
        end = (round(cx + 0.8 * r * np.cos(angle)), round(cy + 0.8 * r * np.sin(angle)))
        cv2.line(rgb, (round(cx), round(cy)), end, (90, 30, 20), thickness=max(1, round(r / 40)))
    return rgb


def test_thumbnail_keeps_aspect_and_never_enlarges() -> None:
    rgb = np.zeros((300, 600, 3), np.uint8)
    assert make_thumbnail(rgb, 128).shape == (64, 128, 3)
    small = np.full((40, 20, 3), 7, np.uint8)
    thumb = make_thumbnail(small, 128)
    assert thumb.shape == small.shape and thumb is not small
    with pytest.raises(ValueError):
        make_thumbnail(small, 0)


def test_thumbnail_averages_areas() -> None:
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 255
    rgb = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    thumb = make_thumbnail(rgb, 16)
    assert np.abs(thumb.astype(int) - 127).max() <= 1  # INTER_AREA: no aliasing to 0/255


def test_encodings_round_trip_through_the_decoder() -> None:
    rgb = _disc(64, 80, 40, 32, 28)
    png = encode_png(rgb)
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(decode_image(png).rgb, rgb)
    jpeg = encode_jpeg(rgb, quality=95)
    assert jpeg.startswith(b"\xff\xd8\xff")
    assert np.abs(decode_image(jpeg).rgb.astype(int) - rgb).mean() < 3
    assert len(encode_jpeg(rgb, quality=20)) < len(jpeg)


def test_encoding_refuses_bad_input() -> None:
    with pytest.raises(ImageEncodeError):
        encode_png(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((8, 8, 3), np.uint8), quality=101)


def test_fov_circle_of_a_synthetic_disc() -> None:
    rgb = _disc(600, 800, cx=430, cy=290, r=250)
    cx, cy, r = fov_circle_of(rgb)
    assert abs(cx - 430) < 5 and abs(cy - 290) < 5 and abs(r - 250) < 5


def test_fov_circle_of_a_full_frame_image_is_none() -> None:
    assert fov_circle_of(np.full((100, 120, 3), 150, np.uint8)) is None


def test_fov_circle_of_2040_image() -> None:
    rgb = _disc(2040, 2040, 1000, 1040, 900)
    fov_circle_of(rgb)  # warm-up (OpenCV initialisation)
    start = time.perf_counter()
    cx, cy, r = fov_circle_of(rgb)
    elapsed = time.perf_counter() - start
    assert abs(cx - 1000) < 5 and abs(cy - 1040) < 5 and abs(r - 900) < 0.015 * 900
    print(f"fov_circle_of 2040x2040: {elapsed * 1000:.1f} ms")  # speed is in the benchmarks, not asserted


@pytest.mark.realdata
def test_real_hvdropdb_image_decodes_and_its_disc_is_centred(hvdropdb: Path) -> None:
    decoded = decode_file(hvdropdb / "images" / "1.png")
    assert decoded.format == "png" and (decoded.width, decoded.height) == (2040, 2040)
    cx, cy, r = fov_circle_of(decoded.rgb)
    assert abs(cx - 1020) < 0.05 * 2040 and abs(cy - 1020) < 0.05 * 2040
    assert 0.4 * 2040 < r < 0.6 * 2040  # the 3nethra Neo disc just touches the frame's sides

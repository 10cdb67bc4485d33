"""Small derivatives of a decoded image: thumbnails, JPEG/PNG encodings, the field-of-view circle.

All take an RGB ``uint8`` HxWx3 array (as :mod:`rop_desktop.imaging.decode` returns) and are
fast on 2040x2040 RetCam images, so the import can run them for every file.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.imageops import field_of_view_mask, fov_circle

#: Side of the downscaled copy on which the field of view is found.
_FOV_WORKING_SIDE = 384


class ImageEncodeError(ValueError):
    """OpenCV refused to encode the array (wrong shape or type)."""


def make_thumbnail(rgb: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Shrink so that the longer side is ``max_side`` (area interpolation); never enlarges."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return rgb.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an RGB (or grayscale) uint8 image; ``quality`` 0–100."""
    if not 0 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 0–100, got {quality}")
    return _encode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def encode_png(rgb: np.ndarray, compression: int = 3) -> bytes:
    """Lossless PNG bytes of an RGB (or grayscale) uint8 image; ``compression`` 0–9 (speed vs size)."""
    if not 0 <= compression <= 9:
        raise ValueError(f"PNG compression must be 0–9, got {compression}")
    return _encode(".png", rgb, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])


def _encode(ext: str, rgb: np.ndarray, params: list[int]) -> bytes:
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise ImageEncodeError(f"expected uint8 HxW or HxWx3, got {rgb.dtype} {rgb.shape}")
    image = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(ext, image, params)
    if not ok:
        raise ImageEncodeError(f"OpenCV could not encode {rgb.shape} as {ext}")
    return buffer.tobytes()


def fov_circle_of(rgb: np.ndarray) -> tuple[float, float, float] | None:
    """The camera aperture as ``(cx, cy, r)`` in the image's pixels, or None for a full-frame
    image (no dark surround). Found with :func:`training.imageops.field_of_view_mask` on a
    384-pixel copy: about 10 ms on a 2040x2040 image, radius within about one percent."""
    h, w = rgb.shape[:2]
    small = make_thumbnail(rgb, _FOV_WORKING_SIDE)
    mask = field_of_view_mask(small)
    if mask.all():
        return None
    circle = fov_circle(mask)
    if circle is None:
        return None
    sx, sy = w / small.shape[1], h / small.shape[0]
    cx, cy, r = circle  # in pixel centres of the small copy: map centres, and edges for r
    return (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5, (r + 0.5) * (sx + sy) / 2.0

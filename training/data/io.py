"""Reading and writing images and masks with OpenCV (no app decoder, no Qt).

Paths go through ``numpy.fromfile`` / ``cv2.imdecode`` so that non-ASCII folder names work on
Windows too. Images come back RGB ``uint8`` HxWx3; masks ``uint8`` HxW with 0 / 255.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: A mask pixel whose grey value is above this is "on" (JPEG-like noise near 0 is ignored).
MASK_THRESHOLD = 127


class ImageReadError(OSError):
    """An image or mask file is missing, unreadable or not an image."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _decode(path: str | Path, flags: int) -> np.ndarray:
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(p, exc.strerror or str(exc)) from exc
    if data.size == 0:
        raise ImageReadError(p, "empty file")
    image = cv2.imdecode(data, flags)
    if image is None:
        raise ImageReadError(p, "not a readable image (OpenCV could not decode it)")
    return image


def decode_rgb(data: bytes | np.ndarray, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) to RGB uint8 HxWx3."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if image is None:
        raise ImageReadError(name, "not a readable image (OpenCV could not decode it)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: str | Path) -> np.ndarray:
    """Read any OpenCV-readable image as RGB ``uint8`` HxWx3 (grey and 16-bit inputs converted)."""
    image = _decode(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def binarize_mask(mask: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Any mask array (bool, 0/1, 0/255, grey or colour) → ``uint8`` HxW with 0 / 255."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.dtype == bool:
        return m.astype(np.uint8) * 255
    if m.size and m.max() <= 1:
        return (m > 0).astype(np.uint8) * 255
    return (m > threshold).astype(np.uint8) * 255


def read_mask(path: str | Path, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Read a mask image (any channels, any grey levels) as ``uint8`` HxW 0 / 255."""
    return binarize_mask(_decode(path, cv2.IMREAD_UNCHANGED), threshold)


def write_png(path: str | Path, image: np.ndarray, rgb: bool = True) -> None:
    """Write a PNG (RGB arrays are converted to OpenCV's BGR first)."""
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb and image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the image as PNG")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(str(path))


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a mask as a single-channel ``uint8`` PNG with 0 / 255."""
    write_png(path, binarize_mask(mask), rgb=False)


def image_hw(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file as :func:`read_rgb` returns it, reading only the header
    where Pillow can (EXIF rotations by 90° swap the two, as OpenCV applies them)."""
    try:
        from PIL import Image  # a torchvision dependency; header-only read

        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: transposed
                w, h = h, w
        return int(h), int(w)
    except (ImportError, OSError, SyntaxError, ValueError):
        h, w = _decode(path, cv2.IMREAD_COLOR).shape[:2]  # formats Pillow does not read
        return int(h), int(w)

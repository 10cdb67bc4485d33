"""Image operations shared by the models and the viewer (numpy + OpenCV, no torch).

Written once here; the desktop app's display enhancements call these so that what the grader
sees in "CLAHE" mode is what the stage model (paper B) is fed.

All functions take and return ``numpy.ndarray``; RGB images are ``uint8`` HxWx3.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Paper B's grayscale weights (R, G, B).
GRAY_WEIGHTS: tuple[float, float, float] = (0.3, 0.59, 0.11)


def to_gray(rgb: np.ndarray, weights: tuple[float, float, float] = GRAY_WEIGHTS) -> np.ndarray:
    """Weighted grayscale (paper B: 0.3 R + 0.59 G + 0.11 B), uint8 HxW."""
    if rgb.ndim == 2:
        return rgb.astype(np.uint8, copy=False)
    r, g, b = weights
    gray = rgb[..., 0].astype(np.float32) * r + rgb[..., 1].astype(np.float32) * g + rgb[..., 2].astype(np.float32) * b
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)


def equalize_hist(gray: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Global histogram equalisation of a uint8 image; with ``mask``, only the masked pixels count."""
    if mask is None:
        return cv2.equalizeHist(gray)
    values = gray[mask > 0]
    if values.size == 0:
        return gray.copy()
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    cdf = hist.cumsum()
    cdf_min = cdf[cdf > 0][0]
    denom = max(cdf[-1] - cdf_min, 1.0)
    lut = np.clip(np.round((cdf - cdf_min) / denom * 255.0), 0, 255).astype(np.uint8)
    out = lut[gray]
    out[mask == 0] = 0
    return out


def clahe(gray: np.ndarray, clip_limit: float = 2.0, tile_grid: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a uint8 single-channel image."""
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tile_grid), int(tile_grid)))
    return op.apply(gray)


def standardize(image: np.ndarray, mask: np.ndarray | None = None, eps: float = 1e-6) -> np.ndarray:
    """Per-image standardisation to zero mean / unit variance (float32); stats over ``mask`` if given."""
    x = image.astype(np.float32)
    values = x[mask > 0] if mask is not None else x
    if values.size == 0:
        return np.zeros_like(x)
    mean = float(values.mean())
    std = float(values.std())
    out = (x - mean) / max(std, eps)
    if mask is not None:
        out[mask == 0] = 0.0
    return out


def paper_b_gray(
    rgb: np.ndarray, clip_limit: float = 2.0, tile_grid: int = 8, mask: np.ndarray | None = None
) -> np.ndarray:
    """Paper B's display/model pipeline up to CLAHE: grayscale → histogram equalisation → CLAHE (uint8).

    With ``mask`` (the field of view) the equalisation counts the pixels inside it only and leaves
    the outside black, so the size of the camera's black surround does not change the result.
    """
    return clahe(equalize_hist(to_gray(rgb), mask), clip_limit, tile_grid)


def field_of_view_mask(rgb: np.ndarray, threshold: int | None = None, min_fraction: float = 0.05) -> np.ndarray:
    """The camera aperture: a uint8 mask (255 inside) of the bright, roughly circular field of view.

    RetCam and similar wide-field images show the retina in a disc on a near-black background.
    The mask is the largest connected bright region, hole-filled (dark vessels and the pupil
    reflex stay inside). When no clear aperture is found (a full-frame image), all pixels are in.
    """
    gray = to_gray(rgb)
    small_scale = 512.0 / max(gray.shape)
    small = (
        cv2.resize(gray, None, fx=small_scale, fy=small_scale, interpolation=cv2.INTER_AREA)
        if small_scale < 1
        else gray
    )
    blur = cv2.GaussianBlur(small, (5, 5), 0)
    if threshold is None:
        # Background is near black; Otsu between background and retina, but never above 40.
        otsu, _ = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = int(min(max(otsu * 0.5, 8), 40))
    binary = (blur > threshold).astype(np.uint8)
    # close thin dark gaps (vessels, reflexes) that could split the disc into pieces; pad first so
    # the closing neither grows the disc into the frame edge nor erodes a full-frame image
    k = max(3, int(round(0.03 * max(binary.shape))) | 1)
    padded = cv2.copyMakeBorder(binary, k, k, k, k, cv2.BORDER_REPLICATE)
    padded = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    closed = padded[k:-k, k:-k]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    full = np.full(gray.shape, 255, np.uint8)
    if count <= 1:
        return full
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    if region.sum() < min_fraction * region.size:
        return full
    # fill holes: flood the background from the border
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(region)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    if filled.sum() > 0.985 * filled.size:
        return full
    if small is not gray:
        filled = cv2.resize(filled, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)
    return (filled * 255).astype(np.uint8)


def fov_circle(mask: np.ndarray) -> tuple[float, float, float] | None:
    """The enclosing circle (cx, cy, r) of a field-of-view mask, or None when the mask is empty."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    (cx, cy), r = cv2.minEnclosingCircle(max(contours, key=cv2.contourArea))
    return float(cx), float(cy), float(r)


def apply_mask(image: np.ndarray, mask: np.ndarray, fill: int | float = 0) -> np.ndarray:
    """Set pixels outside ``mask`` to ``fill``."""
    out = image.copy()
    out[mask == 0] = fill
    return out


def letterbox(
    image: np.ndarray, size: int, fill: int | float = 0, interpolation: int = cv2.INTER_AREA
) -> tuple[np.ndarray, tuple[float, int, int]]:
    """Resize to fit a ``size`` x ``size`` square without stretching; pad with ``fill``.

    Returns the square image and ``(scale, pad_x, pad_y)`` to map coordinates back:
    ``x_orig = (x_square - pad_x) / scale``.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = interpolation if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    out_shape = (size, size, *image.shape[2:])
    out = np.full(out_shape, fill, dtype=image.dtype)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out[pad_y : pad_y + nh, pad_x : pad_x + nw] = resized
    return out, (scale, pad_x, pad_y)


def unletterbox(
    square: np.ndarray,
    original_hw: tuple[int, int],
    params: tuple[float, int, int],
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Inverse of :func:`letterbox` for a map (mask, saliency) predicted on the square image."""
    scale, pad_x, pad_y = params
    h, w = original_hw
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    crop = square[pad_y : pad_y + nh, pad_x : pad_x + nw]
    return cv2.resize(crop, (w, h), interpolation=interpolation)


def adjust(rgb: np.ndarray, brightness: float = 0.0, contrast: float = 1.0, gamma: float = 1.0) -> np.ndarray:
    """Display adjustments: ``out = ((in/255)^(1/gamma) * 255 - 128) * contrast + 128 + brightness``.

    ``brightness`` in grey levels (-255..255), ``contrast`` a factor, ``gamma`` > 0. Uses a LUT: fast
    on 2040x2040 images.
    """
    x = np.arange(256, dtype=np.float32) / 255.0
    x = np.power(x, 1.0 / max(gamma, 1e-3)) * 255.0
    x = (x - 128.0) * contrast + 128.0 + brightness
    lut = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, lut)

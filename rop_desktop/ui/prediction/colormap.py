"""Colour maps for model overlays, in numpy (no matplotlib in the app).

``heatmap_rgba`` turns a saliency map (float, [0, 1]) into an RGBA overlay through a 256-entry
lookup table — *inferno* (perceptually uniform, reads in greyscale) or *jet* (the classic
Grad-CAM look) — with alpha rising with the value (as its square root, so that moderate values
show) while cold regions leave the image visible.
``mask_rgba`` paints a binary mask in one colour.
"""

from __future__ import annotations

import numpy as np

#: Inferno, sampled at 9 evenly spaced points of matplotlib's table (public domain, CC0).
_INFERNO_KNOTS = np.array(
    [
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ],
    dtype=np.float64,
)

COLORMAPS = ("inferno", "jet")


class ColormapError(ValueError):
    """Unknown colour map or a map of the wrong shape."""


def _inferno() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    knots = np.linspace(0.0, 1.0, len(_INFERNO_KNOTS))
    return np.stack([np.interp(x, knots, _INFERNO_KNOTS[:, c]) for c in range(3)], axis=1)


def _jet() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4.0 * x - k), 0.0, 1.0) for k in (3.0, 2.0, 1.0)]  # r, g, b
    return np.stack(channels, axis=1) * 255.0


_TABLES = {"inferno": _inferno, "jet": _jet}
_CACHE: dict[str, np.ndarray] = {}


def lookup_table(name: str) -> np.ndarray:
    """The 256x3 uint8 table of colour map ``name`` (see :data:`COLORMAPS`)."""
    if name not in _TABLES:
        raise ColormapError(f"unknown colour map {name!r}; expected one of {', '.join(COLORMAPS)}")
    if name not in _CACHE:
        _CACHE[name] = np.clip(np.rint(_TABLES[name]()), 0, 255).astype(np.uint8)
    return _CACHE[name]


def heatmap_rgba(values: np.ndarray, name: str = "inferno", *, alpha_floor: float = 0.0) -> np.ndarray:
    """HxW values in [0, 1] → HxWx4 uint8; alpha grows from ``alpha_floor`` (at 0) to 1 (at 1)
    as the square root of the value."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ColormapError(f"a heat map must be 2-D, not shape {v.shape}")
    v = np.nan_to_num(np.clip(v, 0.0, 1.0))
    index = np.rint(v * 255.0).astype(np.uint8)
    rgba = np.empty((*v.shape, 4), np.uint8)
    rgba[..., :3] = lookup_table(name)[index]
    rgba[..., 3] = np.rint(255.0 * (alpha_floor + (1.0 - alpha_floor) * np.sqrt(v))).astype(np.uint8)
    return rgba


def mask_rgba(mask: np.ndarray, color: tuple[int, int, int] = (0, 230, 255)) -> np.ndarray:
    """HxW mask (non-zero = inside) → HxWx4 uint8, ``color`` inside, transparent outside."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ColormapError(f"a mask must be 2-D, not shape {m.shape}")
    rgba = np.zeros((*m.shape, 4), np.uint8)
    inside = m > 0
    rgba[inside, :3] = color
    rgba[inside, 3] = 255
    return rgba

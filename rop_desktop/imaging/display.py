"""The display pipeline of the annotation canvas: what the grader's eyes get (numpy + OpenCV).

Modes (:class:`DisplaySettings.mode`):

* ``"original"`` — the RGB image;
* ``"green"`` — the green channel shown as gray (vessels and the ridge have the most contrast there);
* ``"clahe"`` — :func:`training.imageops.paper_b_gray`: paper B's grayscale (0.3 R + 0.59 G +
  0.11 B) → histogram equalisation → CLAHE. This is deliberately the *same* function (and default
  clip limit / tile grid) as the stage model's preprocessing, so what the grader sees in CLAHE
  mode is what the model is fed (before per-image standardisation, which only shifts and scales).

Brightness, contrast and gamma are then applied with one 256-entry LUT
(:func:`training.imageops.adjust`).

Timing on a 2040x2040 HVDROPDB image (one shared core of the development machine, OpenCV
single-threaded): :class:`DisplayRenderer` caches each mode's base image, so moving a
brightness/contrast/gamma slider costs one LUT plus a gray→RGB copy (2–5 ms, 11 ms cold);
the first switch to green costs ~15 ms, to CLAHE 45–170 ms (paper B's float grayscale, histogram
equalisation and CLAHE), later switches ~1 ms. :func:`fov_outline` costs ~60 ms; the host
should compute it once per image (off the UI thread) and hand it to the canvas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import cv2
import numpy as np

from rop_desktop.domain.errors import Refusal
from training.imageops import adjust, field_of_view_mask, fov_circle, paper_b_gray

DisplayMode = Literal["original", "green", "clahe"]
DISPLAY_MODES: tuple[str, ...] = ("original", "green", "clahe")


class DisplaySettingsError(Refusal):
    """Display settings out of range or of the wrong type; ``reason`` says which."""


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DisplaySettingsError(f"display setting {name!r} must be a number, not {value!r}")
    if not low <= value <= high:
        raise DisplaySettingsError(f"display setting {name!r} must be within [{low}, {high}], not {value}")
    return float(value)


@dataclass(frozen=True)
class DisplaySettings:
    """How the canvas shows an image; persisted per grader with :meth:`to_dict`."""

    mode: DisplayMode = "original"
    #: Grey levels added, -255..255.
    brightness: float = 0.0
    #: Contrast factor around mid-grey, 0.05..10.
    contrast: float = 1.0
    #: Gamma, 0.1..10 (> 1 brightens the shadows).
    gamma: float = 1.0
    #: Show the camera's field-of-view outline.
    show_fov: bool = False

    def __post_init__(self) -> None:
        if self.mode not in DISPLAY_MODES:
            raise DisplaySettingsError(f"display mode {self.mode!r} is not one of {', '.join(DISPLAY_MODES)}")
        object.__setattr__(self, "brightness", _number("brightness", self.brightness, -255.0, 255.0))
        object.__setattr__(self, "contrast", _number("contrast", self.contrast, 0.05, 10.0))
        object.__setattr__(self, "gamma", _number("gamma", self.gamma, 0.1, 10.0))
        if not isinstance(self.show_fov, bool):
            raise DisplaySettingsError(f"display setting 'show_fov' must be true or false, not {self.show_fov!r}")

    @property
    def adjusts(self) -> bool:
        """True when brightness, contrast or gamma differ from neutral."""
        return (self.brightness, self.contrast, self.gamma) != (0.0, 1.0, 1.0)

    def with_(self, **changes: Any) -> DisplaySettings:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DisplaySettings:
        """Inverse of :meth:`to_dict`. Missing keys take defaults; unknown keys (from a newer
        version) are ignored; wrong values raise :class:`DisplaySettingsError`."""
        if not isinstance(data, Mapping):
            raise DisplaySettingsError(f"display settings must be a JSON object, not {type(data).__name__}")
        known = {k: data[k] for k in ("mode", "brightness", "contrast", "gamma", "show_fov") if k in data}
        return cls(**known)


def _check_image(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise ValueError(f"the image must be a uint8 numpy array, not {getattr(rgb, 'dtype', type(rgb))}")
    if rgb.ndim == 2:
        return cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"the image must be HxWx3 RGB (or HxW gray), not shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


class DisplayRenderer:
    """Renders one image under changing settings, caching the expensive per-mode base image."""

    def __init__(self, rgb: np.ndarray) -> None:
        self._rgb = _check_image(rgb)
        self._base: dict[str, np.ndarray] = {"original": self._rgb}

    @property
    def source(self) -> np.ndarray:
        """The RGB image as given (HxWx3 uint8)."""
        return self._rgb

    def base(self, mode: str) -> np.ndarray:
        """The mode's image before brightness/contrast/gamma (RGB or single-channel gray)."""
        if mode not in self._base:
            if mode == "green":
                self._base[mode] = np.ascontiguousarray(self._rgb[..., 1])
            elif mode == "clahe":
                self._base[mode] = paper_b_gray(self._rgb)
            else:
                raise DisplaySettingsError(f"display mode {mode!r} is not one of {', '.join(DISPLAY_MODES)}")
        return self._base[mode]

    def render(self, settings: DisplaySettings) -> np.ndarray:
        """The image to show: HxWx3 uint8 RGB (a new array unless nothing changes the original)."""
        out = self.base(settings.mode)
        if settings.adjusts:
            out = adjust(out, settings.brightness, settings.contrast, settings.gamma)
        if out.ndim == 2:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
        return out


def render_display(rgb: np.ndarray, settings: DisplaySettings) -> np.ndarray:
    """One-shot :meth:`DisplayRenderer.render` (use a :class:`DisplayRenderer` to re-render quickly)."""
    return DisplayRenderer(rgb).render(settings)


def fov_outline(rgb: np.ndarray) -> tuple[float, float, float] | None:
    """The camera aperture as a circle ``(cx, cy, r)`` in image pixels, or None if not found."""
    return fov_circle(field_of_view_mask(_check_image(rgb)))

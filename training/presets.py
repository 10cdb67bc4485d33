"""Preprocessing presets: how an RGB image becomes a model's input tensor, and back.

A :class:`Preset` travels with the model (``to_dict`` / ``from_dict`` for the model card), so the
predictor prepares images exactly as training did. Presets are built by name with overrides::

    get_preset("paper_b", image_size=64, mask_channel=True)

Pipeline of :meth:`Preset.prepare`: (train only) crop / zoom / flips at full resolution →
field-of-view mask → letterbox to ``image_size`` → (train only) rotation, brightness, contrast →
colour (RGB, weighted grey, or paper B's grey → histogram equalisation → CLAHE) → FOV masking →
normalisation → optional line-mask channel. :meth:`Preset.restore` maps a predicted map back
onto the original image. Image operations come from :mod:`training.imageops`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import torch

from training import imageops
from training.data.augment import crop_zoom
from training.data.io import binarize_mask

ColorMode = Literal["rgb", "gray", "paper_b"]
Normalize = Literal["unit", "imagenet", "standardize"]
COLOR_MODES: tuple[str, ...] = ("rgb", "gray", "paper_b")
NORMALIZE_MODES: tuple[str, ...] = ("unit", "imagenet", "standardize")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
PRESET_FORMAT = 1
#: A pixel of a downscaled line mask is on when at least a quarter of it was line (thin ridges survive).
MASK_COVERAGE = 64


class PresetError(ValueError):
    """An unknown preset, an invalid setting, or an input that does not fit the preset."""


@dataclass(frozen=True)
class Geometry:
    """Where the prepared square came from: the input's size and the letterbox transform."""

    height: int
    width: int
    scale: float
    pad_x: int
    pad_y: int

    @property
    def letterbox(self) -> tuple[float, int, int]:
        return self.scale, self.pad_x, self.pad_y


class Prepared(NamedTuple):
    """``image`` C×H×W float32; ``mask`` 1×H×W float32 in {0, 1} (or None); ``geometry``."""

    image: torch.Tensor
    mask: torch.Tensor | None
    geometry: Geometry


@dataclass(frozen=True)
class Preset:
    """Preprocessing and training-time augmentation of one model family (all fields serialisable)."""

    name: str
    image_size: int = 224
    color: ColorMode = "rgb"
    normalize: Normalize = "imagenet"
    fov_mask: bool = True  #: zero the pixels outside the camera's field of view
    mask_channel: bool = False  #: append the line mask as an extra input channel (paper B hybrid)
    clahe_clip: float = 2.0
    clahe_grid: int = 8
    # training-time augmentation (ignored when train=False)
    brightness: float = 0.0  #: ± fraction of full scale
    contrast: float = 0.0  #: ± fraction (1 ± contrast)
    hflip: float = 0.0  #: probability
    vflip: float = 0.0  #: probability
    rotate: float = 0.0  #: ± degrees
    crop: float = 0.0  #: up to this fraction cut from each edge
    zoom: float = 0.0  #: zoom in by 1 .. 1 + zoom

    def __post_init__(self) -> None:
        problems = []
        if (
            not isinstance(self.image_size, int)
            or isinstance(self.image_size, bool)
            or not 8 <= self.image_size <= 4096
        ):
            problems.append(f"image_size must be an integer in 8..4096, got {self.image_size!r}")
        if self.color not in COLOR_MODES:
            problems.append(f"color must be one of {', '.join(COLOR_MODES)}, got {self.color!r}")
        if self.normalize not in NORMALIZE_MODES:
            problems.append(f"normalize must be one of {', '.join(NORMALIZE_MODES)}, got {self.normalize!r}")
        elif self.normalize == "imagenet" and self.color != "rgb":
            problems.append("normalize='imagenet' needs color='rgb'")
        for key in ("hflip", "vflip"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                problems.append(f"{key} is a probability in [0, 1], got {getattr(self, key)!r}")
        for key, high in (("brightness", 1.0), ("contrast", 1.0), ("rotate", 180.0), ("crop", 0.49), ("zoom", 3.0)):
            if not 0.0 <= getattr(self, key) <= high:
                problems.append(f"{key} must be in [0, {high:g}], got {getattr(self, key)!r}")
        if self.clahe_clip <= 0 or self.clahe_grid < 1:
            problems.append("clahe_clip must be > 0 and clahe_grid ≥ 1")
        if problems:
            raise PresetError(f"preset {self.name!r}: " + "; ".join(problems))

    # -- description ----------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """Channels of the prepared tensor (3 for RGB, 1 for grey, +1 with a mask channel)."""
        return (3 if self.color == "rgb" else 1) + int(self.mask_channel)

    def replace(self, **overrides: Any) -> Preset:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise PresetError(f"preset {self.name!r} has no settings {sorted(unknown)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings for the model card (``from_dict`` reads them back)."""
        return {"format": PRESET_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preset:
        """Read settings written by :meth:`to_dict`; unknown keys or values raise :class:`PresetError`."""
        data = dict(data)
        fmt = data.pop("format", PRESET_FORMAT)
        if fmt != PRESET_FORMAT:
            raise PresetError(f"preset format {fmt!r} is not supported (expected {PRESET_FORMAT})")
        if "name" not in data:
            raise PresetError("preset settings have no 'name'")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise PresetError(f"unknown preset settings {sorted(unknown)}")
        return cls(**data)

    # -- the pipeline -----------------------------------------------------------------------
    def _random_geometry(
        self, image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        crop = tuple(rng.uniform(0.0, self.crop, 4)) if self.crop > 0 else (0.0, 0.0, 0.0, 0.0)
        zoom = float(rng.uniform(1.0, 1.0 + self.zoom)) if self.zoom > 0 else 1.0
        return crop_zoom(
            image,
            mask,
            crop=crop,
            zoom=zoom,
            hflip=bool(rng.random() < self.hflip),
            vflip=bool(rng.random() < self.vflip),
        )

    def _random_photometric(
        self, image: np.ndarray, masks: list[np.ndarray | None], rng: np.random.Generator
    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Rotate the square image and its masks together (masks with nearest-neighbour, so they
        stay binary), then jitter the image's brightness and contrast."""
        if self.rotate > 0:
            angle = float(rng.uniform(-self.rotate, self.rotate))
            centre = ((self.image_size - 1) / 2.0, (self.image_size - 1) / 2.0)
            matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
            size = (self.image_size, self.image_size)

            def turn(a: np.ndarray, interpolation: int) -> np.ndarray:
                return cv2.warpAffine(
                    a, matrix, size, flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0
                )

            image = turn(image, cv2.INTER_LINEAR)
            masks = [None if m is None else turn(m, cv2.INTER_NEAREST) for m in masks]
        if self.brightness > 0 or self.contrast > 0:
            b = float(rng.uniform(-self.brightness, self.brightness)) * 255.0
            c = 1.0 + float(rng.uniform(-self.contrast, self.contrast))
            image = imageops.adjust(image, brightness=b, contrast=c)
        return image, masks

    def _square_mask(self, mask: np.ndarray, threshold: int) -> np.ndarray:
        square, _ = imageops.letterbox(mask, self.image_size)
        return (square >= threshold).astype(np.uint8)

    def prepare(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None = None,
        train: bool = False,
        rng: np.random.Generator | None = None,
    ) -> Prepared:
        """RGB ``uint8`` H×W×3 (and a line mask H×W, any 0/255, 0/1 or bool) → model input.

        Returns ``(image, mask, geometry)``: ``image`` float32 ``in_channels``×S×S, ``mask`` float32
        1×S×S in {0, 1} or None, ``geometry`` for :meth:`restore` (exact when ``train`` is False).
        ``train`` applies the preset's random augmentation, drawn from ``rng``.
        """
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise PresetError(f"expected an RGB uint8 H×W×3 image, got {rgb.dtype} {rgb.shape}")
        if mask is not None:
            if mask.shape[:2] != rgb.shape[:2]:
                raise PresetError(
                    f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {rgb.shape[1]}x{rgb.shape[0]}"
                )
            mask = binarize_mask(mask)
        if self.mask_channel and mask is None:
            raise PresetError(
                f"preset {self.name!r} has a mask channel: pass the line mask (or an empty one when no line is visible)"
            )
        image = rgb
        rng = rng if rng is not None else np.random.default_rng()
        if train:
            image, mask = self._random_geometry(image, mask, rng)
        h, w = image.shape[:2]
        fov = imageops.field_of_view_mask(image) if self.fov_mask else None
        square, params = imageops.letterbox(image, self.image_size)
        square_mask = self._square_mask(mask, MASK_COVERAGE) if mask is not None else None
        square_fov = self._square_mask(fov, 128) if fov is not None else None
        if train:
            square, (square_mask, square_fov) = self._random_photometric(square, [square_mask, square_fov], rng)
        x = self._colour_and_normalise(square, square_fov)
        channels = [x]
        mask_tensor = None
        if square_mask is not None:
            m = square_mask.astype(np.float32)
            mask_tensor = torch.from_numpy(m[None].copy())
            if self.mask_channel:
                channels.append(m[None])
        tensor = torch.from_numpy(np.ascontiguousarray(np.concatenate(channels, axis=0), dtype=np.float32))
        return Prepared(tensor, mask_tensor, Geometry(h, w, float(params[0]), int(params[1]), int(params[2])))

    def _colour_and_normalise(self, square: np.ndarray, fov: np.ndarray | None) -> np.ndarray:
        """S×S×3 uint8 → C×S×S float32 (colour, FOV masking, normalisation)."""
        if self.color == "rgb":
            base = square
        elif self.color == "gray":
            base = imageops.to_gray(square)
        else:  # equalised over the field of view only: the black surround must not shape the histogram
            base = imageops.paper_b_gray(square, self.clahe_clip, self.clahe_grid, mask=fov)
        if self.normalize == "standardize":
            x = imageops.standardize(base, fov)  # zero mean / unit std inside the FOV, 0 outside
        else:
            if fov is not None:
                base = imageops.apply_mask(base, fov)
            x = base.astype(np.float32) / 255.0
            if self.normalize == "imagenet":
                x = (x - IMAGENET_MEAN) / IMAGENET_STD
        return x.transpose(2, 0, 1) if x.ndim == 3 else x[None]

    def restore(
        self, square_map: np.ndarray | torch.Tensor, geometry: Geometry, interpolation: int = cv2.INTER_LINEAR
    ) -> np.ndarray:
        """Map an S×S map predicted on the prepared image (mask, saliency; H×W, 1×H×W or H×W×C)
        back onto the original image's H×W (``imageops.unletterbox``)."""
        arr = square_map.detach().cpu().numpy() if isinstance(square_map, torch.Tensor) else np.asarray(square_map)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        return imageops.unletterbox(arr, (geometry.height, geometry.width), geometry.letterbox, interpolation)


#: The built-in presets; :func:`get_preset` copies one with overrides.
PRESETS: dict[str, Preset] = {
    # Paper A (binary ROP): RGB 300×300, letterbox, FOV masking, ImageNet normalisation
    # (use normalize="unit" for ROPBaseCNN from scratch); brightness and random flips.
    "paper_a": Preset(
        "paper_a",
        image_size=300,
        color="rgb",
        normalize="imagenet",
        fov_mask=True,
        brightness=0.1,
        hflip=0.5,
        vflip=0.5,
    ),
    # Paper B (stages 1-3): 0.3/0.59/0.11 grey → equalisation → CLAHE → per-image standardisation,
    # 299×299; mask_channel=True for the hybrid 2-channel input. Its augmentation is the stage-1
    # oversampling (training.data.oversample_stage1), so no random augmentation here.
    "paper_b": Preset("paper_b", image_size=299, color="paper_b", normalize="standardize", fov_mask=True),
    # Small and quick, for laptops without a GPU.
    "fast": Preset(
        "fast", image_size=224, color="rgb", normalize="imagenet", fov_mask=True, brightness=0.1, hflip=0.5, vflip=0.5
    ),
    # Segmentation (Mask R-CNN normalises internally): RGB in [0, 1]; flips move image and mask together.
    "segmentation": Preset(
        "segmentation",
        image_size=512,
        color="rgb",
        normalize="unit",
        fov_mask=False,
        brightness=0.1,
        hflip=0.5,
        vflip=0.5,
    ),
    # The line segmenter from scratch on a CPU (the measured best, benchmarks/training_bench.py segment):
    # 320 px, paper B's contrast pipeline inside the field of view, standardised; flips, small rotations.
    "line": Preset(
        "line",
        image_size=320,
        color="paper_b",
        normalize="standardize",
        fov_mask=True,
        brightness=0.1,
        hflip=0.5,
        vflip=0.5,
        rotate=10.0,
    ),
}


def get_preset(name: str, **overrides: Any) -> Preset:
    """A built-in preset by name, with settings overridden (e.g. ``image_size=64`` in tests)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}") from None
    return base.replace(**overrides)


def list_presets() -> list[str]:
    return list(PRESETS)

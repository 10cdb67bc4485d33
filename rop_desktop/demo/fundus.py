"""Render a synthetic, RetCam-like fundus image of a premature infant from a :class:`FundusSpec`.

The picture is painted in layers on a float RGB canvas: a smooth background (posterior orange
retina, paler grey avascular periphery beyond the vascular border, choroidal mottling, a darker
macula, vignetting, an occasional light reflex; computed at quarter resolution), the optic disc
with its cup, the vessel tree, the lesion (stage 1 flat white line, stage 2 salmon raised ridge
with a highlight and a shadow, stage 3 the ridge with red fibrovascular tufts), then the camera
(colour cast, blur, noise, circular aperture on black). Deterministic in ``spec.seed``; about
20 ms for 640x480 on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rop_desktop.domain.labels import Stage

from .geometry import FundusLayout, make_layout, make_truth
from .spec import DemoError, FundusSpec, FundusTruth
from .vessels import draw_vessels, vessel_tree

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Palette:
    """Colours and optics of one camera (RGB, 0..255)."""

    posterior: RGB
    avascular: RGB
    disc: RGB
    cup: RGB
    vignetting: float  # darkening at the aperture edge (0..1)
    edge_tint: RGB  # colour multiplier reached at the aperture edge


PALETTES: dict[str, Palette] = {
    "RetCam 3": Palette((206, 98, 50), (198, 158, 128), (236, 178, 128), (248, 218, 178), 0.45, (0.97, 0.93, 0.92)),
    "3nethra Neo": Palette((222, 132, 62), (208, 170, 114), (236, 196, 128), (248, 228, 180), 0.2, (0.94, 1.04, 0.95)),
}
VEIN: RGB = (112, 30, 26)
ARTERY: RGB = (172, 56, 40)
LINE: RGB = (236, 232, 218)
RIDGE: dict[Stage, RGB] = {Stage.S2: (250, 200, 178), Stage.S3: (252, 198, 178)}
RIDGE_HIGHLIGHT: RGB = (255, 240, 226)
TUFT: RGB = (172, 44, 40)
MIN_SIZE = 32


def render_fundus(spec: FundusSpec, size: tuple[int, int] = (640, 480)) -> tuple[np.ndarray, FundusTruth]:
    """Render ``spec`` at ``size`` = (width, height): an RGB uint8 HxWx3 image and its ground truth."""
    width, height = check_size(size)
    layout = make_layout(spec, (width, height))
    truth = make_truth(spec, layout)
    rng = np.random.default_rng([spec.seed, 1])
    palette = PALETTES[spec.camera]
    img = _background(layout, spec, palette, rng)
    vessels = vessel_tree(layout, spec.plus, spec.mature, np.random.default_rng([spec.seed, 2]))
    for artery, colour, opacity in ((False, VEIN, 0.75), (True, ARTERY, 0.6)):
        alpha = draw_vessels(vessels, (height, width), artery) * np.float32(opacity)
        flat = np.empty_like(img)
        flat[:] = colour
        img = cv2.blendLinear(img, flat, 1.0 - alpha, alpha)  # one fast pass over the whole frame
    _paint_disc(img, layout, palette)
    _paint_lesion(img, layout, spec.stage, rng)
    return _camera(img, layout, spec, rng), truth


def fundus_truth(spec: FundusSpec, size: tuple[int, int] = (640, 480)) -> FundusTruth:
    """The ground truth :func:`render_fundus` would return, without painting any pixel (~1 ms)."""
    width, height = check_size(size)
    return make_truth(spec, make_layout(spec, (width, height)))


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate an output size (width, height)."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise DemoError(f"size must be (width, height) in pixels, got {size!r}") from exc
    if width < MIN_SIZE or height < MIN_SIZE:
        raise DemoError(f"size {width}x{height} is too small: each side must be at least {MIN_SIZE} pixels")
    return width, height


def _blend(img: np.ndarray, alpha: np.ndarray, colour: RGB) -> None:
    """In place: ``img = img * (1 - alpha) + colour * alpha`` (alpha HxW float32)."""
    img += alpha[..., None] * (np.asarray(colour, np.float32) - img)


def _tint(img: np.ndarray, mask: np.ndarray, opacity: float, colour: RGB | None) -> None:
    """Like :func:`_blend` with alpha ``mask / 255 * opacity``, touching only the pixels under the
    (sparse, uint8) mask; ``colour`` None darkens (a shadow)."""
    ys, xs = np.nonzero(mask)
    alpha = mask[ys, xs].astype(np.float32)[:, None] * np.float32(opacity / 255.0)
    target = np.float32(0.0) if colour is None else np.asarray(colour, np.float32)
    pixels = img[ys, xs]
    img[ys, xs] = pixels + alpha * (target - pixels)


def _smooth_noise(rng: np.random.Generator, cells: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    coarse = rng.standard_normal(cells, dtype=np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _background(layout: FundusLayout, spec: FundusSpec, palette: Palette, rng: np.random.Generator) -> np.ndarray:
    """Smooth retina colour at quarter resolution, upsampled to full size (float32 HxWx3)."""
    h4, w4 = max(8, layout.height // 4), max(8, layout.width // 4)
    ys = ((np.arange(h4, dtype=np.float32) + 0.5) * layout.height / h4 - 0.5)[:, None]
    xs = ((np.arange(w4, dtype=np.float32) + 0.5) * layout.width / w4 - 0.5)[None, :]
    cx, cy, radius = layout.fov
    rho = np.hypot(xs - cx, ys - cy) / radius
    dx, dy = xs - layout.disc[0], ys - layout.disc[1]
    rd = np.hypot(dx, dy)
    if spec.mature:
        avascular = np.zeros_like(rd)
    else:
        softness = (0.05 if spec.stage is Stage.S0 else 0.012) * radius
        border = layout.border_at(np.arctan2(dy, dx)).astype(np.float32)
        avascular = 1.0 / (1.0 + np.exp(-np.clip((rd - border) / softness, -30, 30)))
    post, avas = np.asarray(palette.posterior, np.float32), np.asarray(palette.avascular, np.float32)
    shift = rng.uniform(-8, 8, 3).astype(np.float32)
    base = post * (1 - avascular[..., None]) + (avas + shift) * avascular[..., None]
    mottle = 0.04 * _smooth_noise(rng, (5, 7), (h4, w4))
    mottle += 0.02 * _smooth_noise(rng, (h4 // 5 + 2, w4 // 5 + 2), (h4, w4))
    mottle = 1 + mottle * (1 - 0.5 * avascular)  # the avascular retina is flatter
    fx, fy = layout.fovea
    macula = np.exp(-((xs - fx) ** 2 + (ys - fy) ** 2) / (2 * (0.32 * layout.df) ** 2))
    shade = mottle * (1 - 0.13 * macula) * (1 - palette.vignetting * np.clip(rho, 0, 1) ** 4)
    base *= shade[..., None]
    edge = np.clip(rho, 0, 1)[..., None] ** 2
    base *= 1 + edge * (np.asarray(palette.edge_tint, np.float32) - 1)
    if rng.random() < 0.35:  # light reflex: a soft bright haze ring near the centre
        rx, ry = cx + rng.uniform(-0.2, 0.2) * radius, cy + rng.uniform(-0.2, 0.2) * radius
        ring_r, ring_w = rng.uniform(0.2, 0.5) * radius, rng.uniform(0.1, 0.2) * radius
        ring = np.exp(-(((np.hypot(xs - rx, ys - ry) - ring_r) / ring_w) ** 2)) * rng.uniform(8, 20)
        base += ring[..., None] * np.array([1.0, 1.0, 1.1], np.float32)
    return cv2.resize(base.astype(np.float32), (layout.width, layout.height), interpolation=cv2.INTER_LINEAR)


def _paint_disc(img: np.ndarray, layout: FundusLayout, palette: Palette) -> None:
    """Pale yellow optic disc (the vessels show through) with a brighter cup and a faint halo."""
    x0, y0, r = layout.disc
    pad = int(np.ceil(1.8 * r)) + 2
    left, top = max(0, int(x0) - pad), max(0, int(y0) - pad)
    right, bottom = min(layout.width, int(x0) + pad + 1), min(layout.height, int(y0) + pad + 1)
    if right <= left or bottom <= top:
        return
    ys = np.arange(top, bottom, dtype=np.float32)[:, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :]
    d = np.hypot(xs - x0, (ys - y0) / 1.08) / r
    patch = img[top:bottom, left:right]
    _blend(patch, np.clip(0.15 * (1.7 - d) / 0.6, 0, 0.15), palette.avascular)
    _blend(patch, np.clip((1.1 - d) / 0.25, 0, 1) * 0.55, palette.disc)
    ux, uy = np.cos(layout.temporal), np.sin(layout.temporal)
    cup = np.hypot(xs - (x0 + 0.15 * r * ux), ys - (y0 + 0.15 * r * uy)) / (0.35 * r)
    _blend(patch, np.exp(-1.6 * cup**2) * 0.4, palette.cup)


def _roi(points: np.ndarray, pad: float, layout: FundusLayout) -> tuple[int, int, int, int]:
    """Bounding box (left, top, right, bottom) of ``points`` grown by ``pad``, clipped to the image."""
    left = max(0, int(np.floor(points[:, 0].min() - pad)))
    top = max(0, int(np.floor(points[:, 1].min() - pad)))
    right = min(layout.width, int(np.ceil(points[:, 0].max() + pad)) + 1)
    bottom = min(layout.height, int(np.ceil(points[:, 1].max() + pad)) + 1)
    return left, top, max(left + 1, right), max(top + 1, bottom)


def _stroke(
    img: np.ndarray,
    layout: FundusLayout,
    offset: float,
    thickness: float,
    blur: float,
    strength: np.ndarray,
    colour: RGB | None,
    opacity: float,
) -> None:
    """Paint a blurred stroke along the lesion, ``offset`` pixels peripheral, in a bounding box.

    ``strength`` (per lesion point, 0..1) modulates the stroke along its length; with ``colour``
    None the stroke darkens (a shadow) instead of tinting.
    """
    pts = layout.lesion_line(offset)
    left, top, right, bottom = _roi(pts, thickness + 3 * blur + 2, layout)
    mask: np.ndarray = np.zeros((bottom - top, right - left), np.uint8)
    fixed = np.round((pts - (left, top)) * 16).astype(np.int32)
    step = 6
    for start in range(0, len(fixed) - 1, step):
        level = int(255 * float(strength[start : start + step + 1].mean()))
        cv2.polylines(
            mask,
            [fixed[start : start + step + 1].reshape(-1, 1, 2)],
            False,
            level,
            max(1, int(round(thickness))),
            cv2.LINE_AA,
            shift=4,
        )
    if blur > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    _tint(img[top:bottom, left:right], mask, opacity, colour)


def _paint_lesion(img: np.ndarray, layout: FundusLayout, stage: Stage, rng: np.random.Generator) -> None:
    n = layout.lesion_angles.size
    if n < 2:
        return
    w = layout.lesion_width
    # the line fades and thickens irregularly along its length, and tapers at both ends
    t = np.linspace(0.0, 1.0, n)
    taper = np.clip(np.minimum(t, 1 - t) * n / 6, 0.25, 1.0)
    strength = taper * np.clip(0.8 + 0.25 * np.interp(t, np.linspace(0, 1, 9), rng.standard_normal(9)), 0.45, 1.0)
    if stage is Stage.S1:
        _stroke(img, layout, 0.0, w, max(0.5, w / 5), strength, LINE, 0.7)
        return
    _stroke(img, layout, 0.8 * w, 0.8 * w, 0.45 * w, strength, None, 0.3)  # shadow on the periphery side
    _stroke(img, layout, 0.0, w, w / 6, strength, RIDGE[stage], 0.88)
    _stroke(img, layout, -0.22 * w, 0.35 * w, w / 8, strength, RIDGE_HIGHLIGHT, 0.55)
    if stage is Stage.S3:
        _paint_tufts(img, layout, rng)


def _paint_tufts(img: np.ndarray, layout: FundusLayout, rng: np.random.Generator) -> None:
    """Red fibrovascular tufts with fine neovascular fronds fanning out of them."""
    w = layout.lesion_width
    shapes = list(layout.tufts)
    fronds = []
    for tuft in layout.tufts:
        centre = tuft.mean(axis=0)
        for _ in range(int(rng.integers(2, 5))):
            angle, length, bend = rng.uniform(0, 2 * np.pi), w * rng.uniform(0.4, 0.9), rng.uniform(-0.6, 0.6)
            s = np.linspace(0, 1, 6)
            heading = angle + bend * s
            fronds.append(centre + length * s[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1))
    left, top, right, bottom = _roi(np.concatenate(shapes + fronds), 2 * w, layout)
    mask: np.ndarray = np.zeros((bottom - top, right - left), np.uint8)
    origin = np.array([left, top])
    cv2.fillPoly(
        mask,
        [np.round((p - origin) * 16).astype(np.int32).reshape(-1, 1, 2) for p in shapes],
        255,
        cv2.LINE_AA,
        shift=4,
    )
    cv2.polylines(
        mask,
        [np.round((p - origin) * 16).astype(np.int32).reshape(-1, 1, 2) for p in fronds],
        False,
        200,
        1,
        cv2.LINE_AA,
        shift=4,
    )
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, w / 14))
    _tint(img[top:bottom, left:right], mask, 0.72, TUFT)


def _camera(img: np.ndarray, layout: FundusLayout, spec: FundusSpec, rng: np.random.Generator) -> np.ndarray:
    """Colour cast, optics blur, sensor noise and the circular aperture on black (uint8)."""
    gains = rng.uniform(0.93, 1.07, 3) * rng.uniform(0.86, 1.08)
    # OpenCV takes a per-channel scalar here; its type stubs list only arrays
    img = cv2.multiply(img, (*gains.tolist(), 0.0))  # type: ignore[call-overload]
    if spec.poor_quality:  # out of focus (blurred at half size: same look, a quarter of the work), dark, hazy
        half = cv2.resize(img, (layout.width // 2, layout.height // 2), interpolation=cv2.INTER_AREA)
        half = cv2.GaussianBlur(half, (0, 0), layout.scale * rng.uniform(1.6, 2.25))
        img = cv2.resize(half, (layout.width, layout.height), interpolation=cv2.INTER_LINEAR)
        img = img * np.float32(rng.uniform(0.45, 0.6)) + np.array([26, 22, 20], np.float32)
    else:
        img = cv2.GaussianBlur(img, (0, 0), layout.scale * rng.uniform(0.45, 0.85))
    noise_sd = rng.uniform(4.0, 6.0) if spec.poor_quality else rng.uniform(1.5, 3.0)
    noise = rng.standard_normal((layout.height, layout.width), dtype=np.float32) * np.float32(noise_sd)
    np.add(img, noise[..., None], out=img)
    aperture = np.zeros((layout.height, layout.width), np.uint8)
    cx, cy, radius = layout.fov
    cv2.circle(
        aperture, (int(round(cx * 16)), int(round(cy * 16))), int(round(radius * 16)), 255, -1, cv2.LINE_AA, shift=4
    )
    np.multiply(img, (aperture.astype(np.float32) / 255.0)[..., None], out=img)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)

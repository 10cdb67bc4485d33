"""The synthetic fundus renderer: deterministic, a black-cornered aperture, visible lesions, valid truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from shapely.geometry import Point, Polygon, box

from rop_desktop.demo import DemoError, FundusSpec, fundus_truth, render_fundus
from rop_desktop.domain.labels import Eye, LesionType, Plus, Stage, Zone
from training.imageops import field_of_view_mask, fov_circle, to_gray

LESION_SPECS = [
    FundusSpec(11, Eye.OD, Stage.S1, Zone.II, extent_clock_hours=3, camera="RetCam 3"),
    FundusSpec(12, Eye.OS, Stage.S1, Zone.III, extent_clock_hours=2, camera="3nethra Neo", view=2),
    FundusSpec(13, Eye.OS, Stage.S2, Zone.POSTERIOR_II, Plus.PRE_PLUS, 5, camera="RetCam 3"),
    FundusSpec(14, Eye.OD, Stage.S2, Zone.II, extent_clock_hours=4, camera="3nethra Neo"),
    FundusSpec(15, Eye.OD, Stage.S3, Zone.I, Plus.PLUS, 9, camera="3nethra Neo"),
    FundusSpec(16, Eye.OS, Stage.S3, Zone.II, Plus.PLUS, 6, camera="RetCam 3", view=2),
]


def _mask(shape: tuple[int, int], polygon: Polygon) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for part in getattr(polygon, "geoms", [polygon]):
        if isinstance(part, Polygon) and not part.is_empty:
            cv2.fillPoly(mask, [np.round(np.asarray(part.exterior.coords)).astype(np.int32)], 1)
            for hole in part.interiors:
                cv2.fillPoly(mask, [np.round(np.asarray(hole.coords)).astype(np.int32)], 0)
    return mask.astype(bool)


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    spec = LESION_SPECS[2]
    first, truth1 = render_fundus(spec, (200, 150))
    second, truth2 = render_fundus(spec, (200, 150))
    other, _ = render_fundus(FundusSpec(99, spec.eye, spec.stage, spec.zone, spec.plus, spec.extent_clock_hours),
                             (200, 150))
    assert first.dtype == np.uint8 and first.shape == (150, 200, 3)
    assert first.tobytes() == second.tobytes()
    assert truth1 == truth2
    assert np.abs(first.astype(int) - other).mean() > 2


def test_truth_without_pixels_equals_rendered_truth() -> None:
    for spec in LESION_SPECS[:3]:
        assert fundus_truth(spec, (320, 240)) == render_fundus(spec, (320, 240))[1]


@pytest.mark.parametrize("size", [(640, 480), (128, 96), (100, 100)])
def test_circular_aperture_on_black(size: tuple[int, int]) -> None:
    img, truth = render_fundus(LESION_SPECS[0], size)
    w, h = size
    for y, x in ((0, 0), (0, w - 3), (h - 3, 0), (h - 3, w - 3)):
        assert img[y:y + 3, x:x + 3].max() == 0
    cx, cy, r = truth.fov
    assert 0.44 * min(size) <= r <= 0.5 * min(size)
    assert to_gray(img)[int(cy), int(cx)] > 60
    found = fov_circle(field_of_view_mask(img))
    assert found is not None
    assert abs(found[0] - cx) < 0.03 * w and abs(found[1] - cy) < 0.03 * h and abs(found[2] - r) < 0.03 * min(size)


@pytest.mark.parametrize("spec", LESION_SPECS, ids=lambda s: f"stage{s.stage.value}-{s.camera}")
def test_lesion_is_visible_inside_its_truth_polygon(spec: FundusSpec) -> None:
    img, truth = render_fundus(spec)
    gray = to_gray(img).astype(np.float32)
    assert truth.lesions, "a stage >= 1 image has a visible line/ridge"
    assert {lesion.kind for lesion in truth.lesions} == {
        LesionType.DEMARCATION_LINE if spec.stage is Stage.S1 else LesionType.RIDGE}
    cx, cy, r = truth.fov
    fov = Point(cx, cy).buffer(r - 4)
    for lesion in truth.lesions:
        poly = lesion.polygon()
        if poly.area < 60:
            continue
        band = poly.buffer(7).difference(poly.buffer(2)).intersection(fov)
        inside, outside = gray[_mask(gray.shape, poly)], gray[_mask(gray.shape, band)]
        assert inside.size and outside.size
        assert inside.mean() - outside.mean() > 12, (inside.mean(), outside.mean())


def test_truth_polygons_are_valid_simple_and_inside_the_aperture() -> None:
    for spec in LESION_SPECS:
        truth = fundus_truth(spec)
        cx, cy, r = truth.fov
        for lesion in truth.lesions:
            poly = lesion.polygon()
            assert poly.is_valid and poly.area > 0 and not poly.interiors
            assert box(0, 0, 639, 479).contains(poly)
            assert Point(cx, cy).buffer(r + 0.5).contains(poly)
            assert lesion.stage is spec.stage


def test_ridge_is_wider_than_a_demarcation_line() -> None:
    def width(spec: FundusSpec) -> float:
        polys = [lesion.polygon() for lesion in fundus_truth(spec).lesions]
        return sum(p.area for p in polys) / sum(p.length / 2 for p in polys)

    assert width(LESION_SPECS[3]) > 1.6 * width(LESION_SPECS[0])


def test_stage_3_has_red_tufts_on_the_ridge() -> None:
    stage2 = FundusSpec(21, Eye.OD, Stage.S2, Zone.II, extent_clock_hours=5)
    stage3 = FundusSpec(21, Eye.OD, Stage.S3, Zone.II, extent_clock_hours=5)

    def redness(spec: FundusSpec) -> float:
        img, truth = render_fundus(spec)
        inside = _mask(img.shape[:2], truth.lesions[0].polygon())
        rgb = img[inside].astype(np.float32)
        return float(np.percentile(rgb[:, 0] - rgb[:, 1], 95))

    assert redness(stage3) > redness(stage2) + 15


def test_stage_0_has_no_lesion_and_zone_sets_the_vascular_border() -> None:
    distances = []
    for zone in (Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III):
        truth = fundus_truth(FundusSpec(5, Eye.OS, Stage.S0, zone))
        assert truth.lesions == () and truth.extent_clock_hours == 0 and truth.zone is zone
        points = np.concatenate([np.asarray(run) for run in truth.vascular_border])
        distances.append(np.hypot(points[:, 0] - truth.disc[0], points[:, 1] - truth.disc[1]).mean() / truth.fov[2])
    assert distances == sorted(distances)
    assert fundus_truth(FundusSpec(5, Eye.OS, Stage.S0, Zone.III, mature=True)).vascular_border == ()


def test_optic_disc_mirrors_between_eyes() -> None:
    for seed in range(4):
        od = fundus_truth(FundusSpec(seed, Eye.OD, Stage.S0, Zone.II))
        os_ = fundus_truth(FundusSpec(seed, Eye.OS, Stage.S0, Zone.II))
        assert od.disc[0] > od.fov[0] and os_.disc[0] < os_.fov[0]  # the disc lies nasally


def test_plus_disease_dilates_the_posterior_vessels() -> None:
    def dark_share(plus: Plus) -> float:
        img, truth = render_fundus(FundusSpec(8, Eye.OD, Stage.S3, Zone.II, plus, 4))
        h, w = img.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        dist = np.hypot(xx - truth.disc[0], yy - truth.disc[1])
        ring = (dist > 1.5 * truth.disc[2]) & (dist < 0.35 * truth.fov[2])
        gray = to_gray(img).astype(np.float32)
        return float((gray[ring] < np.median(gray[ring]) - 18).mean())

    normal, pre, plus = dark_share(Plus.NORMAL), dark_share(Plus.PRE_PLUS), dark_share(Plus.PLUS)
    assert normal < pre < plus and plus > 1.4 * normal


def test_poor_quality_image_is_dark_and_blurred() -> None:
    good_spec = FundusSpec(31, Eye.OD, Stage.S2, Zone.II, extent_clock_hours=4)
    poor_spec = FundusSpec(31, Eye.OD, Stage.S2, Zone.II, extent_clock_hours=4, poor_quality=True)
    good, poor = to_gray(render_fundus(good_spec)[0]), to_gray(render_fundus(poor_spec)[0])
    inside = good > 0
    assert poor[inside].mean() < 0.8 * good[inside].mean()
    core = (slice(140, 340), slice(220, 420))
    smooth = lambda g: cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), 1.5), cv2.CV_32F)[core].var()  # noqa: E731
    assert smooth(poor) < 0.5 * smooth(good)


@pytest.mark.parametrize("kwargs, words", [
    ({"stage": Stage.S4A}, "cannot be rendered"),
    ({"stage": Stage.S2, "extent_clock_hours": 0}, "1–12 clock hours"),
    ({"stage": Stage.S0, "extent_clock_hours": 3}, "extent must be 0"),
    ({"zone": Zone.NA}, "zone"),
    ({"stage": Stage.S1, "extent_clock_hours": 2, "mature": True}, "mature"),
    ({"camera": "Optos"}, "not simulated"),
    ({"view": 3}, "view"),
])
def test_bad_spec_is_refused_with_a_reason(kwargs: dict, words: str) -> None:
    with pytest.raises(DemoError, match=words):
        FundusSpec(1, **kwargs)


def test_bad_size_is_refused() -> None:
    with pytest.raises(DemoError, match="too small"):
        render_fundus(LESION_SPECS[0], (16, 16))
    with pytest.raises(DemoError, match="width, height"):
        render_fundus(LESION_SPECS[0], "big")  # type: ignore[arg-type]


def test_every_kind_of_eye_renders_at_the_default_size_as_a_distinct_fundus() -> None:
    """The demo's whole range (each stage, both cameras, a second view, a mature stage-0 eye) at
    the default 640x480: RGB uint8 on a black aperture, no two alike, a lesion exactly when staged.
    (The render time is a benchmark's business: tests/benchmarks.)"""
    specs = [*LESION_SPECS, FundusSpec(40, Eye.OD, Stage.S0, Zone.III, mature=True)]
    rendered = [render_fundus(spec) for spec in specs]
    for spec, (img, truth) in zip(specs, rendered, strict=True):
        assert img.dtype == np.uint8 and img.shape == (480, 640, 3)
        assert img[:4, :4].max() == 0 and img[-4:, -4:].max() == 0, "the corners are outside the aperture"
        cx, cy, _ = truth.fov
        assert to_gray(img)[int(cy), int(cx)] > 60, "the centre of the aperture is lit"
        assert bool(truth.lesions) is (spec.stage is not Stage.S0)
    digests = {img.tobytes() for img, _ in rendered}
    assert len(digests) == len(specs)

"""Zone geometry against hand-worked cases (ICROP3: zone I = 2 disc–fovea distances, posterior
zone II = 2 disc diameters more, zone II estimated at twice zone I; zone III temporal only)."""

from __future__ import annotations

import math

import pytest

from rop_desktop.domain.labels import Eye, Zone
from rop_desktop.domain.zones import (
    FieldOfView,
    LandmarkError,
    Landmarks,
    Similarity,
    ZoneRefused,
    alignment,
    clock_angle,
    clock_hours,
    most_posterior_point,
    suggest_zone,
    zone_rings,
)

# A right eye (OD): the fovea 100 px left of the disc; disc radius 15 px (diameter 30).
OD = Landmarks(disc=(300.0, 200.0), disc_radius=15.0, fovea=(200.0, 200.0))
# Its mirror image, a left eye (OS).
OS = Landmarks(disc=(300.0, 200.0), disc_radius=15.0, fovea=(400.0, 200.0))


def square(cx: float, cy: float, half: float = 3.0) -> tuple[tuple[float, float], ...]:
    return ((cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half))


def test_rings_hand_worked() -> None:
    rings = zone_rings(OD)
    assert rings.disc_fovea == 100.0
    assert rings.zone_i == 200.0                     # 2 × DF
    assert rings.posterior_ii == 260.0               # + 2 disc diameters (2 × 30)
    assert rings.zone_ii == 400.0                    # estimate: 2 × zone I
    assert not rings.disc_estimated
    assert rings.temporal == (-1.0, 0.0)


def test_the_disc_diameter_is_estimated_when_not_measured() -> None:
    rings = zone_rings(Landmarks(disc=(0, 0), fovea=(100, 0)))
    assert rings.disc_estimated
    assert rings.disc_diameter == pytest.approx(100 / 2.65)
    assert rings.posterior_ii == pytest.approx(200 + 2 * 100 / 2.65)


@pytest.mark.parametrize("landmarks", [OD, OS], ids=["right eye", "left eye"])
def test_points_on_each_ring_boundary_belong_to_the_inner_zone(landmarks: Landmarks) -> None:
    rings = zone_rings(landmarks)
    for angle in range(0, 360, 15):
        ux, uy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        on = {z: (300 + r * ux, 200 + r * uy) for z, r in rings.radii().items()}
        just_out = {z: (300 + (r + 0.01) * ux, 200 + (r + 0.01) * uy) for z, r in rings.radii().items()}
        assert rings.zone_at(on[Zone.I]) is Zone.I
        assert rings.zone_at(just_out[Zone.I]) is Zone.POSTERIOR_II
        assert rings.zone_at(on[Zone.POSTERIOR_II]) is Zone.POSTERIOR_II
        assert rings.zone_at(just_out[Zone.POSTERIOR_II]) is Zone.II
        assert rings.zone_at(on[Zone.II]) is Zone.II
    assert rings.zone_at((300, 200)) is Zone.I  # the disc itself


def test_zone_iii_is_the_temporal_crescent_only_in_both_eyes() -> None:
    od, os_ = zone_rings(OD), zone_rings(OS)
    # 450 px from the disc: beyond the zone II estimate (400)
    assert od.zone_at((300 - 450, 200)) is Zone.III   # temporal = towards the fovea (left for OD)
    assert od.zone_at((300 + 450, 200)) is Zone.II    # nasal: zone II reaches the nasal ora
    assert os_.zone_at((300 + 450, 200)) is Zone.III  # mirrored
    assert os_.zone_at((300 - 450, 200)) is Zone.II


def test_suggestion_from_the_most_posterior_point_of_the_ridge() -> None:
    # a ridge outline from 230 to 300 px temporal of the disc: most posterior point at 230 → posterior II
    ridge = ((70.0, 190.0), (0.0, 190.0), (0.0, 210.0), (70.0, 210.0))
    s = suggest_zone(OD, [ridge])
    assert s.zone is Zone.POSTERIOR_II
    assert s.point == pytest.approx((70.0, 200.0))
    assert s.distance_df == pytest.approx(2.3)
    assert "2.30 disc–fovea distances" in s.reason
    assert suggest_zone(OD, [square(300 - 150, 200)]).zone is Zone.I
    assert suggest_zone(OD, [square(300 - 350, 200)]).zone is Zone.II
    assert suggest_zone(OD, [square(300 - 480, 200)]).zone is Zone.III
    # the most posterior of several outlines wins
    assert suggest_zone(OD, [square(300 - 480, 200), square(300, 200 - 180)]).zone is Zone.I


def test_mirrored_eyes_get_the_same_suggestion() -> None:
    ridge_od = square(300 - 350, 200)
    ridge_os = square(300 + 350, 200)
    a = suggest_zone(OD, [ridge_od], eye=Eye.OD)
    b = suggest_zone(OS, [ridge_os], eye=Eye.OS)
    assert a.zone is b.zone is Zone.II
    assert a.distance_df == pytest.approx(b.distance_df)
    assert not a.notes and not b.notes


def test_landmarks_on_the_wrong_side_for_the_eye_are_noted_not_refused() -> None:
    s = suggest_zone(OS, [square(300 + 150, 200)], eye=Eye.OD)
    assert s.zone is Zone.I
    assert any("check the landmarks" in n for n in s.notes)


def test_disc_near_the_image_edge_still_gives_rings_and_a_suggestion() -> None:
    fov = FieldOfView(640, 480, (320.0, 240.0, 330.0))
    near_edge = Landmarks(disc=(4.0, 240.0), fovea=(104.0, 250.0))
    rings = zone_rings(near_edge)
    assert rings.zone_i == pytest.approx(2 * math.hypot(100, 10))   # rings reach beyond the image: fine
    s = suggest_zone(near_edge, [square(150, 245)], fov=fov, eye=Eye.OS)
    assert s.zone is Zone.I and not s.refused


def test_fovea_outside_the_field_of_view_refuses_with_a_reason() -> None:
    fov = FieldOfView(640, 480, (320.0, 240.0, 230.0))
    outside = Landmarks(disc=(330.0, 240.0), fovea=(20.0, 20.0))   # in the black corner
    s = suggest_zone(outside, [square(200, 240)], fov=fov)
    assert s.refused and s.zone is None
    assert "fovea is outside the camera's field of view" in s.reason
    beyond_image = Landmarks(disc=(330.0, 240.0), fovea=(700.0, 240.0))
    assert "fovea is outside" in suggest_zone(beyond_image, [square(200, 240)], fov=FieldOfView(640, 480)).reason
    disc_out = Landmarks(disc=(630.0, 10.0), fovea=(330.0, 240.0))
    assert "optic disc is outside" in suggest_zone(disc_out, [square(200, 240)], fov=fov).reason


@pytest.mark.parametrize(("landmarks", "words"), [
    (None, "Place the optic disc (D) and the fovea (F)"),
    (Landmarks(), "Place the optic disc (D) and the fovea (F)"),
    (Landmarks(disc=(1, 1)), "Place the fovea (F)"),
    (Landmarks(fovea=(1, 1)), "Place the optic disc centre (D)"),
    (Landmarks(disc=(10, 10), fovea=(11, 10)), "same spot"),
    (Landmarks(disc=(10, 10), disc_radius=120, fovea=(110, 10)), "disc radius reaches the fovea"),
])
def test_refusals_say_what_is_missing(landmarks: Landmarks | None, words: str) -> None:
    s = suggest_zone(landmarks, [square(50, 50)])
    assert s.refused and words in s.reason


def test_no_outline_no_suggestion() -> None:
    s = suggest_zone(OD, [])
    assert s.refused and "No ridge or demarcation line is outlined" in s.reason


def test_disc_inside_an_outline_is_zone_i() -> None:
    assert most_posterior_point((300, 200), [square(300, 200, 20)]) == (300.0, 200.0)
    assert suggest_zone(OD, [square(300, 200, 20)]).zone is Zone.I


@pytest.mark.parametrize("bad", [{"disc": ("x", 1)}, {"disc": (math.nan, 1)}, {"disc": (1, 1), "disc_radius": -2},
                                 {"disc_radius": 3}, {"fovea": (1, 2, 3)}])
def test_bad_landmark_values_are_refused(bad: dict) -> None:
    with pytest.raises(LandmarkError):
        Landmarks(**bad)


def test_landmarks_round_trip_as_plain_values() -> None:
    assert Landmarks.from_dict(OD.as_dict()) == OD
    assert Landmarks.from_dict(None) == Landmarks()


def test_clock_hours_seen_from_the_disc() -> None:
    assert clock_angle((0, 0), (0, -10)) == 0.0     # up: 12 o'clock
    assert clock_angle((0, 0), (10, 0)) == 90.0     # right: 3 o'clock
    assert clock_hours((0, 0), [((50, -5), (100, -5), (100, 5), (50, 5))]) == {3}
    # an annulus sector from 12 o'clock to 3 o'clock (0°–90° clockwise from up)
    outer = [(100 * math.sin(math.radians(a)), -100 * math.cos(math.radians(a))) for a in range(0, 91, 5)]
    inner = [(80 * math.sin(math.radians(a)), -80 * math.cos(math.radians(a))) for a in range(90, -1, -5)]
    assert clock_hours((0, 0), [tuple(outer + inner)]) == {12, 1, 2, 3}
    assert clock_hours((0, 0), []) == frozenset()


def test_alignment_maps_disc_and_fovea_of_one_visit_onto_the_other() -> None:
    a = Landmarks(disc=(100, 100), fovea=(0, 100))
    b = Landmarks(disc=(220, 130), fovea=(220, 330))   # twice as large, turned 90° (counter-clockwise)
    t = alignment(a, b)
    assert t.map((100, 100)) == pytest.approx((220, 130))
    assert t.map((0, 100)) == pytest.approx((220, 330))
    assert t.scale == pytest.approx(2.0)
    back = t.inverse()
    assert back.map(t.map((37, 61))) == pytest.approx((37, 61))
    assert Similarity().map((3, 4)) == (3, 4)
    with pytest.raises(ZoneRefused):
        alignment(a, Landmarks(disc=(1, 1)))

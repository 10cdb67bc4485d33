"""The demo's serial screening and landmarks: third visits that worsen, landmarks near the truth."""

from __future__ import annotations

import math
from collections import Counter

from rop_desktop.demo import DemoStudy, generate_demo
from rop_desktop.domain.labels import Quality
from rop_desktop.domain.progression import worsening


def test_some_infants_are_seen_three_times_and_their_worse_eye_progresses(demo_study: DemoStudy) -> None:
    visits = Counter(e.patient for e in demo_study.exams)
    thrice = [p for p, n in visits.items() if n == 3]
    assert thrice, "the demo shows a third visit"
    for patient in thrice:
        by_number = {e.number: e for e in demo_study.exams if e.patient == patient}
        assert (by_number[3].date - by_number[2].date).days == 7
        flagged = []
        for eye in {i.eye for i in demo_study.images if i.patient.code == patient}:
            second = next(i for i in demo_study.images if i.exam is by_number[2] and i.eye is eye)
            third = next(i for i in demo_study.images if i.exam is by_number[3] and i.eye is eye)
            flagged.append(worsening(second.truth.grade(), third.truth.grade()))
        worse = [f for f in flagged if f]
        assert len(worse) == 1, f"{patient}: one eye worsens, the other stays ({flagged})"
        assert any(f.startswith("stage") for f in worse[0])
        assert "now treatment-warranted (Type 1)" in worse[0] or "now close follow-up (Type 2)" in worse[0] \
            or any("plus" in f for f in worse[0])


def test_graders_place_landmarks_near_the_truth_and_no_fovea_outside_the_aperture(demo_study: DemoStudy) -> None:
    placed = missing_fovea = 0
    for image in demo_study.images:
        cx, cy, r = image.truth.fov
        fovea_in_view = math.hypot(image.truth.fovea[0] - cx, image.truth.fovea[1] - cy) < 0.95 * r
        df = math.dist(image.truth.disc[:2], image.truth.fovea)
        for grade in image.grades:
            lm = grade.landmarks
            if grade.values.quality is Quality.UNGRADABLE:
                assert lm is None
                continue
            assert lm is not None and lm.disc is not None
            placed += 1
            assert math.dist(lm.disc, image.truth.disc[:2]) < 0.1 * df
            assert lm.disc_radius is not None and abs(lm.disc_radius / image.truth.disc[2] - 1) <= 0.2
            if fovea_in_view:
                assert lm.fovea is not None and math.dist(lm.fovea, image.truth.fovea) < 0.25 * df
            else:
                assert lm.fovea is None
                missing_fovea += 1
    assert placed > 100


def test_landmarks_travel_in_the_truth_file_and_change_no_grade() -> None:
    a = generate_demo(seed=3, n_patients=5, size=(160, 120))
    b = generate_demo(seed=3, n_patients=5, size=(160, 120))
    assert [g.landmarks for i in a.images for g in i.grades] == [g.landmarks for i in b.images for g in i.grades]
    grade = a.images[0].grades[0]
    assert grade.as_dict()["landmarks"] == grade.landmarks.as_dict()
    assert a.images[0].truth.as_dict()["fovea"] is not None

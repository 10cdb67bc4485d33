"""Simulated graders reproduce their profiles, agree with the truth by majority, and outline plausibly."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from shapely.geometry import Point, box
from shapely.ops import unary_union

from rop_desktop.demo import DEFAULT_GRADERS, DemoError, DemoImage, DemoStudy, GraderProfile, generate_demo
from rop_desktop.domain.grades import check_grade
from rop_desktop.domain.labels import LesionType, Quality, RopPresence, Stage


def _says_rop(image: DemoImage, grader: int) -> bool | None:
    values = image.grades[grader].values
    return None if values.quality is Quality.UNGRADABLE else values.rop is RopPresence.YES


def _majority(votes: list[bool]) -> bool:
    """Majority of ROP yes/no votes; a tie goes to the more severe answer (ROP)."""
    yes = sum(votes)
    return yes >= len(votes) - yes


def _gradable(study: DemoStudy) -> list[DemoImage]:
    return [i for i in study.images if not i.truth.poor_quality]


def _rates(pairs: list[tuple[bool, bool]]) -> tuple[float, float]:
    """(sensitivity, specificity) of (call, reference) pairs."""
    tp = sum(c and r for c, r in pairs)
    tn = sum(not c and not r for c, r in pairs)
    pos = sum(r for _, r in pairs)
    return tp / pos, tn / (len(pairs) - pos)


@pytest.mark.parametrize("grader", range(4))
def test_each_grader_realises_its_profile_against_the_truth(demo_study: DemoStudy, grader: int) -> None:
    profile = demo_study.graders[grader]
    pairs = [(_says_rop(i, grader), i.truth.stage is not Stage.S0) for i in _gradable(demo_study)]
    assert all(call is not None for call, _ in pairs), "ungradable marks only fall on poor-quality images"
    sensitivity, specificity = _rates(pairs)  # type: ignore[arg-type]
    assert abs(sensitivity - profile.sensitivity) <= 0.03
    assert abs(specificity - profile.specificity) <= 0.03


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leave_one_out_majority_matches_truth_and_profiles(seed: int) -> None:
    study = generate_demo(seed=seed, n_patients=20)
    images = _gradable(study)
    for grader, profile in enumerate(study.graders):
        references, pairs = [], []
        for image in images:
            others = [v for k in range(len(study.graders)) if k != grader
                      for v in [_says_rop(image, k)] if v is not None]
            reference = _majority(others)
            references.append(reference == (image.truth.stage is not Stage.S0))
            pairs.append((bool(_says_rop(image, grader)), reference))
        assert np.mean(references) >= 0.95, profile.name
        sensitivity, _ = _rates(pairs)
        assert abs(sensitivity - profile.sensitivity) <= 0.05, profile.name


def test_some_images_split_two_against_two(demo_study: DemoStudy) -> None:
    ties = [i for i in _gradable(demo_study) if sum(bool(_says_rop(i, g)) for g in range(4)) == 2]
    assert 1 <= len(ties) <= 4


def test_graders_disagree_on_stage_and_plus_by_one_step(demo_study: DemoStudy) -> None:
    stage_off = Counter()
    plus_off = 0
    for image in _gradable(demo_study):
        for grade in image.grades:
            values = grade.values
            if values.rop is RopPresence.YES and image.truth.stage is not Stage.S0:
                gap = abs(values.stage.major - image.truth.stage.major)
                assert gap <= 1
                stage_off[grade.grader] += gap
            plus_gap = abs(values.plus.severity - image.truth.plus.severity)
            assert plus_gap <= 1
            plus_off += plus_gap
    assert all(stage_off[p.name] > 0 for p in demo_study.graders)
    assert plus_off > 0


def test_poor_quality_images_get_ungradable_marks(demo_study: DemoStudy) -> None:
    poor = [i for i in demo_study.images if i.truth.poor_quality]
    assert poor
    for image in poor:
        marks = [g for g in image.grades if g.values.quality is Quality.UNGRADABLE]
        assert marks, image.file_name
        assert all(g.values.stage is Stage.NA and not g.polygons for g in marks)


def test_grades_pass_the_submission_rules(demo_study: DemoStudy) -> None:
    for image in demo_study.images:
        for grade in image.grades:
            issues = check_grade(grade.values, [p.stage for p in grade.polygons])
            assert not [i for i in issues if i.severity == "error"], (image.file_name, grade.grader, issues)
            assert grade.values.confidence in range(1, 6)


def test_grader_outlines_follow_the_truth(demo_study: DemoStudy) -> None:
    w, h = demo_study.size
    frame = box(0, 0, w - 1, h - 1)
    overlaps = []
    for image in demo_study.images:
        truth_shape = unary_union([lesion.polygon() for lesion in image.truth.lesions])
        cx, cy, r = image.truth.fov
        for grade in image.grades:
            if grade.values.rop is not RopPresence.YES:
                assert not grade.polygons
                continue
            for polygon in grade.polygons:
                shape = polygon.polygon()
                assert shape.is_valid and shape.area > 0 and frame.contains(shape)
                assert Point(cx, cy).buffer(r).contains(shape)
                assert polygon.stage is grade.values.stage
                assert polygon.kind is (LesionType.DEMARCATION_LINE if polygon.stage is Stage.S1 else LesionType.RIDGE)
            if image.truth.lesions and grade.polygons:
                drawn = unary_union([p.polygon() for p in grade.polygons])
                overlaps.append(drawn.intersection(truth_shape).area / drawn.union(truth_shape).area)
                assert drawn.distance(truth_shape) == 0
    assert 0.4 < float(np.median(overlaps)) < 0.97  # close to the truth, never a copy of it


def test_an_over_caller_outlines_the_vascular_border(demo_study: DemoStudy) -> None:
    false_calls = [g for i in _gradable(demo_study) if i.truth.stage is Stage.S0 and not i.truth.mature
                   for g in i.grades if g.values.rop is RopPresence.YES]
    assert false_calls and any(g.polygons for g in false_calls)


def test_profiles_are_validated() -> None:
    assert [p.name for p in DEFAULT_GRADERS] == ["Dr. Avery", "Dr. Boateng", "Dr. Chen", "Dr. Diaz"]
    with pytest.raises(DemoError, match="sensitivity"):
        GraderProfile("Dr. X", 1.5, 0.9)
    with pytest.raises(DemoError, match="name"):
        GraderProfile(" ", 0.9, 0.9)
    twins = (GraderProfile("Dr. X", 0.9, 0.9), GraderProfile("Dr. X", 0.8, 0.9))
    with pytest.raises(DemoError, match="unique"):
        generate_demo(n_patients=2, size=(64, 48), graders=twins)


def test_custom_graders_are_honoured() -> None:
    perfect = tuple(GraderProfile(f"Dr. {k}", 1.0, 1.0, 0.0, 0.0, 0.0) for k in "PQR")
    study = generate_demo(seed=5, n_patients=6, size=(96, 72), graders=perfect)
    for image in study.images:
        assert all(g.values.stage is image.truth.stage and g.values.plus is image.truth.plus for g in image.grades)

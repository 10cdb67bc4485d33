"""Study composition: patients, exams, images, stage mix, hospital diagnoses; reproducible by seed."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from rop_desktop.demo import DemoError, DemoStudy, diagnosis_text, generate_demo
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, RopPresence, Stage, Zone


def _summary(study: DemoStudy) -> list[tuple]:
    return [(i.file_name, i.spec, i.truth, i.hospital_diagnosis, i.grades) for i in study.images]


def test_same_seed_same_study_other_seed_other_study() -> None:
    a, b = generate_demo(seed=3, n_patients=5, size=(160, 120)), generate_demo(seed=3, n_patients=5, size=(160, 120))
    assert _summary(a) == _summary(b) and a.patients == b.patients and a.exams == b.exams
    assert a.images[0].render().tobytes() == b.images[0].render().tobytes()
    c = generate_demo(seed=4, n_patients=5, size=(160, 120))
    assert _summary(a) != _summary(c)


def test_render_is_lazy_and_repeatable(demo_study: DemoStudy) -> None:
    image = demo_study.images[0]
    first = image.render()
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    assert np.array_equal(first, image.render())


def test_patients_exams_and_images_are_plausible(demo_study: DemoStudy) -> None:
    assert [p.code for p in demo_study.patients] == [f"DEMO-{k:03d}" for k in range(1, 21)]
    ga = np.array([p.gestational_age_weeks for p in demo_study.patients])
    bw = np.array([p.birth_weight_g for p in demo_study.patients])
    assert ga.min() >= 23 and ga.max() <= 32 and bw.min() >= 450 and bw.max() <= 1800
    assert np.corrcoef(ga, bw)[0, 1] > 0.6  # heavier babies are born later
    exams = Counter(e.patient for e in demo_study.exams)
    assert set(exams.values()) <= {1, 2, 3} and len(exams) == 20
    for exam in demo_study.exams:
        images = [i for i in demo_study.images if i.exam is exam]
        assert {i.eye for i in images} == {Eye.OD, Eye.OS}
        assert len(images) <= 4 and exam.camera in ("RetCam 3", "3nethra Neo") and exam.site
        patient = next(p for p in demo_study.patients if p.code == exam.patient)
        assert exam.pma_weeks >= patient.gestational_age_weeks + 3 and exam.date > patient.birth_date
    assert any(i.view == 2 for i in demo_study.images)
    names = [i.file_name for i in demo_study.images]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"DEMO-\d{3}_O[DS]_\d{4}-\d{2}-\d{2}_[12]\.png", n) for n in names)


def test_stage_mix_plus_and_poor_quality(demo_study: DemoStudy) -> None:
    stages = Counter(i.truth.stage for i in demo_study.images)
    share = {s: stages[s] / len(demo_study.images) for s in (Stage.S0, Stage.S1, Stage.S2, Stage.S3)}
    for stage, target in ((Stage.S0, 0.40), (Stage.S1, 0.25), (Stage.S2, 0.20), (Stage.S3, 0.15)):
        assert abs(share[stage] - target) < 0.08, share
    plus = Counter(i.truth.plus for i in demo_study.images)
    assert plus[Plus.PLUS] > 0 and plus[Plus.PRE_PLUS] > 0
    assert {i.truth.zone for i in demo_study.images} >= {Zone.POSTERIOR_II, Zone.II, Zone.III}
    poor = sum(i.truth.poor_quality for i in demo_study.images)
    assert 1 <= poor <= 0.08 * len(demo_study.images)
    assert all(not i.truth.arop for i in demo_study.images)


@pytest.mark.parametrize("seed", range(5))
def test_every_stage_and_plus_even_in_a_tiny_study(seed: int) -> None:
    study = generate_demo(seed=seed, n_patients=4, size=(96, 72))
    assert {i.truth.stage for i in study.images} == {Stage.S0, Stage.S1, Stage.S2, Stage.S3}
    assert {i.truth.plus for i in study.images} >= {Plus.PLUS, Plus.PRE_PLUS}


def test_every_rop_image_has_a_truth_outline(demo_study: DemoStudy) -> None:
    for image in demo_study.images:
        assert bool(image.truth.lesions) == (image.truth.stage is not Stage.S0), image.file_name
        assert image.truth.extent_clock_hours == (0 if image.truth.stage is Stage.S0 else image.spec.extent_clock_hours)
        assert image.truth.grade().rop is (RopPresence.NO if image.truth.stage is Stage.S0 else RopPresence.YES)


def test_hospital_diagnosis_mostly_agrees_with_truth(demo_study: DemoStudy) -> None:
    agree = [i.hospital_diagnosis.stage is i.truth.stage for i in demo_study.images]
    assert 0.8 <= np.mean(agree) <= 0.97
    for image in demo_study.images:
        diagnosis = image.hospital_diagnosis
        assert abs(diagnosis.stage.major - image.truth.stage.major) <= 1
        assert (diagnosis.rop is RopPresence.YES) == (diagnosis.stage is not Stage.S0)


def test_diagnosis_text_reads_like_a_clinic_letter() -> None:
    assert diagnosis_text(GradeValues(rop=RopPresence.NO, stage=Stage.S0)) == "No ROP"
    assert diagnosis_text(GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.II, plus=Plus.PRE_PLUS)) == \
        "ROP stage 2, zone II, pre-plus"
    assert diagnosis_text(GradeValues(rop=RopPresence.YES, stage=Stage.S3, zone=Zone.POSTERIOR_II,
                                      plus=Plus.NORMAL)) == "ROP stage 3, posterior zone II"


@pytest.mark.parametrize("n_patients", [0, -2, 2.5, True])
def test_bad_patient_count_is_refused(n_patients: object) -> None:
    with pytest.raises(DemoError, match="n_patients"):
        generate_demo(n_patients=n_patients)  # type: ignore[arg-type]

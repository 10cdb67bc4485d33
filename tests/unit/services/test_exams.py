"""Eye-level exams, landmarks and zone suggestions through the real services on a real study.

The study: patient P001's right eye seen twice (two images each visit, a week apart), its left
eye once; four graders and an adjudicator (``tests/unit/services/conftest.py`` style).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.domain.etrop import TreatmentClass
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, LesionType, Plus, Quality, Role, RopPresence, Stage, Zone
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.domain.zones import Landmarks
from rop_desktop.services import accounts, exams
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.exams import ExamError, ExamGradeConflict, ExamKey, ExamService
from rop_desktop.services.grading import GradingService
from rop_desktop.services.importer import run_import
from rop_desktop.services.landmarks import LandmarkConflict, LandmarkService, export_landmarks_csv
from rop_desktop.services.policy import BLINDED_SETTING, REVEAL_SETTING, AccessDenied, Actor
from rop_desktop.store import Study, repo

from .conftest import PASSWORD, as_actor

W, H = 200, 160
FILES = [  # file, eye, date
    ("v1-od-pole.png", "OD", "2026-03-01"), ("v1-od-temporal.png", "OD", "2026-03-01"),
    ("v1-os-pole.png", "OS", "2026-03-01"),
    ("v2-od-pole.png", "OD", "2026-03-08"), ("v2-od-temporal.png", "OD", "2026-03-08"),
]


@dataclass
class World:
    study: Study
    images: dict[str, int]
    graders: dict[str, Actor]
    judge: Actor
    admin: Actor

    def key(self, name: str) -> ExamKey:
        return ExamService(self.study, self.admin).state(self.images[name]).info.key

    def grade(self, who: str, name: str, values: GradeValues, shapes: tuple[Shape, ...] = ()) -> None:
        service = GradingService(self.study, self.graders[who])
        for shape in shapes:
            service.save_shape(self.images[name], shape)
        service.submit(self.images[name], values)


def g(stage: str, zone: Zone | None = Zone.II, plus: Plus | None = Plus.NORMAL, **more: object) -> GradeValues:
    s = Stage.parse(stage)
    return GradeValues(rop=RopPresence.NO if s is Stage.S0 else RopPresence.YES, stage=s, zone=zone, plus=plus,
                       quality=Quality.GRADABLE, **more)  # type: ignore[arg-type]


def ridge(x0: float, x1: float, y: float = 80.0) -> Shape:
    return Shape(id=new_shape_id(), points=((x0, y - 3), (x1, y - 3), (x1, y + 3), (x0, y + 3)),
                 lesion_type=LesionType.RIDGE, stage=Stage.S2)


@pytest.fixture
def world(tmp_path: Path, _backend: str, fast_hashes: None) -> Iterator[World]:
    src = tmp_path / "src"
    src.mkdir()
    rows = []
    for i, (name, eye, when) in enumerate(FILES):
        img = np.zeros((H, W, 3), np.uint8)
        cv2.circle(img, (W // 2, H // 2), 75, (150, 60 + 20 * i, 50 + 9 * i), -1)
        cv2.imwrite(str(src / name), img)
        rows.append({"file": name, "patient": "P001", "eye": eye, "exam_date": when, "camera": "RetCam 3"})
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    study = Study.create(tmp_path / "study", name="Exam study")
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)
    assert not run_import(study, admin, [src], manifest).failed
    graders = {n: as_actor(create_account(study, admin, f"Dr. {n}")) for n in "AB"}
    judge = as_actor(create_account(study, admin, "Dr. Judge", Role.ADJUDICATOR, password=PASSWORD))
    from rop_desktop.services.identity import original_file_names

    with study.session() as session:
        names = original_file_names(session)
        images = {n: image_id for image_id, ns in names.items() for n in ns if n in dict((f[0], 1) for f in FILES)}
    assert len(images) == len(FILES)
    yield World(study, images, graders, judge, admin)
    study.close()


# ---------------------------------------------------------------------------- landmarks
def test_landmarks_are_stored_versioned_audited_and_refused_off_the_image(world: World) -> None:
    a = LandmarkService(world.study, world.graders["A"])
    image = world.images["v1-od-pole.png"]
    assert a.my_landmarks(image).landmarks == Landmarks() and a.my_landmarks(image).version == 0
    placed = a.save_landmarks(image, Landmarks(disc=(130, 80)), expected_version=0)
    both = a.save_landmarks(image, Landmarks(disc=(130, 80), disc_radius=6, fovea=(100, 80)),
                            expected_version=placed.version)
    assert a.my_landmarks(image).landmarks == Landmarks(disc=(130, 80), disc_radius=6, fovea=(100, 80))
    with pytest.raises(LandmarkConflict) as conflict:
        a.save_landmarks(image, Landmarks(), expected_version=placed.version)   # a stale version: nothing written
    assert conflict.value.current.landmarks == both.landmarks
    with pytest.raises(ValueError, match="must lie on the image"):
        a.save_landmarks(image, Landmarks(disc=(W + 5, 80)))
    a.save_landmarks(image, Landmarks())   # an undo back to nothing clears them
    assert a.my_landmarks(image).landmarks.empty
    with world.study.session() as session:
        actions = [e.action for e in repo.audit_trail(session, "landmarks")]
    assert actions == ["create", "update", "clear"]
    # B's landmarks of the same image are B's own
    assert LandmarkService(world.study, world.graders["B"]).my_landmarks(image).landmarks.empty


def test_zone_suggestion_and_the_graders_decision_are_both_stored(world: World) -> None:
    a = LandmarkService(world.study, world.graders["A"])
    image = world.images["v1-od-pole.png"]
    refused = a.zone_suggestion(image)
    assert refused.zone is None and "Place the optic disc" in refused.reason
    a.save_landmarks(image, Landmarks(disc=(130, 80), fovea=(110, 80)))       # DF 20: zone I up to 40 px
    GradingService(world.study, world.graders["A"]).save_shape(image, ridge(50, 70))  # posterior edge 60 px away
    suggestion = a.zone_suggestion(image)
    assert suggestion.zone is Zone.II and suggestion.distance_df == pytest.approx(60 / 20)
    accepted = a.decide_zone(image, Zone.II)
    assert (accepted.suggested_zone, accepted.zone_decision, accepted.decided_zone) == (Zone.II, "accepted", Zone.II)
    overridden = a.decide_zone(image, Zone.POSTERIOR_II)
    assert (overridden.zone_decision, overridden.decided_zone) == ("overridden", Zone.POSTERIOR_II)
    with world.study.session() as session:
        trail = repo.audit_trail(session, "zone_decision")
    assert [e.action for e in trail] == ["accepted", "overridden"]
    assert trail[-1].after == {"suggested_zone": "II", "zone_decision": "overridden", "decided_zone": "posterior II"}
    # no suggestion, nothing recorded
    other = world.images["v1-os-pole.png"]
    assert a.decide_zone(other, Zone.I).zone_decision is None


def test_another_graders_landmarks_stay_blinded_until_both_submitted(world: World) -> None:
    image = world.images["v1-od-pole.png"]
    LandmarkService(world.study, world.graders["A"]).save_landmarks(image, Landmarks(disc=(130, 80), fovea=(100, 80)))
    b = LandmarkService(world.study, world.graders["B"])
    with pytest.raises(AccessDenied, match="Blinded grading"):
        b.others_landmarks(image)
    world.grade("B", "v1-od-pole.png", g("1"))
    assert b.others_landmarks(image) == {}          # A has not submitted: a draft's landmarks stay A's
    world.grade("A", "v1-od-pole.png", g("1"))
    assert b.others_landmarks(image) == {"Dr. A": Landmarks(disc=(130, 80), fovea=(100, 80))}
    assert "Dr. A" in LandmarkService(world.study, world.judge).others_landmarks(image)


# ---------------------------------------------------------------------------- the eye-level grade
def test_the_exam_view_prefills_from_the_image_grades_and_the_grade_is_stored(world: World) -> None:
    world.grade("A", "v1-od-pole.png", g("1", Zone.II, Plus.PRE_PLUS))
    world.grade("A", "v1-od-temporal.png", g("3", Zone.POSTERIOR_II, Plus.PLUS))
    a = ExamService(world.study, world.graders["A"])
    state = a.state(world.images["v1-od-pole.png"])
    assert [i.name for i in state.info.images] == ["P0001-OD-20260301-001", "P0001-OD-20260301-002"]
    assert {i.status for i in state.info.images} == {"submitted"}
    assert state.info.key.eye is Eye.OD and state.info.title.startswith("P0001 · OD · 2026-03-01")
    assert state.rollup.values.stage is Stage.S3 and state.rollup.values.zone is Zone.POSTERIOR_II
    assert state.rollup.values.plus is Plus.PLUS   # no landmarks: the most severe plus, and it says so
    assert "no posterior-pole image" in state.rollup.sources["plus"]
    assert not state.grade.exists and state.prefill == state.rollup.values
    assert state.classification.klass is TreatmentClass.TREAT
    key = state.info.key
    with pytest.raises(ExamError, match="Stage is not set"):
        a.submit(key, GradeValues(quality=Quality.GRADABLE))
    draft = a.save_draft(key, g("3", Zone.POSTERIOR_II, Plus.PRE_PLUS), expected_version=0)
    assert not draft.submitted
    done = a.submit(key, g("3", Zone.POSTERIOR_II, Plus.PRE_PLUS), expected_version=draft.version)
    assert done.submitted and done.submitted_at is not None
    after = a.state(world.images["v1-od-temporal.png"])   # the same exam from its other image
    assert after.grade.submitted and after.classification.klass is TreatmentClass.FOLLOW_UP  # zone II 3, no plus
    with pytest.raises(ExamGradeConflict):
        a.save_draft(key, g("2"), expected_version=draft.version)
    with world.study.session() as session:
        trail = repo.audit_trail(session, "exam_grade")
    assert [e.action for e in trail] == ["draft", "submit"]
    assert trail[-1].after["eye"] == "OD"


def test_a_grader_sees_others_eye_grades_only_after_their_own_eye_grade_and_every_image(world: World) -> None:
    pole, temporal = world.images["v1-od-pole.png"], world.images["v1-od-temporal.png"]
    key = world.key("v1-od-pole.png")
    world.grade("A", "v1-od-pole.png", g("2"))
    world.grade("A", "v1-od-temporal.png", g("2"))
    ExamService(world.study, world.graders["A"]).submit(key, g("2", Zone.II, Plus.PLUS))
    b = ExamService(world.study, world.graders["B"])
    with pytest.raises(AccessDenied):
        b.others(pole)                                   # nothing submitted
    world.grade("B", "v1-od-pole.png", g("1"))
    with pytest.raises(AccessDenied, match="eye-level grade first"):
        b.others(pole)                                   # one image submitted, no eye-level grade
    b.submit(key, g("1"))
    with pytest.raises(AccessDenied, match="every image of this exam"):
        b.others(pole)                                   # the temporal image is still to do
    with pytest.raises(AccessDenied):
        b.others(temporal)
    world.grade("B", "v1-od-temporal.png", g("1"))
    seen = b.others(pole)
    assert seen == {"Dr. A": (g("2", Zone.II, Plus.PLUS), True)}
    set_study_setting(world.study, world.admin, REVEAL_SETTING, False)
    with pytest.raises(AccessDenied):
        b.others(pole)
    assert "Dr. A" in ExamService(world.study, world.judge).others(pole)   # the adjudicator sees every grade
    set_study_setting(world.study, world.admin, BLINDED_SETTING, False)
    assert b.others(pole)                                 # an unblinded study shows it


def test_a_draft_eye_grade_is_never_shown_to_others(world: World) -> None:
    key = world.key("v1-os-pole.png")
    ExamService(world.study, world.graders["A"]).save_draft(key, g("3", Zone.I))
    world.grade("B", "v1-os-pole.png", g("0", Zone.III))
    ExamService(world.study, world.graders["B"]).submit(key, g("0", Zone.III))
    assert ExamService(world.study, world.graders["B"]).others(world.images["v1-os-pole.png"]) == {}
    assert set(ExamService(world.study, world.judge).others(world.images["v1-os-pole.png"])) == {"Dr. B"}


# ---------------------------------------------------------------------------- progression
def test_progression_flags_worsening_and_the_eye_needs_attention(world: World) -> None:
    world.grade("A", "v1-od-pole.png", g("1", Zone.II, Plus.NORMAL))
    world.grade("A", "v2-od-pole.png", g("2", Zone.II, Plus.PLUS))
    world.grade("A", "v1-os-pole.png", g("1", Zone.III))
    a = ExamService(world.study, world.graders["A"])
    progression = a.progression(world.images["v2-od-pole.png"])
    assert progression.patient == "P0001"
    od = progression.eyes[Eye.OD]
    assert [v.date.isoformat() for v in od] == ["2026-03-01", "2026-03-08"]
    assert od[0].flags == () and od[0].basis == "roll-up of image grades"
    assert "stage 1 → 2" in od[1].flags and "plus disease appeared" in od[1].flags
    assert od[1].classification.klass is TreatmentClass.TREAT
    assert od[1].image_id in od[1].image_ids
    assert len(progression.eyes[Eye.OS]) == 1
    attention = a.needs_attention()
    assert [(x.patient, x.eye) for x in attention] == [("P0001", Eye.OD)]
    assert "now treatment-warranted (Type 1)" in attention[0].reasons
    assert set(attention[0].image_ids) == {world.images["v2-od-pole.png"], world.images["v2-od-temporal.png"]}
    # B graded nothing: B's own list is empty, whatever A found
    assert ExamService(world.study, world.graders["B"]).needs_attention() == []
    # the eye-level grade, once given, is what the visit shows
    a.submit(world.key("v2-od-pole.png"), g("2", Zone.II, Plus.PRE_PLUS))
    again = a.progression(world.images["v1-od-pole.png"]).eyes[Eye.OD]
    assert again[1].basis == "eye grade" and "plus disease appeared" not in again[1].flags


def test_the_reference_progression_is_the_adjudicators(world: World) -> None:
    from rop_desktop.domain.votes import VoteSettings
    from rop_desktop.services.reference import set_vote_settings

    set_vote_settings(world.study, world.admin, VoteSettings(quorum=2))   # two graders settle here
    for who in "AB":
        world.grade(who, "v1-od-pole.png", g("1"))
        world.grade(who, "v2-od-pole.png", g("3", Zone.I))
    judge = ExamService(world.study, world.judge)
    eyes = judge.reference_progression(world.images["v1-od-pole.png"]).eyes
    assert [v.values.stage for v in eyes[Eye.OD]] == [Stage.S1, Stage.S3]
    assert judge.reference_needs_attention()[0].classification.klass is TreatmentClass.TREAT
    with pytest.raises(AccessDenied):
        ExamService(world.study, world.graders["A"]).reference_progression(world.images["v1-od-pole.png"])


# ---------------------------------------------------------------------------- settings and exports
def test_the_vote_level_is_an_admin_setting(world: World) -> None:
    assert exams.vote_level(world.study, world.graders["A"]) == "image"
    with pytest.raises(AccessDenied):
        exams.set_vote_level(world.study, world.judge, "eye")
    with pytest.raises(ExamError, match="must be one of"):
        exams.set_vote_level(world.study, world.admin, "patient")
    exams.set_vote_level(world.study, world.admin, "eye")
    assert exams.vote_level(world.study, world.graders["A"]) == "eye"


def test_exports_hold_eye_grades_classes_and_landmarks(world: World, tmp_path: Path) -> None:
    image = world.images["v1-od-pole.png"]
    world.grade("A", "v1-od-pole.png", g("2", Zone.II, Plus.PLUS), (ridge(50, 70),))
    LandmarkService(world.study, world.graders["A"]).save_landmarks(image, Landmarks(disc=(130, 80), fovea=(110, 80)))
    LandmarkService(world.study, world.graders["A"]).decide_zone(image, Zone.II)
    ExamService(world.study, world.graders["A"]).submit(world.key("v1-od-pole.png"), g("2", Zone.II, Plus.PLUS))
    assert exams.export_exam_grades_csv(world.study, world.judge, tmp_path / "exams.csv") == 1
    row = next(csv.DictReader((tmp_path / "exams.csv").open(encoding="utf-8")))
    assert (row["patient"], row["eye"], row["grader"], row["stage"]) == ("P0001", "OD", "Dr. A", "2")
    assert (row["treatment_class"], row["etrop"]) == ("treatment-warranted", "Type 1")
    assert row["prefilled_stage"] == "2" and "P0001-OD-20260301" in row["images"]
    assert export_landmarks_csv(world.study, world.judge, tmp_path / "landmarks.csv") == 1
    mark = next(csv.DictReader((tmp_path / "landmarks.csv").open(encoding="utf-8")))
    assert (mark["disc_x"], mark["fovea_x"], mark["suggested_zone"], mark["zone_decision"]) == ("130.0", "110.0",
                                                                                                "II", "accepted")
    with pytest.raises(AccessDenied):
        exams.export_exam_grades_csv(world.study, world.graders["A"], tmp_path / "mine.csv")


def test_agreement_on_the_treatment_decision_exam_by_exam(world: World) -> None:
    od1, os1, od2 = world.key("v1-od-pole.png"), world.key("v1-os-pole.png"), world.key("v2-od-pole.png")
    a, b = ExamService(world.study, world.graders["A"]), ExamService(world.study, world.graders["B"])
    a.submit(od1, g("2", Zone.II, Plus.PLUS))           # treat
    b.submit(od1, g("3", Zone.I, Plus.NORMAL))          # treat: same decision, another grade
    a.submit(os1, g("1", Zone.III))                     # routine
    b.submit(os1, g("3", Zone.II, Plus.NORMAL))         # close follow-up
    world.grade("A", "v2-od-pole.png", g("0", Zone.III))  # no eye-level grade: the roll-up of the image grade
    b.submit(od2, g("1", Zone.II))
    report = exams.treatment_agreement(world.study, world.judge)
    (pair,) = report.pairs
    assert (pair.grader_a, pair.grader_b, pair.n_items) == ("Dr. A", "Dr. B", 3)
    assert pair.percent_agreement == pytest.approx(2 / 3)
    assert report.categories == ["routine", "close follow-up", "treatment-warranted"] and report.ordinal
    assert report.fleiss_items == 3 and report.fleiss_kappa is not None
    with pytest.raises(AccessDenied):
        exams.treatment_agreement(world.study, world.graders["A"])


def test_the_worklist_carries_the_class_and_filters_the_eyes_that_need_attention(world: World) -> None:
    from rop_desktop.services.grading import WorklistQuery

    world.grade("A", "v1-od-pole.png", g("1", Zone.II, Plus.NORMAL))
    world.grade("A", "v2-od-pole.png", g("2", Zone.II, Plus.PLUS))     # the right eye worsened: Type 1
    world.grade("A", "v1-os-pole.png", g("1", Zone.III))
    a = GradingService(world.study, world.graders["A"])
    rows = {r.image_id: r for r in a.worklist()}
    assert rows[world.images["v2-od-pole.png"]].treatment.klass is TreatmentClass.TREAT
    assert rows[world.images["v2-od-temporal.png"]].treatment.klass is TreatmentClass.TREAT  # the eye's class
    assert rows[world.images["v1-os-pole.png"]].treatment.klass is TreatmentClass.ROUTINE
    page = a.worklist_page(WorklistQuery(attention=True))
    assert {r.image_id for r in page.rows} == {world.images["v2-od-pole.png"], world.images["v2-od-temporal.png"]}
    assert page.total == 2 and page.submitted == 1
    todo = a.worklist_page(WorklistQuery(status="todo", attention=True))
    assert [r.image_id for r in todo.rows] == [world.images["v2-od-temporal.png"]]
    assert a.worklist_position(WorklistQuery(attention=True), world.images["v2-od-temporal.png"]) == 1
    assert GradingService(world.study, world.graders["B"]).worklist_page(WorklistQuery(attention=True)).total == 0
    # B sees their own classes only: nothing graded, no class
    assert all(r.treatment is None for r in GradingService(world.study, world.graders["B"]).worklist())


def test_the_reference_exports_carry_the_eye_its_class_and_the_landmarks(world: World, tmp_path: Path) -> None:
    from rop_desktop.domain.votes import VoteSettings
    from rop_desktop.services.export import export_reference_csv, export_snapshot
    from rop_desktop.services.reference import set_vote_settings
    from training.snapshot import Snapshot

    set_vote_settings(world.study, world.admin, VoteSettings(quorum=2))
    pole = world.images["v1-od-pole.png"]
    LandmarkService(world.study, world.graders["A"]).save_landmarks(pole, Landmarks(disc=(130, 80), fovea=(110, 80)))
    for who in "AB":
        world.grade(who, "v1-od-pole.png", g("3", Zone.I, Plus.NORMAL))   # zone I stage 3: Type 1 whatever plus
    export_reference_csv(world.study, world.judge, tmp_path / "reference.csv")
    row = next(csv.DictReader((tmp_path / "reference.csv").open(encoding="utf-8")))
    assert (row["treatment_class"], row["etrop"], row["eye_stage"], row["eye_zone"]) == (
        "treatment-warranted", "Type 1", "3", "I")
    assert row["eye_basis"] == "reference standard (images)"
    assert (row["disc_x"], row["disc_y"], row["fovea_x"], row["disc_radius"]) == ("130.0", "80.0", "110.0", "")
    export_snapshot(world.study, world.judge, tmp_path / "snap")
    [record] = Snapshot.load(tmp_path / "snap").records
    assert record.landmarks == {"disc": [129.5, 79.5], "disc_radius": None, "fovea": [109.5, 79.5]}
    assert record.exam is not None and record.exam["treatment_class"] == "treatment-warranted"
    assert record.exam["key"] == "P0001-OD-2026-03-01" and record.exam["grade"]["zone"] == "I"


def test_the_report_section_counts_the_reference_classes(world: World) -> None:
    from rop_desktop.domain.votes import VoteSettings
    from rop_desktop.services.reference import set_vote_settings

    set_vote_settings(world.study, world.admin, VoteSettings(quorum=2))
    for who in "AB":
        world.grade(who, "v1-od-pole.png", g("3", Zone.I, Plus.NORMAL))
        world.grade(who, "v1-os-pole.png", g("0", Zone.III))
    section = exams.treatment_report_section(world.study, world.judge)
    assert section.title == "Treatment classes (ETROP)"
    assert "2 eyes at a visit have a reference" in section.html
    assert "Agreement on the treatment decision" in section.html

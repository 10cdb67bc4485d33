"""Issue 18: the *Needs attention* state kept per eye (``services.attention``) equals the old
computation over the whole study, through every kind of change, and is read at the same cost in
any study.

The study: two patients, both eyes, three weekly visits (the first right-eye visit with two
images). Grader A and B grade image by image (drafts, submits, amendments), place landmarks and
confirm eye-level grades; the votes settle references (quorum 2); an adjudicator decides an
image reference and, once the study votes per eye, an eye-level reference. After every step the
stored lists — A's, B's and the reference's — are compared with the lists worked out the old
way from every visit (:func:`full_attention`, kept here as the reference implementation).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, Role, RopPresence, Stage, Zone
from rop_desktop.domain.progression import needs_attention
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.domain.zones import Landmarks
from rop_desktop.services import accounts, exams
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.attention import attention_exams, rebuild_attention
from rop_desktop.services.exam_reference import ExamReferenceService
from rop_desktop.services.exams import Attention, ExamKey, ExamService, set_vote_level
from rop_desktop.services.grading import GradingService, WorklistQuery
from rop_desktop.services.importer import run_import
from rop_desktop.services.landmarks import LandmarkService
from rop_desktop.services.policy import Actor
from rop_desktop.services.reference import ReferenceService, set_vote_settings
from rop_desktop.store import Study
from rop_desktop.store.schema import EyeAttention, EyeAttentionPending

from .conftest import PASSWORD, as_actor
from .test_worklist_scale import Statements, _plan, _statements_of, make_bulk

W, H = 120, 100
DATES = ("2026-03-01", "2026-03-08", "2026-03-15")


@dataclass
class World:
    study: Study
    images: dict[str, int]  # "P1-OD-0-a" → image id (patient, eye, visit, which image)
    graders: dict[str, Actor]
    judge: Actor
    admin: Actor

    def grade(self, who: str, name: str, values: GradeValues, *, submit: bool = True) -> None:
        service = GradingService(self.study, self.graders[who])
        (service.submit if submit else service.save_draft)(self.images[name], values)

    def key(self, name: str) -> ExamKey:
        return ExamService(self.study, self.admin).state(self.images[name]).info.key


def g(stage: str, zone: Zone | None = Zone.II, plus: Plus | None = Plus.NORMAL) -> GradeValues:
    s = Stage.parse(stage)
    rop = RopPresence.NO if s is Stage.S0 else RopPresence.YES
    return GradeValues(rop=rop, stage=s, zone=zone, plus=plus, quality=Quality.GRADABLE)


@pytest.fixture
def world(tmp_path: Path, _backend: str, fast_hashes: None) -> Iterator[World]:
    src = tmp_path / "src"
    src.mkdir()
    rows, names = [], []
    for p in ("P1", "P2"):
        for eye in ("OD", "OS"):
            for v, when in enumerate(DATES):
                for which in ("ab" if (eye, v) == ("OD", 0) else "a"):
                    name = f"{p}-{eye}-{v}-{which}"
                    img = np.zeros((H, W, 3), np.uint8)
                    cv2.circle(img, (W // 2, H // 2), 45, (150, 60 + 3 * len(names), 50 + 2 * len(names)), -1)
                    cv2.imwrite(str(src / f"{name}.png"), img)
                    rows.append({"file": f"{name}.png", "patient": p, "eye": eye, "exam_date": when})
                    names.append(name)
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    study = Study.create(tmp_path / "study", name="Attention study")
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)
    assert not run_import(study, admin, [src], manifest).failed
    set_vote_settings(study, admin, VoteSettings(quorum=2))
    graders = {n: as_actor(create_account(study, admin, f"Dr. {n}")) for n in "AB"}
    judge = as_actor(create_account(study, admin, "Dr. Judge", Role.ADJUDICATOR, password=PASSWORD))
    from rop_desktop.services.identity import original_file_names

    with study.session() as session:
        found = original_file_names(session)
    images = {n[: -len(".png")]: image_id for image_id, ns in found.items() for n in ns if n[:-4] in names}
    assert len(images) == len(names)
    yield World(study, images, graders, judge, admin)
    study.close()


# ---------------------------------------------------------------------------- the old computation
def full_attention(study: Study, grader_id: int | None) -> list[Attention]:
    """The *Needs attention* list worked out from every visit of the study, as before issue 18's
    kept state: every eye's history rolled up in Python."""
    with study.session() as session:
        visits = (
            exams._reference_visits(session, None) if grader_id is None else exams._own_visits(session, grader_id, None)
        )
        out = []
        for (patient, eye), history in exams._histories(visits).items():
            reasons = needs_attention(history)
            if not reasons:
                continue
            last = [h for h in history if h.visit.values != GradeValues()][-1].visit
            out.append(
                Attention(patient, eye, ExamKey(last.exam_id, eye), last.date, reasons, last.image_ids,
                          last.classification)
            )
    out.sort(key=lambda a: (a.date is None, -(a.date.toordinal() if a.date else 0), a.patient, a.eye.value))
    return out


def check(world: World) -> None:
    """Each stored list (A's, B's, the reference's) equals the old computation, and so do the
    worklist filter's exams."""
    for who in "AB":
        kept = ExamService(world.study, world.graders[who]).needs_attention()
        assert kept == full_attention(world.study, world.graders[who].id), who
        with world.study.session() as session:
            assert attention_exams(session, world.graders[who]) == {(a.key.exam_id, a.eye) for a in kept}
    kept = ExamService(world.study, world.judge).reference_needs_attention()
    assert kept == full_attention(world.study, None)
    with world.study.session() as session:
        assert attention_exams(session, world.judge) == {(a.key.exam_id, a.eye) for a in kept}


def test_the_kept_lists_equal_the_full_computation_through_every_change(world: World) -> None:
    w = world
    check(w)  # nothing graded: nothing listed
    # image grades, visit by visit: P1's right eye worsens, its left eye stays still
    for who in "AB":
        w.grade(who, "P1-OD-0-a", g("1"))
        w.grade(who, "P1-OS-0-a", g("1", Zone.III))
    check(w)
    w.grade("A", "P1-OD-1-a", g("2", Zone.II, Plus.PLUS))  # A alone: Type 1 in A's list only
    w.grade("A", "P1-OS-1-a", g("1", Zone.III), submit=False)  # a draft counts in A's own view
    check(w)
    assert [a.eye for a in ExamService(w.study, w.graders["A"]).needs_attention()] == [Eye.OD]
    w.grade("B", "P1-OD-1-a", g("2", Zone.II, Plus.PLUS))  # the votes settle it: the reference too
    check(w)
    assert ExamService(w.study, w.judge).reference_needs_attention()[0].eye is Eye.OD
    # an amendment takes it back out; a later visit of another patient comes in
    w.grade("A", "P1-OD-1-a", g("1"), submit=False)
    for who in "AB":
        w.grade(who, "P2-OS-0-a", g("0", None, None))
        w.grade(who, "P2-OS-2-a", g("3", Zone.I, Plus.PLUS))
    check(w)
    # landmarks: the posterior-pole image decides plus in the roll-up (P1's first right-eye visit)
    a_marks = LandmarkService(w.study, w.graders["A"])
    w.grade("A", "P1-OD-0-b", g("1", Zone.II, Plus.PLUS))
    a_marks.save_landmarks(w.images["P1-OD-0-a"], Landmarks(disc=(70, 50), disc_radius=5, fovea=(50, 50)))
    check(w)
    # an eye-level grade, confirmed, is the visit's view
    a_exams = ExamService(w.study, w.graders["A"])
    a_exams.submit(w.key("P1-OS-2-a"), g("3", Zone.I, Plus.NORMAL))
    a_exams.save_draft(w.key("P2-OS-2-a"), g("1", Zone.III, Plus.NORMAL))
    check(w)
    # the adjudicator decides an image's reference
    ReferenceService(w.study, w.judge).adjudicate(w.images["P2-OS-2-a"], g("1", Zone.III), expected_version=None)
    check(w)
    # the study votes per eye: the eye-level grades settle eye-level references; one is decided
    set_vote_level(w.study, w.admin, "eye")
    ExamService(w.study, w.graders["B"]).submit(w.key("P1-OS-2-a"), g("3", Zone.I, Plus.NORMAL))
    check(w)
    ExamReferenceService(w.study, w.judge).adjudicate(
        w.key("P1-OS-1-a").exam_id, Eye.OS, g("2", Zone.I, Plus.PLUS), expected_version=0
    )
    check(w)
    # a rebuild (what Recompute votes ends with) writes the same rows
    with w.study.session() as session:
        before = sorted((r.patient_id, r.eye.value, r.grader_id or 0, r.exam_id, r.needs, tuple(r.reasons))
                        for r in session.scalars(select(EyeAttention)))
    rebuild_attention(w.study, w.judge)
    with w.study.session() as session:
        after = sorted((r.patient_id, r.eye.value, r.grader_id or 0, r.exam_id, r.needs, tuple(r.reasons))
                       for r in session.scalars(select(EyeAttention)))
    assert after == before and any(r[4] for r in after)
    check(w)


def test_patients_marked_pending_are_worked_out_by_their_first_reader(world: World) -> None:
    """What the migration leaves an existing study: no rows, every patient pending."""
    for who in "AB":
        world.grade(who, "P1-OD-0-a", g("1"))
        world.grade(who, "P1-OD-2-a", g("3", Zone.I, Plus.PLUS))
    with world.study.session() as session:
        session.query(EyeAttention).delete()
        patients = session.scalars(select(EyeAttention.patient_id).distinct()).all()
        assert patients == []
        from rop_desktop.store.schema import Patient

        for pid in session.scalars(select(Patient.id)):
            for grader in (None, world.graders["A"].id, world.graders["B"].id):
                session.add(EyeAttentionPending(patient_id=pid, grader_id=grader))
    check(world)
    with world.study.session() as session:
        assert session.scalar(select(func.count()).select_from(EyeAttentionPending)) == 0


# ---------------------------------------------------------------------------- the same cost in any study
def _filter_statements(tmp_path: Path, account: Callable[..., Actor], n: int) -> tuple[int, int, list[str]]:
    bulk = make_bulk(tmp_path, account, n, name=f"bulk{n}")  # filled in bulk, past the sessions: rebuilt
    try:
        rebuild_attention(bulk.study, bulk.judge)
        a = GradingService(bulk.study, bulk.graders["A"])
        judge = GradingService(bulk.study, bulk.judge)
        counter = Statements(bulk.study)
        try:
            mine = counter.of(lambda: a.worklist_page(WorklistQuery(attention=True), 0, 20))
            reference = counter.of(lambda: judge.worklist_page(WorklistQuery(attention=True), 0, 20))
        finally:
            counter.close()
        with bulk.study.session() as session:
            listed = len(attention_exams(session, bulk.graders["A"]))
        assert listed > 0  # the bulk study has eyes that worsen
        seen = _statements_of(bulk.study, lambda: a.worklist_page(WorklistQuery(attention=True), 0, 20))
        plans = [_plan(bulk.study, sql, params) for sql, params in seen if "FROM eye_attention" in sql]
        return mine, reference, plans
    finally:
        bulk.study.close()


def test_the_filter_sends_the_same_statements_at_60_and_at_600_images(tmp_path: Path, account) -> None:
    few = _filter_statements(tmp_path, account, 60)
    many = _filter_statements(tmp_path, account, 600)
    assert few[:2] == many[:2], (few[:2], many[:2])
    # the eyes that need attention are read through the partial index (and the pending patients
    # through theirs), never by walking a table
    plans = many[2]
    assert any("ix_eye_attention_grader_id_exam_id" in plan for plan in plans), plans
    assert all("USING INDEX" in plan or "Index" in plan for plan in plans), plans

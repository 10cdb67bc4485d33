"""Eye-level voting (study setting ``votes.level`` = "eye"): the graders' confirmed eye-level grades
settle an eye-level reference per exam, in the confirm's own transaction; disagreements wait in
the eye-level queue for an adjudicator. The study is ``test_exams``' (patient P001, right eye seen
twice, left eye once; graders A and B, an adjudicator)."""

from __future__ import annotations

import pytest

from rop_desktop.domain.etrop import TreatmentClass
from rop_desktop.domain.labels import Eye, Plus, Stage, Zone
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services import exams
from rop_desktop.services.exam_reference import (
    ExamAdjudicationError,
    ExamReferenceConflict,
    ExamReferenceService,
    exam_references_in,
    settle_eye,
)
from rop_desktop.services.exams import ExamService
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.reference import recompute_references, set_vote_settings
from rop_desktop.store import repo

from .test_exams import World, g, world  # noqa: F401 - the fixture

POLE, TEMPORAL = "v1-od-pole.png", "v1-od-temporal.png"


def _eye_level(world: World, **settings: object) -> None:
    set_vote_settings(world.study, world.admin, VoteSettings(quorum=2, **settings))  # type: ignore[arg-type]
    exams.set_vote_level(world.study, world.admin, "eye")


def _refs(world: World) -> dict:
    with world.study.session() as session:
        return exam_references_in(session)


def _confirm(world: World, who: str, values: object, *, images: bool = True) -> None:
    """``who`` grades both images of the right eye's first visit (when ``images``) and confirms the
    eye. The image grades differ between graders: only the eye-level votes settle anything here."""
    if images:
        world.grade(who, POLE, g("1" if who == "A" else "2"))
        world.grade(who, TEMPORAL, g("1" if who == "A" else "2"))
    ExamService(world.study, world.graders[who]).submit(world.key(POLE), values)  # type: ignore[arg-type]


def test_at_image_level_eye_grades_do_not_vote(world: World) -> None:
    set_vote_settings(world.study, world.admin, VoteSettings(quorum=2))
    _confirm(world, "A", g("2", Zone.II, Plus.PLUS))
    _confirm(world, "B", g("2", Zone.II, Plus.PLUS))
    assert _refs(world) == {}


def test_agreeing_confirms_settle_the_eye_in_the_confirms_transaction(world: World) -> None:
    _eye_level(world)
    _confirm(world, "A", g("2", Zone.II, Plus.PLUS, arop=False, extent_clock_hours=3))
    assert _refs(world) == {}                          # one vote of the two needed
    judge = ExamReferenceService(world.study, world.judge)
    assert [(i.patient, i.eye, i.n_votes) for i in judge.insufficient()] == [("P0001", Eye.OD, 1)]
    _confirm(world, "B", g("2", Zone.II, Plus.PLUS, arop=False, extent_clock_hours=5))
    key = world.key(POLE)
    ref = _refs(world)[(key.exam_id, Eye.OD)]
    assert ref.method == "unanimous" and ref.decided_by is None
    assert (ref.values.stage, ref.values.plus, ref.values.arop, ref.values.extent_clock_hours) == (
        Stage.S2, Plus.PLUS, False, 3)                 # extent: the lower median
    assert ref.classification.klass is TreatmentClass.TREAT
    with world.study.session() as session:
        assert [e.action for e in repo.audit_trail(session, "exam_reference")] == ["create"]
    # the reference views read the eye-level reference
    visit = ExamService(world.study, world.judge).reference_progression(world.images[POLE]).eyes[Eye.OD][0]
    assert visit.basis == "reference standard (eye level)" and visit.values.stage is Stage.S2
    # an amendment that breaks the agreement withdraws the vote reference
    ExamService(world.study, world.graders["B"]).save_draft(key, g("3", Zone.I, Plus.PLUS))
    assert _refs(world) == {}
    assert [i.exam_id for i in judge.queue()] == [key.exam_id]


def test_a_confirm_before_the_exams_images_waits_for_recompute(world: World) -> None:
    _eye_level(world)
    _confirm(world, "A", g("1"))
    _confirm(world, "B", g("1"), images=False)          # B may not see the exam's votes yet: nothing written
    assert _refs(world) == {}
    recompute_references(world.study, world.judge)      # the whole-study recompute settles the eyes too
    assert len(_refs(world)) == 1


def test_a_disagreement_is_adjudicated_and_kept(world: World) -> None:
    _eye_level(world)
    _confirm(world, "A", g("3", Zone.II, Plus.PLUS))
    _confirm(world, "B", g("1", Zone.III, Plus.NORMAL))
    judge = ExamReferenceService(world.study, world.judge)
    [item] = judge.queue()
    assert item.status == "needs_adjudication" and item.n_votes == 2 and item.reasons
    assert set(item.image_ids) == {world.images[POLE], world.images[TEMPORAL]}
    case = judge.case(item.exam_id, item.eye)
    assert set(case.votes) == {"Dr. A", "Dr. B"} and case.reference is None and case.version == 0
    with pytest.raises(ExamAdjudicationError, match="Stage is not set"):
        judge.adjudicate(item.exam_id, item.eye, g("3").with_(stage=None))
    state = judge.adjudicate(item.exam_id, item.eye, g("3", Zone.II, Plus.PLUS), comment="ridge with flat neo")
    assert state.method == "adjudicated" and state.decided_by == "Dr. Judge" and state.version == 1
    assert judge.queue() == []
    other = ExamReferenceService(world.study, world.admin)
    with pytest.raises(ExamReferenceConflict) as conflict:
        other.adjudicate(item.exam_id, item.eye, g("1"), expected_version=0)
    assert conflict.value.current is not None and conflict.value.current.method == "adjudicated"
    ExamService(world.study, world.graders["B"]).save_draft(world.key(POLE), g("3", Zone.II, Plus.PLUS))
    assert _refs(world)[(item.exam_id, item.eye)].method == "adjudicated"   # the votes never overwrite it
    with pytest.raises(AccessDenied):
        ExamReferenceService(world.study, world.graders["A"]).queue()


def test_an_arop_tie_goes_to_the_adjudicator_or_to_the_severe_side() -> None:
    votes = {"A": g("3", Zone.I, Plus.PLUS, arop=True), "B": g("3", Zone.I, Plus.PLUS, arop=False)}
    tied = settle_eye(votes, VoteSettings(quorum=2))
    assert tied.status == "needs_adjudication" and "tie on A-ROP" in tied.reasons[-1]
    severe = settle_eye(votes, VoteSettings(quorum=2, tie_rule="severe"))
    assert severe.settled and severe.reference is not None and severe.reference.arop is True

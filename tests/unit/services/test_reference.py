"""The reference standard: votes through recompute, the adjudication queue, cases, adjudication,
audit trail, roles and concurrent adjudicators."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services.accounts import PermissionDenied
from rop_desktop.services.grading import BlindingError, GradingService
from rop_desktop.services.reference import (
    AdjudicationError,
    ConflictError,
    ReferenceService,
    get_vote_settings,
    set_vote_settings,
    settle_images,
)
from rop_desktop.store import Study, repo

from .conftest import UNGRADABLE, HandStudy, grade, rect

YES2, YES1, NO = grade("yes", "2"), grade("yes", "1"), grade("no")


def references(hand: HandStudy) -> dict[int, tuple[str, GradeValues]]:
    with hand.study.session() as session:
        return {r.image_id: (r.method, r.values) for r in repo.list_references(session)}


def test_unanimous_majority_insufficient_and_ungradable_through_recompute(hand: HandStudy) -> None:
    i0, i1, i2, i3 = hand.images[:4]
    hand.votes(i0, YES2, YES2, YES2, YES2)
    hand.votes(i1, NO, NO, NO, YES1)
    hand.votes(i2, YES2, YES2, NO)  # three of the four votes the quorum needs
    hand.votes(i3, UNGRADABLE, UNGRADABLE, UNGRADABLE, NO)
    # every submit settles its image at once (the system, not a person): nothing is left to recompute
    summary = ReferenceService(hand.study, hand.adjudicator).recompute()
    assert summary.examined == len(hand.images)
    assert sorted(summary.unchanged) == sorted([i0, i1, i3]) and summary.insufficient[0] == i2
    assert not summary.created and not summary.updated
    refs = references(hand)
    assert refs[i0] == ("unanimous", GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE,
                                                 zone=None, plus=None))
    assert refs[i1][0] == "majority" and refs[i1][1].rop is RopPresence.NO and refs[i1][1].stage is Stage.S0
    assert refs[i3][0] == "ungradable_majority" and refs[i3][1].quality is Quality.UNGRADABLE
    with hand.study.session() as session:
        detail = repo.reference_for(session, i1).detail
        events = repo.audit_trail(session, "reference")
    assert detail["dissenters"] == ["Dr. D"] and detail["tally"]["rop"] == {"no": 3, "yes": 1}
    assert [e.action for e in events] == ["create"] * 3 and events[0].grader_id is None  # the system
    assert events[0].before is None and events[0].after["method"] == "unanimous"

    again = settle_images(hand.study)  # nothing changed: no rows, no audit events
    assert sorted(again.unchanged) == sorted([i0, i1, i3]) and not again.created and not again.updated
    with hand.study.session() as session:
        assert len(repo.audit_trail(session, "reference")) == 3
    item = ReferenceService(hand.study, hand.adjudicator).insufficient()[0]
    assert (item.image_id, item.n_votes, item.status) == (i2, 3, "insufficient")


@pytest.mark.parametrize(("tie_rule", "expected"), [
    ("adjudicate", None),
    ("severe", ("severity_tiebreak", RopPresence.YES, Stage.S1)),
    ("hospital", ("hospital_tiebreak", RopPresence.NO, Stage.S0)),  # image 3: hospital says "normal"
])
def test_two_two_split_with_each_tie_rule(hand: HandStudy, tie_rule: str,
                                          expected: tuple[str, RopPresence, Stage] | None) -> None:
    set_vote_settings(hand.study, hand.admin, VoteSettings(tie_rule=tie_rule))
    image = hand.images[3]
    hand.votes(image, YES1, YES1, NO, NO)
    service = ReferenceService(hand.study, hand.adjudicator)
    summary = service.recompute()
    if expected is None:
        assert summary.needs_adjudication == [image] and image not in references(hand)
        item = service.queue()[0]
        assert item.image_id == image and item.tally["rop"] == {"no": 2, "yes": 2}
        assert any("2–2 tie on ROP presence" in r for r in item.reasons)
    else:
        method, rop, stage = expected
        got_method, values = references(hand)[image]
        assert (got_method, values.rop, values.stage) == (method, rop, stage)
        assert service.queue() == []


def test_hospital_rule_without_a_usable_diagnosis_goes_to_adjudication(hand: HandStudy) -> None:
    set_vote_settings(hand.study, hand.admin, VoteSettings(tie_rule="hospital"))
    image = hand.images[5]  # no hospital diagnosis
    hand.votes(image, YES1, YES1, NO, NO)
    assert ReferenceService(hand.study, hand.adjudicator).recompute().needs_adjudication == [image]


def test_amended_votes_update_or_withdraw_a_vote_reference(hand: HandStudy) -> None:
    image = hand.images[0]
    hand.votes(image, YES2, YES2, YES2, NO)
    settle_images(hand.study)
    d = GradingService(hand.study, hand.graders["D"])
    d.save_draft(image, YES2)  # amends the submitted grade: now unanimous, settled by the amendment
    assert references(hand)[image][0] == "unanimous"
    assert settle_images(hand.study).unchanged == [image]
    for name in "CD":
        GradingService(hand.study, hand.graders[name]).save_draft(image, NO)  # now 2-2: withdrawn at once
    assert image not in references(hand)
    summary = settle_images(hand.study)
    assert summary.needs_adjudication == [image] and not summary.withdrawn
    with hand.study.session() as session:
        actions = [e.action for e in repo.audit_trail(session, "reference")]
    assert actions == ["create", "update", "update", "withdraw"]  # 4-0, then 3-1 (C), then 2-2 (D)


def test_graders_cannot_open_cases_or_adjudicate(hand: HandStudy) -> None:
    image = hand.images[0]
    hand.votes(image, YES2, YES2, NO, NO)
    hand.submit("A", hand.images[1], NO)
    grader = ReferenceService(hand.study, hand.graders["A"])
    with pytest.raises((PermissionDenied, BlindingError), match="only the adjudicator or admin role"):
        grader.case(hand.images[1 + 1])  # an image Dr. A has not submitted
    with pytest.raises(PermissionDenied):
        grader.case(image)  # even a submitted one: cases are for adjudicators
    for call in (grader.queue, grader.recompute, lambda: grader.consensus_shapes(image),
                 lambda: grader.adjudicate(image, YES2)):
        with pytest.raises(PermissionDenied):
            call()
    assert references(hand) == {}


def test_case_holds_every_grade_polygon_outcome_and_hospital_diagnosis(hand: HandStudy) -> None:
    image = hand.images[0]  # hospital: "stage 2"
    a, b, c = rect(10, 10, 30, 20), rect(10, 10, 30, 20), rect(10, 10, 20, 20)
    hand.votes(image, YES2, YES2, YES1, NO, shapes=[[a], [b], [c]])
    case = ReferenceService(hand.study, hand.adjudicator).case(image)
    assert [g.name for g in case.graders] == ["Dr. A", "Dr. B", "Dr. C", "Dr. D"]
    assert [g.values.stage for g in case.graders] == [Stage.S2, Stage.S2, Stage.S1, Stage.S0]
    assert all(g.submitted for g in case.graders)
    assert [len(g.shapes) for g in case.graders] == [1, 1, 1, 0] and case.graders[0].shapes[0] == a
    assert case.outcome.status == "needs_adjudication"  # rop 3-1 settles, stage 2-1-1 does not
    assert case.hospital_text == "stage 2" and case.hospital.stage is Stage.S2
    assert case.reference is None and case.version == 0 and (case.width, case.height) == (64, 48)
    assert case.outline_iou["Dr. A"]["Dr. B"] == pytest.approx(1.0)
    assert case.outline_iou["Dr. A"]["Dr. C"] == pytest.approx(0.5)


def test_consensus_shapes_by_rule(hand: HandStudy) -> None:
    image = hand.images[0]
    hand.votes(image, YES2, YES2, YES2, NO,
               shapes=[[rect(10, 10, 30, 20)], [rect(10, 10, 30, 20)], [rect(10, 10, 20, 20)]])
    service = ReferenceService(hand.study, hand.adjudicator)
    area = {rule: sum(_area(s) for s in service.consensus_shapes(image, rule))
            for rule in ("majority", "union", "intersection")}
    assert area == {"majority": pytest.approx(100.0), "union": pytest.approx(200.0), "intersection": 0}
    majority = service.consensus_shapes(image)[0]
    assert majority.stage is Stage.S2 and sorted(set(majority.points)) == [(10, 10), (10, 20), (20, 10), (20, 20)]
    with pytest.raises(AdjudicationError, match="not one of"):
        service.consensus_shapes(image, "most")


def _area(shape) -> float:
    from shapely.geometry import Polygon
    return Polygon(shape.points, shape.holes).area


def test_adjudication_with_audit_and_recompute_keeps_it(hand: HandStudy) -> None:
    image = hand.images[2]
    hand.votes(image, YES1, YES1, NO, NO, shapes=[[rect(5, 5, 25, 15, "1")], [rect(6, 5, 25, 15, "1")]])
    settle_images(hand.study)
    judge = ReferenceService(hand.study, hand.adjudicator)
    case = judge.case(image)
    with pytest.raises(AdjudicationError, match="implies ROP present"):
        judge.adjudicate(image, GradeValues(rop=RopPresence.NO, stage=Stage.S1, quality=Quality.GRADABLE))
    with pytest.raises(AdjudicationError, match=r"Dr. C drew no polygon"):
        judge.adjudicate(image, YES1, polygons_from="Dr. C")
    with pytest.raises(AdjudicationError, match="either one grader's polygons or a consensus rule"):
        judge.adjudicate(image, YES1, polygons_from="Dr. A", consensus_rule="union")
    state = judge.adjudicate(image, YES1, polygons_from="Dr. B", comment="ridge visible temporally")
    assert state.method == "adjudicated" and state.decided_by == "Dr. Judge" and state.version > case.version
    assert state.values.comment == "ridge visible temporally"
    assert state.detail["geometry"] == {"source": "grader", "grader": "Dr. B"}
    assert state.detail["vote_outcome"]["status"] == "needs_adjudication"
    with hand.study.session() as session:
        event_ = repo.audit_trail(session, "reference")[-1]
        ref = repo.reference_for(session, image)
    assert (event_.action, event_.grader_id, event_.before) == ("adjudicate", hand.adjudicator.id, None)
    assert event_.after["values"]["stage"] == "1" and ref.decided_by == hand.adjudicator.id

    summary = settle_images(hand.study)  # the votes never overwrite a decision
    assert summary.kept_decisions == [image] and summary.votes_changed_under_decision == []
    assert references(hand)[image][0] == "adjudicated" and judge.queue() == []
    GradingService(hand.study, hand.graders["C"]).save_draft(image, YES1)  # now 3-1 under the decision
    summary = settle_images(hand.study)
    assert summary.votes_changed_under_decision == [image] and references(hand)[image][0] == "adjudicated"


def test_adjudicating_over_a_vote_reference_records_before_and_after(hand: HandStudy) -> None:
    image = hand.images[0]
    hand.votes(image, YES2, YES2, YES2, NO)
    settle_images(hand.study)
    judge = ReferenceService(hand.study, hand.admin)  # admins may adjudicate too
    judge.case(image)
    judge.adjudicate(image, grade("yes", "3"), consensus_rule="union")
    with hand.study.session() as session:
        last = repo.audit_trail(session, "reference")[-1]
    assert last.before["method"] == "majority" and last.before["values"]["stage"] == "2"
    assert last.after["method"] == "adjudicated" and last.after["values"]["stage"] == "3"
    assert last.after["geometry"] == {"source": "consensus", "rule": "union"}


def test_second_adjudicator_gets_a_conflict_with_the_current_state(hand: HandStudy) -> None:
    image = hand.images[3]
    hand.votes(image, YES1, YES1, NO, NO)
    other = Study.open(hand.study.root)  # a second workstation on the same study
    try:
        first = ReferenceService(hand.study, hand.adjudicator)
        second = ReferenceService(other, hand.admin)
        first.case(image)
        second.case(image)
        first.adjudicate(image, YES1)
        with pytest.raises(ConflictError, match="changed since you opened it") as info:
            second.adjudicate(image, NO)
        current = info.value.current
        assert current is not None and current.decided_by == "Dr. Judge" and current.values.rop is RopPresence.YES
        assert references(hand)[image][1].rop is RopPresence.YES
        second.case(image)  # reviewed: now the decision may be changed knowingly
        assert second.adjudicate(image, NO).decided_by == "Admin"
    finally:
        other.close()


def test_the_database_refuses_a_stale_write_between_check_and_update(hand: HandStudy) -> None:
    """Two workstations race on the same instant: the version check in SQL decides."""
    image = hand.images[0]
    hand.votes(image, YES2, YES2, YES2, NO)
    settle_images(hand.study)
    other = Study.open(hand.study.root)
    try:
        first = ReferenceService(hand.study, hand.adjudicator)
        second = ReferenceService(other, hand.admin)
        first.case(image)
        second.case(image)
        raced = []

        @event.listens_for(other.engine, "before_cursor_execute")
        def competitor(conn, cursor, statement, params, context, executemany):
            if statement.startswith("UPDATE reference_standard") and not raced:
                raced.append(first.adjudicate(image, grade("yes", "3")))

        with pytest.raises(ConflictError, match="at the same moment") as info:
            second.adjudicate(image, NO)
        assert raced and info.value.current is not None and info.value.current.values.stage is Stage.S3
        assert references(hand)[image][1].stage is Stage.S3
    finally:
        other.close()


def test_vote_settings_are_stored_and_used(hand: HandStudy) -> None:
    assert get_vote_settings(hand.study) == VoteSettings()
    image = hand.images[0]
    hand.votes(image, YES2, YES2, NO)
    assert settle_images(hand.study).insufficient[0] == image
    set_vote_settings(hand.study, hand.admin, VoteSettings(quorum=3))
    assert settle_images(hand.study).created == [image]


def test_demo_study_queue_and_adjudication(demo_study_dir) -> None:
    from rop_desktop.services.accounts import authenticate
    from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_PASSWORDS

    with Study.open(demo_study_dir) as study:
        judge = ReferenceService(study, authenticate(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR]))
        summary = judge.recompute()
        queue = judge.queue()
        assert [q.image_id for q in queue] == summary.needs_adjudication and queue
        settled = summary.created + summary.updated + summary.unchanged  # the demo ships with majority references
        assert len(settled) + len(queue) + len(summary.insufficient) == summary.examined
        case = judge.case(queue[0].image_id)
        assert len([g for g in case.graders if g.submitted]) == 4 and case.outcome.status == "needs_adjudication"
        shapes = judge.consensus_shapes(case.image_id, "union")
        values = grade("yes", "2") if shapes else grade("no")
        state = judge.adjudicate(case.image_id, values, comment="demo")
        assert state.decided_by == DEMO_ADJUDICATOR and len(judge.queue()) == len(queue) - 1

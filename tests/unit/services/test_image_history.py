"""An image's history (the adjudication view's) is that image's grade and reference events, in the
order they happened, read through the image's own index: never another image's, never the rest of
the trail (issue 15: opening a case costs the same at 100 and at 100,000 images)."""

from __future__ import annotations

from rop_desktop.services.grading import GradingService
from rop_desktop.services.reference import ReferenceService

from .conftest import HandStudy, grade
from .test_worklist_scale import _plan, _statements_of


def test_the_history_lists_this_image_s_grade_and_reference_events_in_order(hand: HandStudy) -> None:
    first, other = hand.images[0], hand.images[1]
    a = GradingService(hand.study, hand.graders["A"])
    a.save_draft(first, grade("yes", "1"))
    a.submit(first, grade("yes", "1"))
    hand.submit("A", other, grade("no"))  # another image's work: never in this history
    for name in "BCD":
        hand.submit(name, first, grade("yes", "1"))
    a.save_draft(first, grade("yes", "2"))  # an amendment after the reference settled
    desk = ReferenceService(hand.study, hand.adjudicator)
    desk.adjudicate(first, grade("yes", "2"))

    events = [(e.entity, e.action, e.actor) for e in desk.history(first)]

    grades = [e for e in events if e[0] == "grade"]
    assert grades == [("grade", "draft", "Dr. A"), ("grade", "submit", "Dr. A"), ("grade", "submit", "Dr. B"),
                      ("grade", "submit", "Dr. C"), ("grade", "submit", "Dr. D"), ("grade", "amend", "Dr. A")]
    references = [e for e in events if e[0] == "reference"]
    assert references[0][1] == "create" and references[-1] == ("reference", "adjudicate", hand.adjudicator.name)
    assert events.index(("grade", "submit", "Dr. D")) < events.index(references[0])  # in time order
    assert [(e.entity, e.action) for e in desk.history(other)] == [("grade", "submit")]


def test_the_history_reads_the_image_s_index_not_the_trail(hand: HandStudy) -> None:
    hand.votes(hand.images[0], grade("yes", "1"), grade("yes", "1"), grade("no"), grade("no"))
    desk = ReferenceService(hand.study, hand.adjudicator)
    mine = [(sql, p) for sql, p in _statements_of(hand.study, lambda: desk.history(hand.images[0]))
            if "audit_events" in sql]
    assert len(mine) == 1
    sql, params = mine[0]
    assert "ix_audit_events_image_id_at" in _plan(hand.study, sql, params), sql

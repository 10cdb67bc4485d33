"""Issue 15: a page of the adjudication queue reads the tallies its images' last settle kept.

The settle after a submit keeps each open image's vote tally, reasons and dissenters in
``queue_tallies`` with the marks of the votes and the rules they came from; a queue page reads
them back instead of settling every row again, and works a row out again only when its votes or
the rules changed behind the settle's back. Each test compares the queue with the votes settled
here by ``domain.votes.settle_votes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select, text

from rop_desktop.domain.votes import VoteSettings, settle_votes
from rop_desktop.services.reference import VOTE_SETTINGS_KEY, ReferenceService, get_vote_settings
from rop_desktop.services.reference import submitted_votes as reference_votes
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import QueueTally

from .conftest import HandStudy, grade


def _kept(study: Study) -> dict[int, dict[str, Any]]:
    with study.session() as session:
        return {row.image_id: dict(row.detail) for row in session.scalars(select(QueueTally))}


def _expected(study: Study, image_id: int) -> dict[str, Any]:
    with study.session() as session:
        votes = {name: v for name, (_, v) in reference_votes(session, [image_id]).get(image_id, {}).items()}
    outcome = settle_votes(votes, get_vote_settings(study))
    return {"status": outcome.status, "tally": outcome.tally, "reasons": list(outcome.reasons),
            "dissenters": list(outcome.dissenters)}


def _grade_reads(study: Study, call: Callable[[], Any]) -> list[str]:
    """The statements ``call`` sends that read the grade values (what re-tallying needs)."""
    seen: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "grades.rop" in statement:
            seen.append(statement)

    event.listen(study.engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        event.remove(study.engine, "before_cursor_execute", keep)
    return seen


def _split(hand: HandStudy) -> tuple[int, int, int]:
    """Image 0: 2-2 (to decide); image 1: one vote (too few); image 2: 4-0 (settled)."""
    a, b, c = hand.images[:3]
    hand.votes(a, grade("yes", "2"), grade("yes", "2"), grade("no"), grade("no"))
    hand.submit("A", b, grade("yes", "1"))
    hand.votes(c, grade("no"), grade("no"), grade("no"), grade("no"))
    return a, b, c


def test_the_settle_keeps_the_tally_of_each_open_image_and_a_page_reads_it(hand: HandStudy) -> None:
    to_decide, too_few, settled = _split(hand)
    kept = _kept(hand.study)
    assert kept[to_decide] == _expected(hand.study, to_decide) and kept[to_decide]["status"] == "needs_adjudication"
    assert kept[too_few] == _expected(hand.study, too_few) and kept[too_few]["status"] == "insufficient"
    assert settled not in kept  # settled by the votes: no row
    judge = ReferenceService(hand.study, hand.adjudicator)
    reads = _grade_reads(hand.study, lambda: (judge.queue(), judge.insufficient()))
    assert reads == []  # read back, not re-tallied
    [item] = [q for q in judge.queue() if q.image_id == to_decide]
    assert (item.n_votes, item.tally, list(item.reasons), list(item.dissenters)) == (
        4, kept[to_decide]["tally"], kept[to_decide]["reasons"], kept[to_decide]["dissenters"])
    assert [q.n_votes for q in judge.insufficient() if q.image_id == too_few] == [1]


def test_a_decision_drops_the_kept_tally_and_a_new_vote_replaces_it(hand: HandStudy) -> None:
    to_decide, too_few, _ = _split(hand)
    judge = ReferenceService(hand.study, hand.adjudicator)
    judge.adjudicate(to_decide, grade("yes", "2"), expected_version=0)
    assert to_decide not in _kept(hand.study)
    hand.submit("B", too_few, grade("no"))
    assert _kept(hand.study)[too_few] == _expected(hand.study, too_few)
    assert _kept(hand.study)[too_few]["tally"]["rop"] == {"yes": 1, "no": 1}


def test_votes_changed_behind_the_settle_are_worked_out_again_when_read(hand: HandStudy) -> None:
    """A vote whose row changed without a settle (another tool, a workstation that could not
    write the tally): its marks no longer match, so the page settles that row again."""
    to_decide, _, _ = _split(hand)
    with hand.study.session() as session:  # D now says yes, stage 3: ROP 3-1, stage 2-1-1 (open still)
        session.execute(text("UPDATE grades SET rop = 'yes', stage = '3', version_id = version_id + 1 "
                             "WHERE image_id = :i AND grader_id = :g"), {"i": to_decide, "g": hand.graders["D"].id})
    judge = ReferenceService(hand.study, hand.adjudicator)
    fresh = _expected(hand.study, to_decide)
    assert fresh["status"] == "needs_adjudication" and fresh["tally"] != _kept(hand.study)[to_decide]["tally"]
    [listed] = [q for q in judge.queue(limit=None) if q.image_id == to_decide]
    assert (listed.tally, list(listed.reasons)) == (fresh["tally"], fresh["reasons"])
    assert _grade_reads(hand.study, judge.queue)  # that row was re-tallied


def test_new_rules_without_a_recompute_are_worked_out_again_when_read(hand: HandStudy) -> None:
    _, too_few, _ = _split(hand)
    judge = ReferenceService(hand.study, hand.adjudicator)
    assert too_few in [q.image_id for q in judge.insufficient(limit=None)]
    with hand.study.session() as session:
        repo.set_setting(session, VOTE_SETTINGS_KEY, VoteSettings(quorum=1).as_dict())  # no recompute
    listed = judge.insufficient(limit=None)
    assert too_few not in [q.image_id for q in listed]  # one vote is a quorum now (it settles it)
    assert all(q.n_votes == 0 for q in listed)
    assert _grade_reads(hand.study, judge.insufficient)

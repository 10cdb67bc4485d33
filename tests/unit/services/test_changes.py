"""The change feed: edits made through another connection ("another workstation") are reported.

Runs on SQLite (a poll of the audit trail) and, with ``ROP_TEST_DB=postgresql``, on PostgreSQL
(LISTEN/NOTIFY from the trigger of migration 0002, plus the catch-up after a lost connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import text

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services.changes import Change, ChangeFeed, ChangeFeedError, parse_payload
from rop_desktop.services.grading import GradingService
from rop_desktop.services.importer import run_import
from rop_desktop.store import Study

GOOD = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
WAIT = 5.0  # seconds a PostgreSQL notification may take to arrive (it comes in milliseconds)


@pytest.fixture
def two_desks(tmp_path: Path, account) -> Iterator[tuple[Study, Study, list[int]]]:
    """One study opened twice: two workstations on one database."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        img = np.zeros((40, 48, 3), np.uint8)
        cv2.circle(img, (24, 20), 16, (150, 80 + 30 * i, 60), -1)
        cv2.imwrite(str(src / f"{i}.png"), img)
    here = Study.create(tmp_path / "study")
    run_import(here, account(here, "Admin", "admin"), [src])
    there = Study.open(tmp_path / "study")
    ids = [row.image_id for row in GradingService(here, account(here, "Dr. Here")).worklist()]
    yield here, there, ids
    there.close()
    here.close()


def test_reports_edits_made_elsewhere_once_and_in_order(two_desks: tuple[Study, Study, list[int]], account) -> None:
    here, there, images = two_desks
    feed = ChangeFeed(here)
    try:
        assert feed.poll() == []  # nothing since the feed was made
        other = GradingService(there, account(there, "Dr. There"))
        grade = other.save_draft(images[0], GOOD)
        assert grade.exists
        shape = Shape(id=new_shape_id(), points=((1, 1), (9, 1), (9, 9)), lesion_type=LesionType.RIDGE,
                      stage=Stage.S2)
        other.save_shape(images[1], shape)
        other.submit(images[0], GOOD)
        changes = _collect(feed, 3)
        assert [c.entity for c in changes] == ["grade", "annotation", "grade"]
        assert changes[2].entity_id == changes[0].entity_id  # the same grade, drafted then submitted
        assert [c.event_id for c in changes] == sorted(c.event_id for c in changes)
        assert feed.poll() == []  # each change is reported once
    finally:
        feed.close()


def test_a_workstation_is_not_told_about_its_own_edits(two_desks: tuple[Study, Study, list[int]],
                                                       account) -> None:
    """Issue 15: the window reacted to its own submit as to another workstation's and rebuilt its
    worklist after every click. Edits made through this open study (and the settlement a submit
    triggers) are left out; those of another connection are reported; ``own=True`` reports both."""
    here, there, images = two_desks
    feed, everything = ChangeFeed(here), ChangeFeed(here, own=True)
    try:
        mine = GradingService(here, account(here, "Dr. Here"))
        mine.save_draft(images[0], GOOD)
        mine.submit(images[0], GOOD)  # settles the image too: a reference event of the system
        with here.engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # nothing written: nothing reported
        assert _collect(feed, 1) == []
        GradingService(there, account(there, "Dr. There")).save_draft(images[1], GOOD)
        theirs = _collect(feed, 1)
        assert [c.entity for c in theirs] == ["grade"]
        assert [c.entity for c in _collect(everything, 3)] == ["grade", "grade", "grade"]  # own too, in order
        # a rolled-back edit leaves no event behind to confuse with someone else's later one
        with pytest.raises(RuntimeError), here.session() as session:
            from rop_desktop.store import repo

            repo.add_audit(session, "grade", 999, "draft")
            raise RuntimeError("the edit fails after its audit row was written")
        GradingService(there, account(there, "Dr. There")).submit(images[1], GOOD)
        assert [c.entity for c in _collect(feed, 1)] == ["grade"]
    finally:
        feed.close()
        everything.close()


def test_sqlite_feed_polls_without_listening(two_desks: tuple[Study, Study, list[int]]) -> None:
    here, _there, _images = two_desks
    feed = ChangeFeed(here)
    assert feed.listening is (here.backend == "postgresql")
    feed.close()


def test_postgresql_feed_reconnects_and_catches_up(two_desks: tuple[Study, Study, list[int]], account) -> None:
    here, there, images = two_desks
    if here.backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    feed = ChangeFeed(here)
    try:
        pid = feed._listener.info.backend_pid
        with there.engine.connect() as conn:  # the server drops the feed's connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        other = GradingService(there, account(there, "Dr. There"))
        other.save_draft(images[1], GOOD)  # committed while nobody listened
        with pytest.raises(ChangeFeedError, match="lost the change notifications"):
            feed.poll(timeout=WAIT)
        assert not feed.listening
        caught_up = feed.poll()  # reconnects and reads what it missed from the audit trail
        assert feed.listening
        assert [c.entity for c in caught_up] == ["grade"]
        other.submit(images[1], GOOD)
        assert [c.entity for c in feed.poll(timeout=WAIT)] == ["grade"]
    finally:
        feed.close()


def test_postgresql_trigger_comes_with_the_schema(two_desks: tuple[Study, Study, list[int]]) -> None:
    here, _there, _images = two_desks
    with here.engine.connect() as conn:
        if here.backend == "postgresql":
            triggers = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
            assert triggers == ["audit_events_notify"]
        else:
            assert conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all() == []


@pytest.mark.parametrize("payload, change", [
    ("grade:12:40", Change("grade", 12, 40)),
    ("reference:3:7", Change("reference", 3, 7)),
    ("grade:12", None), (":1:2", None), ("grade:x:2", None), ("", None),
])
def test_parse_payload(payload: str, change: Change | None) -> None:
    assert parse_payload(payload) == change


def _collect(feed: ChangeFeed, at_most: int) -> list[Change]:
    """Poll until ``at_most`` changes came or a poll waited ``WAIT`` seconds for nothing."""
    changes: list[Change] = []
    while len(changes) < at_most:
        more = feed.poll(timeout=WAIT)
        if not more:
            break
        changes += more
    return changes

"""Issue 17 item 3: the footer's totals (to do / drafts / submitted for the whole study, whatever
the list's filter) are ONE statement that walks indexes, at 50 and at 2,000 images alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from rop_desktop.services.grading import GradingService, WorklistQuery
from rop_desktop.services.policy import Actor
from rop_desktop.store import Study
from rop_desktop.store.repo import worklist as lists
from rop_desktop.store.schema import Exam, Grade, Image, Patient
from rop_desktop.store.types import utcnow


def _bulk(root: Path, account: Callable[..., Actor], n: int) -> tuple[Study, Actor, Actor]:
    """``n`` images (rows only) of which "Me" submitted every 3rd and started a draft of every 7th
    not submitted; "Other" submitted them all."""
    study = Study.create(root)
    me, other = account(study, "Me"), account(study, "Other")
    now = utcnow()
    with study.engine.begin() as conn:
        conn.execute(Patient.__table__.insert(), [{"id": 1, "code": "P1", "created_at": now}])
        conn.execute(Exam.__table__.insert(), [{"id": 1, "patient_id": 1}])
        conn.execute(Image.__table__.insert(), [
            {"id": i, "exam_id": 1, "file": f"{i}.png", "original_name": f"{i}.png", "sha256": f"{i:064x}",
             "width": 8, "height": 8, "format": "png", "imported_at": now, "bytes": 1} for i in range(1, n + 1)])
        grades = [{"image_id": i, "grader_id": who, "rop": "no", "stage": "0", "quality": "gradable", "comment": "",
                   "submitted": done, "submitted_at": now if done else None, "created_at": now, "updated_at": now,
                   "version_id": 1}
                  for i in range(1, n + 1)
                  for who, done in ((me.id, i % 3 == 0), (other.id, True))
                  if who == other.id or i % 3 == 0 or i % 7 == 0]
        conn.execute(Grade.__table__.insert(), grades)
    return study, me, other


def _statements(study: Study, call: Callable[[], Any]) -> tuple[int, Any]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(study.engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(study.engine, "before_cursor_execute", count)
    return len(seen), result


def test_my_totals_are_one_statement_at_any_study_size_and_ignore_the_filter(tmp_path: Path, account) -> None:
    calls: list[int] = []
    for n in (50, 2000):
        study, me, _other = _bulk(tmp_path / f"s{n}", account, n)
        try:
            service = GradingService(study, me)
            submitted = n // 3
            drafts = sum(1 for i in range(1, n + 1) if i % 7 == 0 and i % 3 != 0)
            with study.session() as session:
                statements, totals = _statements(study, lambda s=session, g=me.id: lists.grader_totals(s, g))
            assert statements == 1  # the query itself
            statements, served = _statements(study, service.my_totals)
            calls.append(statements)  # with the access check of the guarded call
            assert served == totals
            assert (totals.images, totals.todo, totals.drafts, totals.submitted) == (n, n - submitted, drafts, submitted)
            for status in (None, "todo", "draft", "submitted"):  # every list carries the same totals
                assert service.worklist_page(WorklistQuery(status=status), 0, 10).totals == totals
        finally:
            study.close()
    assert calls[0] == calls[1]  # the same statements at 50 and at 2,000 images


@pytest.mark.sqlite_only("reads the plan with SQLite's EXPLAIN QUERY PLAN")
def test_the_totals_walk_the_graders_own_index(tmp_path: Path, account) -> None:
    study, me, _other = _bulk(tmp_path / "plan", account, 300)
    try:
        captured: list[tuple[str, Any]] = []

        def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
            captured.append((statement, parameters))

        with study.session() as session:
            event.listen(study.engine, "before_cursor_execute", keep)
            try:
                lists.grader_totals(session, me.id)
            finally:
                event.remove(study.engine, "before_cursor_execute", keep)
            ((statement, parameters),) = captured
            sqlite = session.connection().connection.driver_connection
            plan = [str(row[-1]) for row in sqlite.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
        grades = [step for step in plan if "grades" in step]
        assert len(grades) == 2 and all("ix_grades_grader_id_submitted_image_id" in step for step in grades), plan
    finally:
        study.close()

"""``copy_study`` / ``rop-desktop study copy``: a study survives SQLite → server → SQLite intact.

On ``ROP_TEST_DB=postgresql`` the hand study and the middle copy live on PostgreSQL, so the
round trip is PostgreSQL → SQLite → PostgreSQL; on SQLite the "server" is an SQLite URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import URL

from rop_desktop.cli import run
from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import create_grader
from rop_desktop.services.reference import ReferenceService
from rop_desktop.services.study_copy import StudyCopyError, copy_study
from rop_desktop.store import Study, StudyExistsError
from rop_desktop.store.db import make_engine
from rop_desktop.store.models import Base

from .conftest import HandStudy, grade, rect


def _server_url(fresh_db_url: Callable[[], URL | None], tmp_path: Path, name: str) -> URL:
    url = fresh_db_url()
    if url is None:
        (tmp_path / f"{name}-db").mkdir()
        url = URL.create("sqlite+pysqlite", database=str(tmp_path / f"{name}-db" / "db.sqlite"))
    return url


def _dump(study: Study) -> dict[str, list[tuple[Any, ...]]]:
    with study.engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables}


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("images", "models", "cache") for p in (root / sub).rglob("*") if p.is_file()}


@pytest.fixture
def graded(hand: HandStudy) -> HandStudy:
    """The hand study with votes, polygons, an adjudication and a cached file."""
    a, b = hand.images[0], hand.images[1]
    hand.votes(a, grade("yes", "2"), grade("yes", "2"), grade("no"), grade("yes", "3"),
               shapes=[[rect(5, 5, 20, 20)], [rect(6, 6, 22, 18, "3")]])
    hand.votes(b, grade("no"), grade("yes", "1"), grade("no"), grade("yes", "1"))
    ReferenceService(hand.study, hand.adjudicator).adjudicate(b, grade("yes", "1"), comment="copy test")
    (hand.study.cache_dir / "notes").mkdir()
    (hand.study.cache_dir / "notes" / "x.png").write_bytes(b"thumbnail")
    return hand


def test_round_trip_through_another_backend_keeps_every_row_and_file(
        graded: HandStudy, tmp_path: Path, fresh_db_url: Callable[[], URL | None], study_redirect: Any) -> None:
    original = graded.study
    with study_redirect.paused():
        first = copy_study(original.root, tmp_path / "as-sqlite")
    server = _server_url(fresh_db_url, tmp_path, "second")
    second = copy_study(tmp_path / "as-sqlite", tmp_path / "on-server", dst_url=server)
    assert (tmp_path / "as-sqlite" / "study.sqlite").is_file()
    assert (tmp_path / "on-server" / "study.server").is_file()
    assert first.rows == second.rows and first.rows["grades"] == 8 and first.rows["annotations"] == 2
    with Study.open(tmp_path / "as-sqlite") as middle, Study.open(tmp_path / "on-server") as last:
        assert _dump(middle) == _dump(original) == _dump(last)
        assert last.name == original.name == "Hand study"
        assert last.url.database == server.database
    assert _files(tmp_path / "as-sqlite") == _files(original.root) == _files(tmp_path / "on-server")
    assert "cache/notes/x.png" in _files(original.root)


def test_the_copy_takes_new_rows_after_the_copied_ids(
        graded: HandStudy, tmp_path: Path, fresh_db_url: Callable[[], URL | None]) -> None:
    copy_study(graded.study.root, tmp_path / "copy", dst_url=_server_url(fresh_db_url, tmp_path, "copy"))
    with Study.open(tmp_path / "copy") as copy:
        newcomer = create_grader(copy, graded.admin, "Dr. New", Role.GRADER)
    assert newcomer.id == max([*graded.graders.values(), graded.adjudicator, graded.admin]) + 1


def test_a_failed_copy_leaves_nothing_behind(
        graded: HandStudy, tmp_path: Path, fresh_db_url: Callable[[], URL | None]) -> None:
    (graded.study.models_dir / "dangling").symlink_to(tmp_path / "nowhere")  # the file copy fails
    server = _server_url(fresh_db_url, tmp_path, "failed")
    with pytest.raises(StudyCopyError, match=r"not copied: cannot copy 1 file of models/ \(first: .*dangling: .*No such file"):
        copy_study(graded.study.root, tmp_path / "copy", dst_url=server)
    assert not (tmp_path / "copy").exists()
    engine = make_engine(server)
    assert inspect(engine).get_table_names() == []  # the server database is empty again
    engine.dispose()


def test_an_occupied_destination_is_refused(graded: HandStudy, tmp_path: Path,
                                            fresh_db_url: Callable[[], URL | None]) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StudyCopyError, match="new or empty folder"):
        copy_study(graded.study.root, tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    server = _server_url(fresh_db_url, tmp_path, "taken")
    copy_study(graded.study.root, tmp_path / "first", dst_url=server)
    with pytest.raises(StudyExistsError, match="already holds a study"):
        copy_study(graded.study.root, tmp_path / "second", dst_url=server)


def test_cli_study_copy(graded: HandStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["study", "copy", str(graded.study.root), str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "grades: 8 rows" in out and "images/: 8 files" in out
    assert run(["study", "copy", str(graded.study.root), str(tmp_path / "c")]) == 1
    assert "new or empty folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run(["study", "copy", str(graded.study.root)])
    assert exc.value.code == 2


def test_cli_study_create(tmp_path: Path, fresh_db_url: Callable[[], URL | None],
                          capsys: pytest.CaptureFixture[str]) -> None:
    url = _server_url(fresh_db_url, tmp_path, "created")
    assert run(["study", "create", str(tmp_path / "new"), "--db-url", str(url.render_as_string(False)),
                "--name", "ROP 2026"]) == 0
    with Study.open(tmp_path / "new") as study:
        assert study.name == "ROP 2026" and study.url.database == url.database
    assert run(["study", "create", str(tmp_path / "new")]) == 1
    assert "already holds a study" in capsys.readouterr().err

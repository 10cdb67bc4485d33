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
from rop_desktop.services.accounts import create_account, list_accounts, sign_in
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.reference import ReferenceService
from rop_desktop.services.study_copy import StudyCopyError, copy_study
from rop_desktop.store import Study, StudyExistsError, pg_roles
from rop_desktop.store.db import make_engine
from rop_desktop.store.schema import Base

from .conftest import PASSWORD, HandStudy, grade, rect


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
        first = copy_study(original, graded.admin, tmp_path / "as-sqlite")
    server = _server_url(fresh_db_url, tmp_path, "second")
    with Study.open(tmp_path / "as-sqlite") as middle:  # same accounts, same ids: the same admin
        second = copy_study(middle, graded.admin, tmp_path / "on-server", dst_url=server)
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
    copy_study(graded.study, graded.admin, tmp_path / "copy", dst_url=_server_url(fresh_db_url, tmp_path, "copy"))
    with Study.open(tmp_path / "copy") as copy:
        assert sign_in(copy, "Admin", PASSWORD).id == graded.admin.id  # passwords travel with the accounts
        newcomer = create_account(copy, graded.admin, "Dr. New", Role.GRADER)
    assert newcomer.id == max(a.id for a in [*graded.graders.values(), graded.adjudicator, graded.admin]) + 1


def test_a_failed_copy_leaves_nothing_behind(
        graded: HandStudy, tmp_path: Path, fresh_db_url: Callable[[], URL | None]) -> None:
    (graded.study.models_dir / "dangling").symlink_to(tmp_path / "nowhere")  # the file copy fails
    server = _server_url(fresh_db_url, tmp_path, "failed")
    with pytest.raises(StudyCopyError, match=r"not copied: cannot copy 1 file of models/ \(first: .*dangling: .*No such file"):
        copy_study(graded.study, graded.admin, tmp_path / "copy", dst_url=server)
    assert not (tmp_path / "copy").exists()
    engine = make_engine(server)
    assert inspect(engine).get_table_names() == []  # the server database is empty again
    engine.dispose()


def test_an_occupied_destination_is_refused(graded: HandStudy, tmp_path: Path,
                                            fresh_db_url: Callable[[], URL | None]) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StudyCopyError, match="new or empty folder"):
        copy_study(graded.study, graded.admin, tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    server = _server_url(fresh_db_url, tmp_path, "taken")
    copy_study(graded.study, graded.admin, tmp_path / "first", dst_url=server)
    with pytest.raises(StudyExistsError, match="already holds a study"):
        copy_study(graded.study, graded.admin, tmp_path / "second", dst_url=server)


def test_only_an_admin_copies_a_study(graded: HandStudy, tmp_path: Path) -> None:
    for who in (graded.adjudicator, graded.graders["A"]):
        with pytest.raises(AccessDenied, match="only the admin role may copy the whole study"):
            copy_study(graded.study, who, tmp_path / "stolen")
    assert not (tmp_path / "stolen").exists()


def test_cli_study_copy(graded: HandStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    src = str(graded.study.root)
    monkeypatch.setenv("ROP_DESKTOP_PASSWORD", PASSWORD)
    assert run(["study", "copy", src, str(tmp_path / "c"), "--as", "Dr. Judge"]) == 2
    assert "only the admin role" in capsys.readouterr().err and not (tmp_path / "c").exists()
    assert run(["study", "copy", src, str(tmp_path / "c")]) == 2
    assert "--as NAME" in capsys.readouterr().err
    assert run(["study", "copy", src, str(tmp_path / "c"), "--as", "Admin"]) == 0
    out = capsys.readouterr().out
    assert "grades: 8 rows" in out and "images/: 8 files" in out
    assert run(["study", "copy", src, str(tmp_path / "c"), "--as", "Admin"]) == 1
    assert "new or empty folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run(["study", "copy", src])
    assert exc.value.code == 2


def test_cli_study_create(tmp_path: Path, fresh_db_url: Callable[[], URL | None], capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    url = _server_url(fresh_db_url, tmp_path, "created")
    target = str(tmp_path / "new")
    created = ["study", "create", target, "--db-url", str(url.render_as_string(False)), "--name", "ROP 2026"]
    assert run(created) == 2  # no --admin: nothing made
    assert "--admin NAME" in capsys.readouterr().err and not (tmp_path / "new").exists()
    monkeypatch.setenv("ROP_DESKTOP_PASSWORD", "short")
    assert run([*created, "--admin", "Boss"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err and not (tmp_path / "new").exists()
    monkeypatch.setenv("ROP_DESKTOP_PASSWORD", PASSWORD)
    assert run([*created, "--admin", "Boss"]) == 0
    request.addfinalizer(lambda: _drop_database_roles(tmp_path / "new"))  # PostgreSQL: the admin's role
    with Study.open(tmp_path / "new") as study:
        assert study.name == "ROP 2026" and study.url.database == url.database
        assert sign_in(study, "Boss", PASSWORD).role is Role.ADMIN
    assert run(["study", "create", target, "--admin", "Intruder"]) == 2  # it has an admin already
    assert "already holds a study with an admin" in capsys.readouterr().err
    with Study.open(tmp_path / "new") as study:
        assert [a.name for a in list_accounts(study, sign_in(study, "Boss", PASSWORD))] == ["Boss"]


def _drop_database_roles(folder: Path) -> None:
    """Roles outlive a test's database: drop those ``study create`` made (PostgreSQL only)."""
    with Study.open(folder) as study:
        if study.backend == "postgresql":
            with study.engine.begin() as conn:
                pg_roles.drop_study_roles(conn)

"""A study whose database is named by a URL (``study.server``): the shared-study layout.

These run on both backends: with ``ROP_TEST_DB=postgresql`` the URL is a fresh PostgreSQL
database, otherwise an SQLite file outside the study folder (still a URL, still ``study.server``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm.exc import StaleDataError

from rop_desktop.store import Study, StudyExistsError, StudyOpenError, StudyTooNewError, migrate
from rop_desktop.store.db import make_engine, make_session_factory, without_password
from rop_desktop.store.schema import Grade
from rop_desktop.store.study import SERVER_FILE, read_server_file, write_server_file
from rop_desktop.store.types import utcnow


@pytest.fixture
def db_url(fresh_db_url: Callable[[], URL | None], tmp_path: Path) -> URL:
    """An empty database named by URL: PostgreSQL on that backend, else an SQLite file elsewhere."""
    url = fresh_db_url()
    if url is None:
        url = URL.create("sqlite+pysqlite", database=str(tmp_path / "elsewhere" / "db.sqlite"))
        (tmp_path / "elsewhere").mkdir()
    return url


def test_a_server_study_is_found_again_through_its_folder(tmp_path: Path, db_url: URL) -> None:
    root = tmp_path / "shared"
    with Study.create(root, name="Shared", url=db_url) as study:
        assert study.url.database == db_url.database
    assert not (root / "study.sqlite").exists()
    assert read_server_file(root) == without_password(db_url)
    with Study.open(root) as again, Study.open(root / SERVER_FILE) as third:
        assert again.name == third.name == "Shared"
        assert again.backend == db_url.get_backend_name()
    with Study.open_or_create(root, name="ignored") as opened:
        assert opened.name == "Shared"


def test_the_server_file_never_holds_a_password(tmp_path: Path) -> None:
    write_server_file(tmp_path, "postgresql+psycopg://grader:s3cret@db.example/rop?sslmode=prefer&password=s3cret")
    content = (tmp_path / SERVER_FILE).read_text(encoding="utf-8")
    assert content == "postgresql+psycopg://grader@db.example/rop?sslmode=prefer\n"
    assert "s3cret" not in content


def test_a_server_file_without_a_url_is_refused(tmp_path: Path) -> None:
    (tmp_path / SERVER_FILE).write_text("my database\n", encoding="utf-8")
    with pytest.raises(StudyOpenError, match="does not hold a database URL"):
        Study.open(tmp_path)


def test_create_refuses_a_database_that_already_holds_a_study(tmp_path: Path, db_url: URL) -> None:
    Study.create(tmp_path / "a", url=db_url).close()
    with pytest.raises(StudyExistsError, match="already holds a study"):
        Study.create(tmp_path / "b", url=db_url)
    assert not (tmp_path / "b").exists()


def test_open_refuses_an_empty_database(tmp_path: Path, db_url: URL) -> None:
    (tmp_path / "s").mkdir()
    with pytest.raises(StudyOpenError, match="holds no ROP Desktop study"):
        Study.open(tmp_path / "s", url=db_url)
    assert inspect(make_engine(db_url)).get_table_names() == []  # nothing created


def test_a_folder_with_two_databases_is_ambiguous(tmp_path: Path, db_url: URL) -> None:
    Study.create(tmp_path / "s", url=db_url).close()
    (tmp_path / "s" / "study.sqlite").write_bytes(b"")
    with pytest.raises(StudyOpenError, match=r"both study.sqlite and study.server"):
        Study.open(tmp_path / "s")


def test_a_newer_schema_is_refused_on_the_server_and_left_alone(tmp_path: Path, db_url: URL) -> None:
    Study.create(tmp_path / "s", url=db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        tables = set(inspect(conn).get_table_names())
    with pytest.raises(StudyTooNewError, match=r"schema 9999_from_the_future.*not changed"):
        Study.open(tmp_path / "s")
    with pytest.raises(StudyTooNewError):
        Study.open_or_create(tmp_path / "s")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999_from_the_future"
        assert set(inspect(conn).get_table_names()) == tables
    engine.dispose()


def test_a_stale_concurrent_update_is_detected(study: Study, make_image, make_grader) -> None:
    """Two workstations load the same grade; the later writer's commit fails, nothing is lost."""
    with study.session() as s:
        grade = Grade(image=make_image(s), grader=make_grader(s), comment="first")
        s.add(grade)
    other = make_session_factory(make_engine(study.url))
    mine, theirs = study.session_factory(), other()
    try:
        a, b = mine.get(Grade, grade.id), theirs.get(Grade, grade.id)
        assert a is not None and b is not None
        a.comment, a.submitted_at = "mine", utcnow()
        mine.commit()
        b.comment = "theirs"
        with pytest.raises(StaleDataError):
            theirs.commit()
        theirs.rollback()
    finally:
        mine.close()
        theirs.close()
        other.kw["bind"].dispose()
    with study.session() as s:
        kept = s.scalars(select(Grade)).one()
        assert kept.comment == "mine" and kept.version_id == 2
        assert kept.submitted_at is not None and kept.submitted_at.utcoffset() is not None


def test_migrations_record_the_head_on_every_backend(study: Study) -> None:
    assert migrate.check_schema(study.url) == (migrate.head_revision(),)


def test_workstations_opening_an_old_study_at_once_migrate_it_once(tmp_path: Path, db_url: URL) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from alembic import command

    Study.create(tmp_path / "s", name="Race", url=db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")  # an "old" study: no schema yet
    engine.dispose()
    (tmp_path / "s" / SERVER_FILE).unlink()  # open by URL, as a workstation given --db-url does

    def open_once(_: int) -> str:
        with Study.open_or_create(tmp_path / "s", url=db_url) as opened:
            return opened.backend

    with ThreadPoolExecutor(4) as pool:
        assert len(list(pool.map(open_once, range(4)))) == 4
    assert migrate.check_schema(db_url) == (migrate.head_revision(),)

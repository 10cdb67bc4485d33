"""Engine pragmas, sessions, migrations, and refusing databases this app must not touch."""

from __future__ import annotations

import os
import shutil
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from rop_desktop.store import Study, StudyOpenError, StudyTooNewError, migrate
from rop_desktop.store.db import BUSY_TIMEOUT_MS, make_engine, make_session_factory, session_scope
from rop_desktop.store.schema import Base, Grade, Patient, StudySetting


@pytest.mark.sqlite_only("SQLite pragmas")
def test_sqlite_pragmas_are_on_for_every_connection(study: Study) -> None:
    with study.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        with study.engine.connect() as second:  # a second pooled connection gets them too
            assert second.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_session_scope_commits_or_rolls_back(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "plain.sqlite")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        s.add(Patient(code="kept"))
    with pytest.raises(RuntimeError), session_scope(factory) as s:
        s.add(Patient(code="dropped"))
        s.flush()
        raise RuntimeError("boom")
    with session_scope(factory) as s:
        assert s.scalars(select(Patient.code)).all() == ["kept"]
        assert s.get(Patient, 1).code == "kept"
    engine.dispose()


def test_migrations_build_exactly_the_models(study: Study) -> None:
    with study.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_heads() == (migrate.head_revision(),)


def test_downgrade_to_base_and_upgrade_again(study: Study) -> None:
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrate.upgrade(study.url)
    with Study.open(study.root) as again, again.session() as s:
        assert s.scalars(select(StudySetting)).all() == []  # fresh, empty schema


def _stamp(db: Path, revision: str) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    con.commit()
    con.close()


def _fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.mark.sqlite_only("the file's bytes; PostgreSQL: test_store_backends.py")
@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_study_from_a_newer_app_is_refused_and_untouched(study: Study, journal: str) -> None:
    study.close()
    _stamp(study.db_path, "9999_from_the_future")
    if journal == "delete":  # a rollback-journal file: switching it to WAL would rewrite its header
        con = sqlite3.connect(study.db_path)
        con.execute("PRAGMA journal_mode = DELETE")
        con.close()
    before = _fingerprint(study.db_path)
    os.utime(study.db_path, ns=(before[1] - 10**9, before[1] - 10**9))  # mtime resolution headroom
    before = _fingerprint(study.db_path)
    with pytest.raises(StudyTooNewError) as caught:
        Study.open(study.root)
    message = str(caught.value)
    assert "newer version of ROP Desktop (schema 9999_from_the_future)" in message
    assert f"knows up to {migrate.head_revision()}" in message and "the study was not changed" in message
    assert _fingerprint(study.db_path) == before
    with pytest.raises(StudyTooNewError):
        Study.open_or_create(study.root)
    assert _fingerprint(study.db_path) == before


@pytest.mark.sqlite_only("an SQLite URI; PostgreSQL: test_store_backends.py")
def test_a_newer_database_is_refused_through_a_url_too(tmp_path: Path) -> None:
    Study.create(tmp_path / "s").close()
    db = tmp_path / "s" / "study.sqlite"
    _stamp(db, "9999")
    with pytest.raises(StudyTooNewError, match="schema 9999"):
        Study.open(tmp_path / "s", url=f"sqlite:///file:{db}?uri=true")


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    db = folder / "study.sqlite"
    db.write_bytes(b"PNG? no, just some text that is not SQLite at all\n" * 200)
    before = _fingerprint(db)
    with pytest.raises(StudyOpenError, match=r"not a readable SQLite database.*file is not a database"):
        Study.open(folder)
    assert _fingerprint(db) == before


def test_a_sqlite_database_of_another_app_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    con = sqlite3.connect(folder / "study.sqlite")
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    with pytest.raises(StudyOpenError, match=r"other tables \(invoices\).*not a ROP Desktop study"):
        Study.open(folder)


def test_opening_a_current_study_does_not_migrate(study: Study) -> None:
    assert migrate.check_schema(study.url) == (migrate.head_revision(),)
    with study.engine.connect() as conn:  # an open reader does not stop a second open
        conn.execute(text("SELECT 1"))
        with Study.open(study.root) as again:
            assert again.name == "Test study"


def _with_extra_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Point the app at a copy of its migrations plus a revision 0099 running ``body``."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0099_extra.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = '0099'\ndown_revision = '{migrate.head_revision()}'\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(body), '    ')}\n\n\ndef downgrade():\n    pass\n")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    migrate._script.cache_clear()


@pytest.fixture
def restore_scripts() -> Iterator[None]:
    yield
    migrate._script.cache_clear()


def test_a_failing_migration_changes_nothing(study: Study, make_image, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, restore_scripts: None) -> None:
    with study.session() as s:
        make_image(s)
    study.close()
    head = migrate.head_revision()
    _with_extra_migration(tmp_path, monkeypatch, """
        op.create_table("scratch", sa.Column("id", sa.Integer, primary_key=True))
        with op.batch_alter_table("images") as batch:
            batch.add_column(sa.Column("note", sa.Text))
        op.execute("SELECT * FROM no_such_table")
    """)
    with pytest.raises(StudyOpenError, match=r"migration failed.*no_such_table.*nothing was changed"):
        Study.open(study.root)
    engine = make_engine(study.url)
    assert "scratch" not in inspect(engine).get_table_names()
    assert "note" not in {c["name"] for c in inspect(engine).get_columns("images")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        assert conn.execute(text("SELECT count(*) FROM images")).scalar_one() == 1
    engine.dispose()


@pytest.mark.sqlite_only("SQLite's table rebuild procedure")
def test_rebuilding_a_parent_table_keeps_its_children(study: Study, make_image, make_grader, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, restore_scripts: None) -> None:
    """SQLite's table rebuild drops the old table: with foreign keys on, that would cascade."""
    with study.session() as s:
        image, grader = make_image(s), make_grader(s)
        s.add(Grade(image=image, grader=grader))
    study.close()
    _with_extra_migration(tmp_path, monkeypatch, """
        with op.batch_alter_table("images", recreate="always") as batch:
            batch.add_column(sa.Column("note", sa.Text))
    """)
    with Study.open(study.root) as again, again.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0099"
        assert conn.execute(text("SELECT count(*) FROM grades")).scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the app

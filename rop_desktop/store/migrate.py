"""Bring a study database to the schema this app knows, never damaging one it does not.

``upgrade(target)`` first reads the stored Alembic revision *without writing* (SQLite files are
opened read-only for it). A revision this app has never heard of means a newer app saved the
study: ``StudyTooNewError``, and the file is untouched. Otherwise pending migrations run in one
transaction (on SQLite: ``BEGIN IMMEDIATE``, foreign keys off during table rebuilds and checked
before commit — SQLite's documented procedure; on PostgreSQL, whose DDL is transactional too,
under an advisory lock so that workstations opening the study at once migrate it once), so a
failed upgrade leaves the previous schema. Migrations use Alembic's batch operations with the
default ``recreate="auto"``: a table rebuild on SQLite, a plain ``ALTER TABLE`` on PostgreSQL
(never ``recreate="always"``, which PostgreSQL's dependent constraints refuse).
No ``alembic.ini`` is needed at run time: the script location is set in code.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from .db import database_url, make_engine
from .errors import StudyOpenError, StudyTooNewError

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK_KEY = 0x524F50_0001
"""PostgreSQL advisory lock held while a study's schema is migrated (``ROP`` + 1)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; ``connection`` is used by env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest schema revision this app knows."""
    head = _script().get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return head


def known_revisions() -> frozenset[str]:
    """Every schema revision this app knows."""
    return frozenset(rev.revision for rev in _script().walk_revisions())


def stored_revisions(target: str | Path | URL) -> tuple[str, ...]:
    """The revisions recorded in the database, read without writing; ``()`` for an empty one.

    Raises ``StudyOpenError`` when the target is not a database, or is a database of
    something else (tables but no schema revision).
    """
    url = database_url(target)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        tables, revisions = _read_sqlite_readonly(sqlite_file)
    else:
        tables, revisions = _read_with_engine(url)
    if VERSION_TABLE not in tables and tables - {VERSION_TABLE}:
        raise StudyOpenError(
            _where(url),
            "the database holds other tables ("
            + ", ".join(sorted(tables)[:5])
            + ") but no ROP Desktop schema version; "
            "it is not a ROP Desktop study",
        )
    return revisions


def check_schema(target: str | Path | URL) -> tuple[str, ...]:
    """Refuse a database from a newer app (``StudyTooNewError``); return its stored revisions."""
    revisions = stored_revisions(target)
    known = known_revisions()
    for revision in revisions:
        if revision not in known:
            raise StudyTooNewError(_where(database_url(target)), revision, head_revision())
    return revisions


def upgrade(target: str | Path | URL) -> None:
    """Check the schema version, then apply pending migrations in one transaction."""
    url = database_url(target)
    if check_schema(url) == (head_revision(),):
        return
    engine = make_engine(url, foreign_keys=False, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_manual_transactions)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.connect() as connection, connection.begin():
            if engine.dialect.name == "postgresql":
                # Two workstations opening the study at once: the second waits here, then finds
                # the schema current (READ COMMITTED sees the first one's commit) and does nothing.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            command.upgrade(alembic_config(connection), "head")
            if engine.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StudyOpenError(
                        _where(url),
                        f"a schema migration broke {len(broken)} foreign "
                        f"key(s) (first: {tuple(broken[0])}); nothing was changed",
                    )
    except (SQLAlchemyError, CommandError) as exc:
        raise StudyOpenError(_where(url), f"the schema migration failed ({_reason(exc)}); nothing was changed") from exc
    finally:
        engine.dispose()


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself so that DDL is transactional (see SQLAlchemy's SQLite docs).
    dbapi_connection.isolation_level = None


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:") or url.query.get("uri"):
        return None  # an SQLite URI: let the engine path deal with it
    return Path(url.database)


def _read_sqlite_readonly(path: Path) -> tuple[set[str], tuple[str, ...]]:
    if not path.exists():
        return set(), ()
    if not path.is_file():
        raise StudyOpenError(path, "the database path is not a file")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StudyOpenError(path, f"the database file cannot be opened ({exc})") from exc
    try:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {name for (name,) in rows if not name.startswith("sqlite_")}
        revisions: tuple[str, ...] = ()
        if VERSION_TABLE in tables:
            revisions = tuple(r for (r,) in con.execute(f"SELECT version_num FROM {VERSION_TABLE}"))
        return tables, revisions
    except sqlite3.DatabaseError as exc:
        raise StudyOpenError(path, f"the file is not a readable SQLite database ({exc})") from exc
    finally:
        con.close()


def _read_with_engine(url: URL) -> tuple[set[str], tuple[str, ...]]:
    engine = create_engine(url, poolclass=NullPool)  # no pragmas: reading must not write
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            revisions = tuple(MigrationContext.configure(connection).get_current_heads())
            connection.rollback()
        return tables, revisions
    except SQLAlchemyError as exc:
        raise StudyOpenError(_where(url), f"the database cannot be read ({_reason(exc)})") from exc
    finally:
        engine.dispose()


def _reason(exc: Exception) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and help link."""
    orig = getattr(exc, "orig", None)
    text = f"{type(orig).__name__}: {orig}" if orig is not None else str(exc)
    return " ".join(text.split())  # PostgreSQL's messages span lines (LINE 1: …, a caret)


def _where(url: URL) -> str:
    file = _sqlite_file(url)
    return str(file) if file is not None else url.render_as_string(hide_password=True)

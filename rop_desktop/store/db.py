"""Engines and sessions for a study database (SQLite file or any SQLAlchemy URL).

SQLite connections get ``journal_mode=WAL`` (readers never block the writer),
``foreign_keys=ON`` (cascades and integrity) and ``busy_timeout`` (a second writer waits instead
of failing) from a ``connect`` listener. Nothing SQLite-only reaches the models, so the same code
runs on PostgreSQL given a URL.

Schema changes are Alembic migrations in ``rop_desktop/store/migrations/versions/``; they run
by themselves when a study is opened (``rop_desktop.store.migrate``). To add one after changing
``models.py``, bring a scratch database to the current head, then let Alembic write the
difference (from the repository root)::

    INI=rop_desktop/store/migrations/alembic.ini
    .venv/bin/alembic -c $INI -x db=/tmp/rop-head.sqlite upgrade head
    .venv/bin/alembic -c $INI -x db=/tmp/rop-head.sqlite revision --autogenerate \\
        --rev-id 0002 -m "add exam notes"

Read and clean the generated ``versions/0002_add_exam_notes.py`` (it uses batch operations,
which SQLite needs to alter tables), give new NOT NULL columns a ``server_default``, and run
``pytest tests/unit/store``: a test checks that the migrations and the models agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another one before giving up."""


def database_url(target: str | Path | URL) -> URL:
    """A SQLAlchemy URL for a SQLite file path or a URL string (``postgresql+psycopg://…``)."""
    if isinstance(target, URL):
        return target
    text = str(target)
    if "://" in text:
        return make_url(text)
    return URL.create("sqlite+pysqlite", database=str(Path(text).expanduser().resolve()))


def without_password(target: str | Path | URL) -> URL:
    """The URL with its password removed, also a ``?password=`` query parameter (libpq's)."""
    url = database_url(target)
    return URL.create(
        url.drivername,
        username=url.username,
        password=None,
        host=url.host,
        port=url.port,
        database=url.database,
        query={k: v for k, v in url.query.items() if k.lower() != "password"},
    )


def make_engine(target: str | Path | URL, *, foreign_keys: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``target`` (a SQLite file path or a URL), with the SQLite pragmas applied.

    ``foreign_keys=False`` is for schema migrations only (SQLite's table rebuild procedure).
    Extra keyword arguments go to ``sqlalchemy.create_engine``.
    """
    url = database_url(target)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(foreign_keys=foreign_keys))
    return engine


def _sqlite_pragmas(*, foreign_keys: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    return on_connect


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: Callable[[], Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Which database the store and services tests run on: SQLite (default) or PostgreSQL.

``ROP_TEST_DB=postgresql`` runs the same tests against a real PostgreSQL server at
``ROP_TEST_PG_URL`` (default ``postgresql+psycopg://rop_test@127.0.0.1:54329/postgres``, what
``scripts/start_test_postgres.sh`` starts). There, every ``Study.create`` of a test without a
``url`` gets a fresh database ``rop_test_<hex>`` on that server (its folder remembers it in
``study.server``, as a shared study does), and the databases are dropped when the test ends.
Tests about SQLite itself (pragmas, the file's bytes) carry ``@pytest.mark.sqlite_only``
and are skipped there. An unreachable server fails the run: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

DEFAULT_PG_URL = "postgresql+psycopg://rop_test@127.0.0.1:54329/postgres"
BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): a test of SQLite itself; skipped on PostgreSQL")


def test_backend() -> str:
    """The backend named by ``ROP_TEST_DB`` (``sqlite`` when unset)."""
    backend = os.environ.get("ROP_TEST_DB", "sqlite").strip().lower() or "sqlite"
    if backend not in BACKENDS:
        raise pytest.UsageError(f"ROP_TEST_DB={backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


test_backend.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class PgServer:
    """An administrative connection URL to the test server; makes and drops scratch databases."""

    admin_url: URL
    made: list[str] = field(default_factory=list)

    def new_database(self) -> URL:
        """A fresh empty database; its URL (same user and host as the admin URL)."""
        name = f"rop_test_{uuid.uuid4().hex[:16]}"
        self._execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.admin_url.set(database=name)

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        engine = create_engine(self.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The PostgreSQL test server (fails, not skips, when it cannot be reached)."""
    url = make_url(os.environ.get("ROP_TEST_PG_URL", DEFAULT_PG_URL))
    server = PgServer(url)
    try:
        server._execute("SELECT 1")
    except OperationalError as exc:
        pytest.fail(f"ROP_TEST_DB=postgresql but no server answers at "
                    f"{url.render_as_string(hide_password=True)} ({exc.orig}); "
                    "start one with scripts/start_test_postgres.sh", pytrace=False)
    return server


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest) -> Callable[[], URL | None]:
    """``fresh_db_url()``: a new empty database URL on the test backend (None on SQLite)."""
    if test_backend() != "postgresql":
        return lambda: None
    server: PgServer = request.getfixturevalue("pg_server")
    made: list[str] = []

    def make() -> URL:
        url = server.new_database()
        made.append(str(url.database))
        return url

    def drop_all() -> None:
        for name in made:
            server.drop(name)

    request.addfinalizer(drop_all)
    return make


@dataclass
class Redirect:
    """Whether ``Study.create`` without ``url`` is sent to the PostgreSQL test server."""

    on: bool = True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Inside the block, ``Study.create(folder)`` makes a real SQLite study."""
        self.on = False
        try:
            yield
        finally:
            self.on = True


@pytest.fixture
def study_redirect() -> Redirect:
    """``with study_redirect.paused(): ...`` makes SQLite studies on either backend."""
    return Redirect()


@pytest.fixture
def study_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                  fresh_db_url: Callable[[], URL | None], study_redirect: Redirect) -> Iterator[str]:
    """Point the test's ``Study.create`` calls at the chosen backend; yields its name.

    On PostgreSQL a ``Study.create(folder)`` without ``url`` gets a fresh database (unless
    ``study_redirect.paused()``); a test marked ``sqlite_only`` is skipped there.
    """
    backend = test_backend()
    marker = request.node.get_closest_marker("sqlite_only")
    if backend != "sqlite" and marker is not None:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"SQLite only: {reason}")
    if backend == "postgresql":
        from rop_desktop.store.study import Study

        original = Study.create.__func__  # type: ignore[attr-defined]

        def create(cls: type[Study], path, name=None, *, url=None):  # type: ignore[no-untyped-def]
            if url is None and study_redirect.on:
                url = fresh_db_url()
            return original(cls, path, name, url=url)

        monkeypatch.setattr(Study, "create", classmethod(create))
    yield backend

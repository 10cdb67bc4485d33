"""Alembic environment for the study database.

At run time the app passes an open connection in ``config.attributes["connection"]``
(``rop_desktop.store.migrate``). From the command line, name the database with
``-x db=path/to/study.sqlite`` (or ``-x db=postgresql+psycopg://…``); see ``rop_desktop/store/db.py``.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from rop_desktop.store.db import make_engine
from rop_desktop.store.schema import Base
from rop_desktop.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, _autogen: AutogenContext) -> str | Literal[False]:
    """Write the app's column types as plain SQLAlchemy types: a migration must not change
    meaning when ``rop_desktop.store.types`` changes later."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, sa.Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata, render_as_batch=True, compare_type=True, render_item=_render_item, **kwargs
    )


def _database() -> str:
    url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "Name the database: alembic -c rop_desktop/store/migrations/alembic.ini "
            "-x db=path/to/study.sqlite <command>"
        )
    return url


def run_migrations_offline() -> None:
    _configure(url=str(_database()), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(_database(), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

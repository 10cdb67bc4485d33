"""What the PostgreSQL parts of the alembic migrations share (from 0010 on): the study's schema, and the
grants of a new table to the study's group roles that exist already (``store.pg_roles.GRANTS``
grants them to groups made from then on). Revisions before 0010 keep their own copies: an
applied revision's text is not edited."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def current_schema() -> str:
    """The quoted schema the study's tables live in."""
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def grant_to_existing_groups(tables: Sequence[str], privileges: str, *, sequences: bool = False) -> None:
    """GRANT ``privileges`` on ``tables`` (and, if ``sequences``, USAGE on each ``<table>_id_seq``)
    to every group role of this study's database that exists already."""
    from rop_desktop.store.pg_roles import group_names

    bind = op.get_bind()
    s = current_schema()
    for group in group_names(str(bind.scalar(sa.text("SELECT current_database()")))).values():
        if not bind.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}):
            continue
        quoted = bind.dialect.identifier_preparer.quote_identifier(group)
        for table in tables:
            op.execute(f"GRANT {privileges} ON {s}.{table} TO {quoted}")
            if sequences:
                op.execute(f"GRANT USAGE ON SEQUENCE {s}.{table}_id_seq TO {quoted}")

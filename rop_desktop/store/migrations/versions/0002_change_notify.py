"""PostgreSQL only: announce every audit event with ``NOTIFY rop_changes``.

Every edit (grade, polygon, reference decision, account) writes one ``audit_events`` row in its
own short transaction. An ``AFTER INSERT`` trigger on that table sends
``pg_notify('rop_changes', '<entity>:<entity_id>:<audit id>')``; PostgreSQL delivers it to every
listening workstation when the transaction commits (never for one rolled back), which is what
``rop_desktop.services.changes.ChangeFeed`` listens to. SQLite has no NOTIFY: there the feed
polls ``audit_events`` instead, so this migration changes nothing on SQLite. Triggers are not
part of the SQLAlchemy models, so ``compare_metadata`` stays clean.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "rop_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE OR REPLACE FUNCTION rop_notify_change() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.entity || ':' || NEW.entity_id || ':' || NEW.id);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
    """)
    op.execute("""
        CREATE TRIGGER audit_events_notify AFTER INSERT ON audit_events
        FOR EACH ROW EXECUTE FUNCTION rop_notify_change()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_notify ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS rop_notify_change()")

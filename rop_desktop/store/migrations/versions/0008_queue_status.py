"""The adjudication queue as a maintained status per image (issue 15).

``images.queue_status`` says where an image stands: ``"needs_adjudication"`` (quorum reached,
the votes disagree), ``"insufficient"`` (fewer votes than the quorum; a new image starts so) or
NULL (a reference settles it). The transaction that settles the votes keeps it
(``services.reference``); a partial index ``(queue_status, id) WHERE queue_status IS NOT NULL``
holds only the open images, so a page of the queue and its counts never walk the settled ones.

Existing studies are filled in as the queue read them before this revision: an image with a
reference is settled; one without is "needs_adjudication" when it has at least the quorum of
submitted votes (``votes.settings`` of the study, else the default quorum frozen below), else
"insufficient". (A study whose rules changed without a recompute is left as it was: the queue
checks each page against the votes, and "Recompute votes" puts it right.)

On PostgreSQL the row-level security of migration 0004 extends to ``images``: everyone reads
every row (as before), only admins insert and delete (as their grants already say), and an
update — a grader's workstation storing the status after a submit (``pg_roles`` grants graders
that one column) — is allowed exactly where a vote-settled reference may be written: to
reviewers, and to a grader who submitted the image and may see its other votes. So no grader
can take an image out of the adjudicator's queue that the votes do not settle, and a workstation
that cannot see every vote leaves the status alone. Existing group roles get the column grant.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_images_queue_status_id"
#: ``domain.votes.VoteSettings().quorum`` as of this revision.
DEFAULT_QUORUM = 4
_OPEN = sa.text("queue_status IS NOT NULL")
_GRADER_GROUPS = ("grader", "adjudicator")  # the admins' group may update every column already


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("queue_status", sa.String(length=20), server_default="insufficient", nullable=True))
    _backfill(_quorum())
    op.create_index(INDEX, "images", ["queue_status", "id"], sqlite_where=_OPEN, postgresql_where=_OPEN)
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = _schema()
        for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.images")
        op.execute(f"ALTER TABLE {s}.images DISABLE ROW LEVEL SECURITY")
    op.drop_index(INDEX, table_name="images")
    # SQLite >= 3.35 drops a column in place; a batch rebuild would drop and recreate ``images``,
    # which (with foreign keys on) deletes every row that references an image by ON DELETE CASCADE
    op.execute("ALTER TABLE images DROP COLUMN queue_status")


# ---------------------------------------------------------------------------- existing studies
def _quorum() -> int:
    """The study's quorum, as ``votes.settings`` stores it (the default when unset or unreadable)."""
    settings = sa.table("study_settings", sa.column("key", sa.String()), sa.column("value", sa.JSON()))
    stored: Any = op.get_bind().scalar(sa.select(settings.c.value).where(settings.c.key == "votes.settings"))
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            stored = None
    quorum = stored.get("quorum") if isinstance(stored, dict) else None
    return quorum if isinstance(quorum, int) and not isinstance(quorum, bool) and quorum >= 1 else DEFAULT_QUORUM


def _backfill(quorum: int) -> None:
    """Two set-based updates: settled images, then those with enough votes (the rest keep the
    column's default, "insufficient")."""
    images = sa.table("images", sa.column("id", sa.Integer()), sa.column("queue_status", sa.String()))
    refs = sa.table("reference_standard", sa.column("image_id", sa.Integer()))
    grades = sa.table("grades", sa.column("image_id", sa.Integer()), sa.column("submitted", sa.Boolean()))
    settled = sa.exists().where(refs.c.image_id == images.c.id)
    votes = (
        sa.select(sa.func.count())
        .select_from(grades)
        .where(grades.c.image_id == images.c.id, grades.c.submitted == sa.true())
        .scalar_subquery()
    )
    bind = op.get_bind()
    bind.execute(sa.update(images).where(settled).values(queue_status=None))
    bind.execute(sa.update(images).where(~settled, votes >= quorum).values(queue_status="needs_adjudication"))


# ---------------------------------------------------------------------------- PostgreSQL
def _schema() -> str:
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def _secure() -> None:
    s = _schema()
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    admin = f"(SELECT {s}.rop_is_admin())"
    # as 0004's vote_ref: what the settling after a grader's own submit may write
    settles = f"({reviewer} OR ({s}.rop_own_submitted(id) AND {s}.rop_others_visible(id)))"
    op.execute(f"ALTER TABLE {s}.images ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY rop_read ON {s}.images FOR SELECT USING (true)")
    op.execute(f"CREATE POLICY rop_insert ON {s}.images FOR INSERT WITH CHECK ({admin})")
    op.execute(f"CREATE POLICY rop_update ON {s}.images FOR UPDATE USING {settles} WITH CHECK {settles}")
    op.execute(f"CREATE POLICY rop_delete ON {s}.images FOR DELETE USING ({admin})")
    # the groups of a study whose roles were made already (pg_roles.GRANTS grants them from now on)
    from rop_desktop.store.pg_roles import group_names

    bind = op.get_bind()
    for role, group in group_names(str(bind.scalar(sa.text("SELECT current_database()")))).items():
        if role.value not in _GRADER_GROUPS or not bind.scalar(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}
        ):
            continue
        quoted = bind.dialect.identifier_preparer.quote_identifier(group)
        op.execute(f"GRANT UPDATE (queue_status) ON {s}.images TO {quoted}")

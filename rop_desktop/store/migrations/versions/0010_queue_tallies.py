"""The adjudication queue's tallies, kept by the settle (issue 15): ``queue_tallies``.

A queue row shows the image's vote tally, the reasons the votes did not settle and who
dissented. Until this revision a page of the queue settled each of its images' votes again to
show them; now the transaction that settles an image's votes (``services.reference``) keeps its
outcome here while the image stays open (and deletes it when the image settles), so a page is
read, not re-tallied: its cost no longer grows with the rows of disagreement it holds. Each row
records which submitted votes (their count and ``mark``) and which rules (vote settings and
hospital diagnosis) it was worked out from; a row that no longer matches is worked out again when
read. Existing studies start with no rows: the queue works every row out as before until the
next settle or *Recompute votes* fills them in.

On PostgreSQL the table gets the row-level security of ``reference_standard`` (0004): the tally
is every grader's votes together, so only adjudicators and admins read it, or a grader where
others' work of the image is visible to them (``rop_others_visible``); a grader writes only the
rows of images they submitted and may see — what the settle after their own submit does. The
study's group roles, where they exist already, get the privileges ``store.pg_roles.GRANTS``
gives them from now on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from rop_desktop.store.pg_migrations import current_schema, grant_to_existing_groups

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "queue_tallies"
_GROUP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"  # every group: row-level security decides


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=False),
        sa.Column("rules", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_queue_tallies_image_id_images"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_queue_tallies")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = current_schema()
        for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.{_TABLE}")
    op.drop_table(_TABLE)


# ---------------------------------------------------------------------------- PostgreSQL
def _secure() -> None:
    s = current_schema()
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    visible = f"{s}.rop_others_visible(image_id)"
    # as 0004's vote_ref: what the settle after a grader's own submit may write
    settles = f"({reviewer} OR ({s}.rop_own_submitted(image_id) AND {visible}))"
    op.execute(f"ALTER TABLE {s}.{_TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY rop_read ON {s}.{_TABLE} FOR SELECT USING ({reviewer} OR {visible})")
    op.execute(f"CREATE POLICY rop_insert ON {s}.{_TABLE} FOR INSERT WITH CHECK {settles}")
    op.execute(f"CREATE POLICY rop_update ON {s}.{_TABLE} FOR UPDATE USING {settles} WITH CHECK {settles}")
    op.execute(f"CREATE POLICY rop_delete ON {s}.{_TABLE} FOR DELETE USING {settles}")
    grant_to_existing_groups((_TABLE,), _GROUP_PRIVILEGES)

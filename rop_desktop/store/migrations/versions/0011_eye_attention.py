"""The eyes that need attention, kept per eye and basis (issue 18): ``eye_attention``.

The *Needs attention* list and worklist filter used to work out every graded visit of every eye
each time they were chosen — work in proportion to the study. Now each eye's state from each
basis (a grader's own work, ``grader_id``; the reference standard, ``grader_id`` NULL) is kept
in ``eye_attention`` by the transaction that changes what it is worked out from
(``services.attention``), and the filter reads the rows that need attention through a partial
index. ``eye_attention_pending`` names the patients whose rows of a basis are to be worked out
again by the next reader: this revision marks every patient of an existing study so (each
grader who graded an image or eye of theirs, and the reference), so the rows are built from the
study's own data the first time each list is read; *Recompute votes* rebuilds them all.

On PostgreSQL both tables get row-level security mirroring ``services.policy``: a grader reads
and writes the rows of their own basis only; the reference's rows (the reference standard is
never shown to graders: ``Action.REFERENCE_READ``) and every grader's are read and written by
adjudicators and admins. A grader may also *mark* a patient's reference rows pending (insert a
pending row with no ``grader_id``; never read one) — what their submit does when it settles a
reference whose other visits they may not see. The study's group roles, where they exist
already, get the privileges ``store.pg_roles.GRANTS`` gives them from now on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from rop_desktop.store.pg_migrations import current_schema, grant_to_existing_groups

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("eye_attention", "eye_attention_pending")
_GROUP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def upgrade() -> None:
    op.create_table(
        "eye_attention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "eye",
            sa.Enum("OD", "OS", name="eye", native_enum=False, create_constraint=False, length=32),
            nullable=False,
        ),
        sa.Column("grader_id", sa.Integer(), nullable=True),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("needs", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("grade", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_eye_attention_patient_id_patients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["grader_id"], ["graders.id"], name=op.f("fk_eye_attention_grader_id_graders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_eye_attention_exam_id_exams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eye_attention")),
    )
    op.create_index(op.f("ix_eye_attention_exam_id"), "eye_attention", ["exam_id"])
    op.create_index("ix_eye_attention_patient_id_eye_grader_id", "eye_attention", ["patient_id", "eye", "grader_id"])
    op.create_index(
        "ix_eye_attention_grader_id_exam_id",
        "eye_attention",
        ["grader_id", "exam_id"],
        sqlite_where=sa.text("needs = 1"),
        postgresql_where=sa.text("needs"),
    )
    op.create_table(
        "eye_attention_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("grader_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_eye_attention_pending_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grader_id"], ["graders.id"], name=op.f("fk_eye_attention_pending_grader_id_graders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eye_attention_pending")),
    )
    op.create_index(op.f("ix_eye_attention_pending_patient_id"), "eye_attention_pending", ["patient_id"])
    op.create_index(op.f("ix_eye_attention_pending_grader_id"), "eye_attention_pending", ["grader_id"])
    # every basis of every patient of an existing study: worked out by its first reader
    op.execute(
        """INSERT INTO eye_attention_pending (patient_id, grader_id)
        SELECT e.patient_id, g.grader_id FROM grades g
            JOIN images i ON i.id = g.image_id JOIN exams e ON e.id = i.exam_id WHERE i.eye IS NOT NULL
        UNION SELECT e.patient_id, x.grader_id FROM exam_grades x JOIN exams e ON e.id = x.exam_id
        UNION SELECT e.patient_id, NULL FROM images i JOIN exams e ON e.id = i.exam_id WHERE i.eye IS NOT NULL"""
    )
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = current_schema()
        for table in _TABLES:
            for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.{table}")
    op.drop_index(op.f("ix_eye_attention_pending_grader_id"), table_name="eye_attention_pending")
    op.drop_index(op.f("ix_eye_attention_pending_patient_id"), table_name="eye_attention_pending")
    op.drop_table("eye_attention_pending")
    op.drop_index("ix_eye_attention_grader_id_exam_id", table_name="eye_attention")
    op.drop_index("ix_eye_attention_patient_id_eye_grader_id", table_name="eye_attention")
    op.drop_index(op.f("ix_eye_attention_exam_id"), table_name="eye_attention")
    op.drop_table("eye_attention")


# ---------------------------------------------------------------------------- PostgreSQL
def _secure() -> None:
    s = current_schema()
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    own = f"(grader_id = (SELECT {s}.rop_account_id()))"
    mine = f"({reviewer} OR {own})"
    for table in _TABLES:
        op.execute(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY rop_read ON {s}.{table} FOR SELECT USING {mine}")
        op.execute(f"CREATE POLICY rop_update ON {s}.{table} FOR UPDATE USING {mine} WITH CHECK {mine}")
        op.execute(f"CREATE POLICY rop_delete ON {s}.{table} FOR DELETE USING {mine}")
    op.execute(f"CREATE POLICY rop_insert ON {s}.eye_attention FOR INSERT WITH CHECK {mine}")
    signed_in = f"(SELECT {s}.rop_account_id()) IS NOT NULL"
    op.execute(
        f"CREATE POLICY rop_insert ON {s}.eye_attention_pending FOR INSERT "
        f"WITH CHECK ({mine} OR (grader_id IS NULL AND {signed_in}))"
    )
    grant_to_existing_groups(_TABLES, _GROUP_PRIVILEGES, sequences=True)

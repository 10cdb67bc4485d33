"""The eye-level reference standard (issue 18): ``exam_references``.

When a study votes at eye level (the study setting ``votes.level`` = "eye"), the graders'
submitted eye-level grades of one eye at one visit settle into one row here
(``services.exam_reference``), or an adjudicator decides it — as ``reference_standard`` does per
image.

On PostgreSQL the table gets row-level security mirroring ``services.policy``, as migration 0004
does for ``reference_standard`` and 0007 for ``exam_grades``:

* read: adjudicators and admins; a grader where they may see others' eye-level work of that
  exam (``rop_exam_visible`` of 0007: not blinded, or revealed after they submitted their own
  eye-level grade and every image of it) — the reference is everyone's votes together;
* write: adjudicators and admins any row; a grader only a vote-settled row (no ``decided_by``, a
  vote method) of an exam they may see — what the settling after their confirm does — and never
  a human decision;
* ``audit_events``: the system's events of an eye-level reference (no ``grader_id``, entity
  ``exam_reference``) may be written by any signed-in account, as 0004 allows for ``reference``.

The study's three group roles, where they exist already, are granted the privileges
``store.pg_roles.GRANTS`` gives them from now on (every group: read, insert, update, delete).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "exam_references"
#: Vote methods (``domain.votes.METHODS``) as of this migration: the rows a grader's confirm may write.
_VOTE_METHODS = ("unanimous", "majority", "hospital_tiebreak", "severity_tiebreak", "ungradable_majority")
_GROUP_PRIVILEGES = {
    "grader": "SELECT, INSERT, UPDATE, DELETE",
    "adjudicator": "SELECT, INSERT, UPDATE, DELETE",
    "admin": "SELECT, INSERT, UPDATE, DELETE",
}


def upgrade() -> None:
    grade_enums = {
        "rop": ("no", "yes", "na"),
        "stage": ("0", "1", "2", "3", "4A", "4B", "5A", "5B", "5C", "na"),
        "zone": ("I", "posterior II", "II", "III", "na"),
        "plus": ("normal", "pre-plus", "plus", "na"),
        "quality": ("gradable", "ungradable"),
    }

    def enum(name: str) -> sa.Enum:
        return sa.Enum(*grade_enums[name], name=name, native_enum=False, create_constraint=False, length=32)

    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column(
            "eye",
            sa.Enum("OD", "OS", name="eye", native_enum=False, create_constraint=False, length=32),
            nullable=False,
        ),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("rop", enum("rop"), nullable=True),
        sa.Column("stage", enum("stage"), nullable=True),
        sa.Column("zone", enum("zone"), nullable=True),
        sa.Column("plus", enum("plus"), nullable=True),
        sa.Column("arop", sa.Boolean(), nullable=True),
        sa.Column("extent_clock_hours", sa.Integer(), nullable=True),
        sa.Column("quality", enum("quality"), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_exam_references_exam_id_exams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["graders.id"], name=op.f("fk_exam_references_decided_by_graders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_references")),
        sa.UniqueConstraint("exam_id", "eye", name=op.f("uq_exam_references_exam_id_eye")),
    )
    op.create_index(op.f("ix_exam_references_decided_by"), _TABLE, ["decided_by"])
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = _schema()
        for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.{_TABLE}")
        _audit_insert_policy(s, ("reference",))
    op.drop_index(op.f("ix_exam_references_decided_by"), table_name=_TABLE)
    op.drop_table(_TABLE)


# ---------------------------------------------------------------------------- PostgreSQL
_ENTITY = "exam_reference"


def _audit_insert_policy(s: str, system_entities: tuple[str, ...]) -> None:
    """0004's insert policy of ``audit_events``, with the entities whose system events (no
    ``grader_id``) a signed-in account may write."""
    me = f"(SELECT {s}.rop_account_id())"
    admin = f"(SELECT {s}.rop_is_admin())"
    entities = ", ".join(f"'{e}'" for e in system_entities)
    op.execute(f"DROP POLICY IF EXISTS rop_insert ON {s}.audit_events")
    op.execute(
        f"CREATE POLICY rop_insert ON {s}.audit_events FOR INSERT WITH CHECK "
        f"({admin} OR grader_id = {me} OR (grader_id IS NULL AND entity IN ({entities}) AND {me} IS NOT NULL))"
    )


def _schema() -> str:
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def _secure() -> None:
    s = _schema()
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    methods = ", ".join(f"'{m}'" for m in _VOTE_METHODS)
    vote_row = f"(method IN ({methods}) AND {s}.rop_exam_visible(exam_id, eye))"
    op.execute(f"ALTER TABLE {s}.{_TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY rop_read ON {s}.{_TABLE} FOR SELECT USING ({reviewer} OR {s}.rop_exam_visible(exam_id, eye))"
    )
    op.execute(
        f"CREATE POLICY rop_insert ON {s}.{_TABLE} FOR INSERT "
        f"WITH CHECK ({reviewer} OR (decided_by IS NULL AND {vote_row}))"
    )
    op.execute(
        f"CREATE POLICY rop_update ON {s}.{_TABLE} FOR UPDATE USING ({reviewer} OR {vote_row}) "
        f"WITH CHECK ({reviewer} OR (decided_by IS NULL AND {vote_row}))"
    )
    op.execute(f"CREATE POLICY rop_delete ON {s}.{_TABLE} FOR DELETE USING ({reviewer} OR {vote_row})")
    _audit_insert_policy(s, ("reference", _ENTITY))
    # the groups of a study whose roles were made already (pg_roles.GRANTS grants them from now on)
    from rop_desktop.store.pg_roles import group_names

    bind = op.get_bind()
    groups = group_names(str(bind.scalar(sa.text("SELECT current_database()"))))
    for role, group in groups.items():
        if not bind.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}):
            continue
        quoted = bind.dialect.identifier_preparer.quote_identifier(group)
        op.execute(f"GRANT {_GROUP_PRIVILEGES[role.value]} ON {s}.{_TABLE} TO {quoted}")
        op.execute(f"GRANT USAGE ON SEQUENCE {s}.{_TABLE}_id_seq TO {quoted}")

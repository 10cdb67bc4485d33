"""Landmarks per image per grader, and eye-level grades per exam per grader (issue 18).

* ``landmarks`` (``store.schema.Landmark``): one grader's optic disc centre (and radius) and
  fovea centre on one image, with the zone suggestion they gave and the grader's decision
  (accepted / overridden).
* ``exam_grades`` (``store.schema.ExamGrade``): one grader's eye-level ICROP3 grade of one eye
  (``exam_id``, ``eye``) at one visit, draft or submitted, with the roll-up it was pre-filled from.

On PostgreSQL both tables get row-level security mirroring ``services.policy`` as migration
0004 does for ``grades`` and ``annotations``:

* ``landmarks``: an account reads its own rows; another grader's only where that grader has
  submitted the image and the reader may see others' work of it (``rop_work_visible`` of 0004);
  adjudicators and admins read every row. Only the author writes a row (admins too).
* ``exam_grades``: an account reads its own rows; another grader's *submitted* eye-level grade
  only where the reader may see others' eye-level work of that exam (``rop_exam_visible``,
  below): the study is not blinded, or it reveals after submitting and the reader has submitted
  their own eye-level grade of the exam *and* every image of it — seeing another grader's
  verdict on the eye must not bias the reader's grades of its images. Adjudicators and admins
  read every row. Only the author writes a row (admins too).

The study's three group roles, where they exist already, get the privileges
``store.pg_roles.GRANTS`` gives them from now on (graders: read, insert, update; reviewers the
same; admins also delete).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("landmarks", "exam_grades")
#: Table privileges per app role (by value), as ``pg_roles.GRANTS`` has them for the new tables.
_GROUP_PRIVILEGES = {
    "grader": "SELECT, INSERT, UPDATE",
    "adjudicator": "SELECT, INSERT, UPDATE",
    "admin": "SELECT, INSERT, UPDATE, DELETE",
}
_FUNCTIONS = ("rop_exam_visible(integer, text)",)


def _common() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "landmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("grader_id", sa.Integer(), nullable=False),
        sa.Column("disc_x", sa.Float(), nullable=True),
        sa.Column("disc_y", sa.Float(), nullable=True),
        sa.Column("disc_r", sa.Float(), nullable=True),
        sa.Column("fovea_x", sa.Float(), nullable=True),
        sa.Column("fovea_y", sa.Float(), nullable=True),
        sa.Column(
            "suggested_zone",
            sa.Enum(
                "I",
                "posterior II",
                "II",
                "III",
                "na",
                name="zone",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("suggestion", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("zone_decision", sa.String(length=16), nullable=True),
        sa.Column(
            "decided_zone",
            sa.Enum(
                "I",
                "posterior II",
                "II",
                "III",
                "na",
                name="zone",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=True,
        ),
        *_common(),
        sa.ForeignKeyConstraint(["grader_id"], ["graders.id"], name=op.f("fk_landmarks_grader_id_graders")),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_landmarks_image_id_images"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landmarks")),
        sa.UniqueConstraint("image_id", "grader_id", name=op.f("uq_landmarks_image_id_grader_id")),
    )
    op.create_index(op.f("ix_landmarks_grader_id"), "landmarks", ["grader_id"])
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
        "exam_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column(
            "eye",
            sa.Enum("OD", "OS", name="eye", native_enum=False, create_constraint=False, length=32),
            nullable=False,
        ),
        sa.Column("grader_id", sa.Integer(), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prefill", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("rop", enum("rop"), nullable=True),
        sa.Column("stage", enum("stage"), nullable=True),
        sa.Column("zone", enum("zone"), nullable=True),
        sa.Column("plus", enum("plus"), nullable=True),
        sa.Column("arop", sa.Boolean(), nullable=True),
        sa.Column("extent_clock_hours", sa.Integer(), nullable=True),
        sa.Column("quality", enum("quality"), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_exam_grades_exam_id_exams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["grader_id"], ["graders.id"], name=op.f("fk_exam_grades_grader_id_graders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_grades")),
        sa.UniqueConstraint("exam_id", "eye", "grader_id", name=op.f("uq_exam_grades_exam_id_eye_grader_id")),
    )
    op.create_index("ix_exam_grades_grader_id_submitted", "exam_grades", ["grader_id", "submitted"])
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        s = _schema()
        for table in _TABLES:
            for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.{table}")
        for function in _FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {s}.{function}")
    op.drop_index("ix_exam_grades_grader_id_submitted", table_name="exam_grades")
    op.drop_table("exam_grades")
    op.drop_index(op.f("ix_landmarks_grader_id"), table_name="landmarks")
    op.drop_table("landmarks")


# ---------------------------------------------------------------------------- PostgreSQL
def _schema() -> str:
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def _secure() -> None:
    s = _schema()
    definer = "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
    # policy for eye-level work (services.exams): others' eye-level grades of one eye at one visit
    op.execute(f"""CREATE FUNCTION {s}.rop_exam_visible(exam integer, which_eye text) RETURNS boolean {definer} AS $$
        SELECT {s}.rop_is_reviewer()
            OR ({s}.rop_account_id() IS NOT NULL AND (
                NOT {s}.rop_grading_setting('grading.blinded', true)
                OR ({s}.rop_grading_setting('grading.reveal_after_submit', true)
                    AND EXISTS (SELECT 1 FROM {s}.exam_grades AS e WHERE e.exam_id = exam AND e.eye = which_eye
                                AND e.grader_id = {s}.rop_account_id() AND e.submitted)
                    AND NOT EXISTS (SELECT 1 FROM {s}.images AS i WHERE i.exam_id = exam AND i.eye = which_eye
                                    AND NOT {s}.rop_own_submitted(i.id))))) $$""")
    me = f"(SELECT {s}.rop_account_id())"
    reviewer = f"(SELECT {s}.rop_is_reviewer())"
    admin = f"(SELECT {s}.rop_is_admin())"
    own_work = f"(grader_id = {me} OR {admin})"
    readable = {
        "landmarks": f"grader_id = {me} OR {reviewer} OR {s}.rop_work_visible(image_id, grader_id)",
        "exam_grades": f"grader_id = {me} OR {reviewer} OR (submitted AND {s}.rop_exam_visible(exam_id, eye))",
    }
    for table, read in readable.items():
        op.execute(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY rop_read ON {s}.{table} FOR SELECT USING ({read})")
        op.execute(f"CREATE POLICY rop_insert ON {s}.{table} FOR INSERT WITH CHECK {own_work}")
        op.execute(f"CREATE POLICY rop_update ON {s}.{table} FOR UPDATE USING {own_work} WITH CHECK {own_work}")
        op.execute(f"CREATE POLICY rop_delete ON {s}.{table} FOR DELETE USING {own_work}")
    # the groups of a study whose roles were made already (pg_roles.GRANTS grants them from now on)
    from rop_desktop.store.pg_roles import group_names

    bind = op.get_bind()
    groups = group_names(str(bind.scalar(sa.text("SELECT current_database()"))))
    for role, group in groups.items():
        if not bind.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}):
            continue
        quoted = bind.dialect.identifier_preparer.quote_identifier(group)
        for table in _TABLES:
            op.execute(f"GRANT {_GROUP_PRIVILEGES[role.value]} ON {s}.{table} TO {quoted}")
            op.execute(f"GRANT USAGE ON SEQUENCE {s}.{table}_id_seq TO {quoted}")

"""Identity kept apart: the ``identities`` table, generated patient codes, pseudonymous image names.

Before this revision a study used the manifest's patient value (often a hospital number, or a
name) as the patient's code and the file's own name (which often holds one) as the image's name,
and both reached every worklist, log and export (issue 13). This revision:

* creates ``identities`` (``store.schema.Identity``): what identifies a patient or an image
  outside the study, kind / value / source, with the SHA-256 of the value to find a hospital
  number again at the next import;
* gives every existing patient a generated code (``P0001``, ``P0002``… in the order the
  patients were created) and moves the old code there as a ``patient_id`` (source ``study``);
* gives every existing image a pseudonymous name (``<code>-<OD|OS|NA>-<exam date|undated>-<n>``,
  ``n`` counting the patient's images of that eye by exam date) and moves its old name
  (``file_name``) and source path (``source_path``) there; ``images.source_path`` is emptied.

What DICOM files imported earlier hold in their tags stays in the stored files (the study's own
copy) and is removed on export by the de-identification profile; it is not read here.

On PostgreSQL the table gets row-level security that lets only the admins' roles read or write
it (``rop_is_admin()`` of 0004), and the study's admin group role, where it exists already, the
same privileges ``store.pg_roles.GRANTS`` gives it from now on; the grader and reviewer groups
get none.

The formats are frozen here as written (``services.identity``): a migration must not change
meaning when the app's code changes later. ``downgrade`` puts the old codes, names and paths back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADMIN_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"

_patients = sa.table("patients", sa.column("id", sa.Integer()), sa.column("code", sa.String()))
_exams = sa.table(
    "exams", sa.column("id", sa.Integer()), sa.column("patient_id", sa.Integer()), sa.column("exam_date", sa.Date())
)
_images = sa.table(
    "images",
    sa.column("id", sa.Integer()),
    sa.column("exam_id", sa.Integer()),
    sa.column("eye", sa.String()),
    sa.column("original_name", sa.String()),
    sa.column("source_path", sa.String()),
)
_identities = sa.table(
    "identities",
    sa.column("id", sa.Integer()),
    sa.column("patient_id", sa.Integer()),
    sa.column("image_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("value", sa.Text()),
    sa.column("digest", sa.String()),
    sa.column("source", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_identities_image_id_images"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_identities_patient_id_patients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
    )
    op.create_index(op.f("ix_identities_image_id"), "identities", ["image_id"])
    op.create_index(op.f("ix_identities_patient_id"), "identities", ["patient_id"])
    op.create_index("ix_identities_kind_digest", "identities", ["kind", "digest"])
    _move_identity_out()
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def downgrade() -> None:
    _put_identity_back()
    if op.get_bind().dialect.name == "postgresql":
        s = _schema()
        for policy in ("rop_read", "rop_insert", "rop_update", "rop_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {s}.identities")
    op.drop_index("ix_identities_kind_digest", table_name="identities")
    op.drop_index(op.f("ix_identities_patient_id"), table_name="identities")
    op.drop_index(op.f("ix_identities_image_id"), table_name="identities")
    op.drop_table("identities")


# ---------------------------------------------------------------------------- the data
def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _row(patient_id: int, image_id: int | None, kind: str, value: str, now: Any) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "image_id": image_id,
        "kind": kind,
        "value": value,
        "digest": _digest(value),
        "source": "study",
        "created_at": now,
    }


def _move_identity_out() -> None:
    bind = op.get_bind()
    now = bind.execute(sa.select(sa.func.current_timestamp())).scalar_one()
    patients = bind.execute(sa.select(_patients.c.id, _patients.c.code).order_by(_patients.c.id)).all()
    rows: list[dict[str, Any]] = []
    codes: dict[int, str] = {}
    for pid, _ in patients:  # out of the way first: an old code may look like a new one ("P0002")
        bind.execute(sa.update(_patients).where(_patients.c.id == pid).values(code=f"~0006-{pid}"))
    for n, (pid, old) in enumerate(patients, start=1):
        codes[pid] = f"P{n:04d}"
        bind.execute(sa.update(_patients).where(_patients.c.id == pid).values(code=codes[pid]))
        if old and old.strip():
            rows.append(_row(pid, None, "patient_id", old.strip(), now))
    images = bind.execute(
        sa.select(
            _images.c.id,
            _images.c.eye,
            _images.c.original_name,
            _images.c.source_path,
            _exams.c.patient_id,
            _exams.c.exam_date,
        )
        .join(_exams, _images.c.exam_id == _exams.c.id)
        .order_by(_exams.c.patient_id, _exams.c.exam_date.is_(None), _exams.c.exam_date, _images.c.id)
    ).all()
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for image_id, eye, old_name, source_path, pid, exam_date in images:
        token = eye if eye in ("OD", "OS") else "NA"
        counts[(pid, token)] += 1
        when = exam_date.strftime("%Y%m%d") if exam_date else "undated"
        name = f"{codes[pid]}-{token}-{when}-{counts[(pid, token)]:03d}"
        bind.execute(sa.update(_images).where(_images.c.id == image_id).values(original_name=name, source_path=None))
        for kind, value in (("file_name", old_name), ("source_path", source_path)):
            if value and value.strip():
                rows.append(_row(pid, image_id, kind, value.strip(), now))
    if rows:
        bind.execute(sa.insert(_identities), rows)


def _put_identity_back() -> None:
    bind = op.get_bind()
    found: dict[tuple[int, int | None, str], str] = {}
    for pid, image_id, kind, value in bind.execute(
        sa.select(_identities.c.patient_id, _identities.c.image_id, _identities.c.kind, _identities.c.value).order_by(
            _identities.c.id.desc()
        )
    ):
        found[(pid, image_id, kind)] = value  # the oldest value of each kind wins
    patients = bind.execute(sa.select(_patients.c.id, _patients.c.code).order_by(_patients.c.id)).all()
    for pid, _ in patients:  # out of the way first: a new code may be another patient's old one
        bind.execute(sa.update(_patients).where(_patients.c.id == pid).values(code=f"~0006-{pid}"))
    taken: set[str] = set()
    for pid, code in patients:
        old = found.get((pid, None, "patient_id"))
        back = old[:64] if old and old[:64] not in taken else code
        bind.execute(sa.update(_patients).where(_patients.c.id == pid).values(code=back))
        taken.add(back)
    for (_patient_id, image_id, kind), value in found.items():
        if image_id is not None and kind == "file_name":
            bind.execute(sa.update(_images).where(_images.c.id == image_id).values(original_name=value[:512]))
        elif image_id is not None and kind == "source_path":
            bind.execute(sa.update(_images).where(_images.c.id == image_id).values(source_path=value[:2048]))


# ---------------------------------------------------------------------------- PostgreSQL
def _schema() -> str:
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote_identifier(bind.scalar(sa.text("SELECT current_schema()")))


def _secure() -> None:
    s = _schema()
    admin = f"(SELECT {s}.rop_is_admin())"
    op.execute(f"ALTER TABLE {s}.identities ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY rop_read ON {s}.identities FOR SELECT USING ({admin})")
    op.execute(f"CREATE POLICY rop_insert ON {s}.identities FOR INSERT WITH CHECK ({admin})")
    op.execute(f"CREATE POLICY rop_update ON {s}.identities FOR UPDATE USING ({admin}) WITH CHECK ({admin})")
    op.execute(f"CREATE POLICY rop_delete ON {s}.identities FOR DELETE USING ({admin})")
    # the admin group of a study whose roles were made already (pg_roles.GRANTS grants it from now on)
    from rop_desktop.domain.labels import Role
    from rop_desktop.store.pg_roles import group_names

    bind = op.get_bind()
    group = group_names(str(bind.scalar(sa.text("SELECT current_database()"))))[Role.ADMIN]
    if bind.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}):
        quoted = bind.dialect.identifier_preparer.quote_identifier(group)
        op.execute(f"GRANT {_ADMIN_PRIVILEGES} ON {s}.identities TO {quoted}")
        op.execute(f"GRANT USAGE ON SEQUENCE {s}.identities_id_seq TO {quoted}")

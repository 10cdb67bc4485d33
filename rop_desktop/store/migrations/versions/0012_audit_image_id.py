"""An image's history read by its own index (issue 15): ``audit_events.image_id``.

The adjudication view shows each image's history (every grade event and reference event of
that image). It used to read the study's whole trail of grade and reference events and keep
those of the image in Python — work in proportion to the study on every case opened. Events
about one image's work now carry its id in ``image_id`` (``repo.add_audit(image_id=...)``),
indexed with the time, so one image's history is one index range.

Existing events are filled in from what they name: a grade's, an outline's or a landmarks row's
event from that row's image; a reference event from the ``image_id`` its values before or after
carry, else from the reference row it names (a withdrawn reference whose values carry no image
stays unattributed, as the old reading left it out too); a manifest event of an image is that
image. The column has no foreign key: the trail outlives the rows it describes. On PostgreSQL
the column is covered by the grants that exist (graders insert whole rows; reviewers read every
column; graders read only the change feed's columns, of which this is not one).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_events_image_id_at"
#: entity → the table whose row's ``image_id`` an event of that entity names by ``entity_id``.
_ROW_TABLES = {"grade": "grades", "annotation": "annotations", "landmarks": "landmarks", "zone_decision": "landmarks"}


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("image_id", sa.Integer(), nullable=True))
    for entity, table in _ROW_TABLES.items():
        op.execute(
            f"UPDATE audit_events SET image_id = (SELECT t.image_id FROM {table} t "
            f"WHERE t.id = audit_events.entity_id) WHERE entity = '{entity}'"
        )
    op.execute(
        f"UPDATE audit_events SET image_id = {_payload_image_id()} WHERE entity = 'reference' AND image_id IS NULL"
    )
    op.execute(
        "UPDATE audit_events SET image_id = (SELECT r.image_id FROM reference_standard r "
        "WHERE r.id = audit_events.entity_id) WHERE entity = 'reference' AND image_id IS NULL"
    )
    op.execute("UPDATE audit_events SET image_id = entity_id WHERE entity = 'image'")
    op.create_index(INDEX, "audit_events", ["image_id", "at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_events")
    # in place (SQLite >= 3.35), as 0008 drops its column: no table rebuild
    op.execute("ALTER TABLE audit_events DROP COLUMN image_id")


def _payload_image_id() -> str:
    """SQL for the ``image_id`` a reference event's values after (else before) carry."""
    if op.get_bind().dialect.name == "postgresql":
        return (
            "COALESCE(CAST(NULLIF(after ->> 'image_id', '') AS INTEGER), "
            "CAST(NULLIF(before ->> 'image_id', '') AS INTEGER))"
        )
    return (
        "COALESCE(CAST(json_extract(after, '$.image_id') AS INTEGER), "
        "CAST(json_extract(before, '$.image_id') AS INTEGER))"
    )

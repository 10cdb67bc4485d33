"""Screening-programme scale: the indexes behind every interactive query, and the prediction
numbers the worklist sorts by as columns.

Every click of the window is one indexed query over a page (issue 15), whatever the study's size:

* ``grades (grader_id, submitted, image_id)`` — one grader's work: next to do, the worklist's
  status filters, its counts (index-only). It replaces ``ix_grades_grader_id`` (its prefix).
* ``grades (image_id, submitted)`` — the submitted votes of an image: the adjudication queue
  counts them without reading the rows.
* ``images (original_name, id)``, ``images (eye, id)``, ``exams (camera, id)``,
  ``exams (exam_date, id)`` — the worklist sorted by a column reads one page in index order.
* ``predictions`` gains ``probability``, ``uncertainty``, ``predicted_class`` and ``mask_area``
  (what a batch prediction stores, and the worklist shows); ``(model_version_id, uncertainty)``
  lets "most uncertain first" walk from the most uncertain image. It replaces
  ``ix_predictions_model_version_id``. Existing rows get their numbers from ``payload``.

Nothing changes for PostgreSQL's row-level security: the policies filter rows, and the new
columns of ``predictions`` are covered by the table-wide grants of ``store.pg_roles``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (name, table, columns) of the indexes this revision adds.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_grades_grader_id_submitted_image_id", "grades", ("grader_id", "submitted", "image_id")),
    ("ix_grades_image_id_submitted", "grades", ("image_id", "submitted")),
    ("ix_images_original_name_id", "images", ("original_name", "id")),
    ("ix_images_eye_id", "images", ("eye", "id")),
    ("ix_exams_camera_id", "exams", ("camera", "id")),
    ("ix_exams_exam_date_id", "exams", ("exam_date", "id")),
    ("ix_predictions_model_version_id_uncertainty", "predictions", ("model_version_id", "uncertainty")),
)
#: (name, table, column) of the single-column indexes the new ones make redundant.
REPLACED: tuple[tuple[str, str, str], ...] = (
    ("ix_grades_grader_id", "grades", "grader_id"),
    ("ix_predictions_model_version_id", "predictions", "model_version_id"),
)
_NUMBERS = ("probability", "uncertainty", "predicted_class", "mask_area")
_BACKFILL_CHUNK = 2000


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("probability", sa.Float(), nullable=True))
        batch.add_column(sa.Column("uncertainty", sa.Float(), nullable=True))
        batch.add_column(sa.Column("predicted_class", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("mask_area", sa.Float(), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns))
    for name, table, _column in REPLACED:
        op.drop_index(name, table_name=table)
    _backfill_prediction_numbers()


def downgrade() -> None:
    for name, table, column in REPLACED:
        op.create_index(name, table, [column])
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("predictions") as batch:
        for column in reversed(_NUMBERS):
            batch.drop_column(column)


# ---------------------------------------------------------------------------- existing predictions
def _backfill_prediction_numbers() -> None:
    """Copy the numbers of the predictions cached before this revision out of their payload.

    The formulas are frozen here as they were written (``services.predictions.ModelOutput``):
    a migration must not change meaning when the app's code changes later."""
    bind = op.get_bind()
    table = sa.table(
        "predictions",
        sa.column("id", sa.Integer()),
        sa.column("payload", sa.JSON()),
        *(sa.column(name) for name in _NUMBERS),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.payload).where(table.c.id > last).order_by(table.c.id).limit(_BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        for row_id, payload in rows:
            numbers = prediction_numbers(payload or {})
            if any(value is not None for value in numbers.values()):
                bind.execute(sa.update(table).where(table.c.id == row_id).values(**numbers))
        last = rows[-1][0]


def prediction_numbers(payload: dict[str, Any]) -> dict[str, Any]:
    """probability, uncertainty and predicted class of a stored payload (mask area is unknown)."""
    probability = payload.get("probability")
    classes = payload.get("class_probabilities") or {}
    uncertainty = None
    if isinstance(probability, (int, float)):
        t = payload.get("threshold")
        t = float(t) if isinstance(t, (int, float)) else 0.5
        distance = float(probability) - t
        scale = (1 - t) if distance > 0 else t
        uncertainty = 1.0 - min(1.0, abs(distance) / max(scale, 1e-6))
    elif classes:
        uncertainty = 1.0 - max(float(v) for v in classes.values())
    predicted = payload.get("predicted_class")
    return {
        "probability": float(probability) if isinstance(probability, (int, float)) else None,
        "uncertainty": uncertainty,
        "predicted_class": str(predicted)[:64] if predicted is not None else None,
        "mask_area": None,
    }

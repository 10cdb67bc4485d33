"""Typed query helpers for the services. Thin: business rules live in ``rop_desktop.services``.

Every function takes the session first and flushes what it adds (so ids exist); committing is
the caller's ``session_scope``'s job. Rows may be passed as objects or ids.
"""

from __future__ import annotations

from .audit import add_audit, all_settings, audit_trail, get_setting, image_history, own_events, set_setting
from .grading import (
    add_annotation,
    annotation_by_uid,
    annotations_for,
    get_or_create_grader,
    grade_for,
    grades_by_grader,
    grades_for_image,
    list_graders,
    list_references,
    reference_for,
    set_reference,
    upsert_grade,
)
from .images import (
    add_image,
    count_images,
    find_image_by_sha,
    get_or_create_exam,
    get_or_create_patient,
    list_images,
)
from .ml import (
    activate_model_version,
    active_model_version,
    add_model_version,
    finish_run,
    list_model_versions,
    predicted_image_ids,
    prediction_for,
    predictions_of,
    start_run,
    upsert_prediction,
)

__all__ = [
    "activate_model_version",
    "active_model_version",
    "add_annotation",
    "add_audit",
    "add_image",
    "add_model_version",
    "all_settings",
    "annotation_by_uid",
    "annotations_for",
    "audit_trail",
    "count_images",
    "find_image_by_sha",
    "finish_run",
    "get_or_create_exam",
    "get_or_create_grader",
    "get_or_create_patient",
    "get_setting",
    "grade_for",
    "grades_by_grader",
    "grades_for_image",
    "image_history",
    "list_graders",
    "list_images",
    "list_model_versions",
    "list_references",
    "own_events",
    "predicted_image_ids",
    "prediction_for",
    "predictions_of",
    "reference_for",
    "set_reference",
    "set_setting",
    "start_run",
    "upsert_grade",
    "upsert_prediction",
]

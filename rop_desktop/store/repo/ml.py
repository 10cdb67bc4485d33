"""Model versions, training runs and cached predictions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..schema import Image, ModelVersion, Prediction, TrainingRun
from ..types import utcnow
from ._refs import id_of


def add_model_version(
    session: Session,
    *,
    name: str,
    task: str,
    architecture: str,
    bundle_path: str,
    card: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    snapshot_hash: str | None = None,
) -> ModelVersion:
    """Register a model bundle (stored under models/) as an inactive version and flush."""
    version = ModelVersion(
        name=name,
        task=task,
        architecture=architecture,
        bundle_path=bundle_path,
        card=card or {},
        metrics=metrics or {},
        snapshot_hash=snapshot_hash,
        active=False,
    )
    session.add(version)
    session.flush()
    return version


def list_model_versions(session: Session, task: str | None = None) -> list[ModelVersion]:
    """Registered versions, newest first."""
    stmt = select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    if task is not None:
        stmt = stmt.where(ModelVersion.task == task)
    return list(session.scalars(stmt))


def active_model_version(session: Session, task: str) -> ModelVersion | None:
    """The version in use for ``task``, if any."""
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.task == task, ModelVersion.active.is_(True))
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )


def activate_model_version(session: Session, version: ModelVersion) -> None:
    """Make ``version`` the only active one of its task."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.task == version.task, ModelVersion.id != version.id)
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    version.active = True
    session.flush()


def start_run(
    session: Session, *, task: str, architecture: str, config: dict[str, Any], snapshot_hash: str | None = None
) -> TrainingRun:
    """Record a training run that starts now, status "running", and flush."""
    run = TrainingRun(
        task=task,
        architecture=architecture,
        config=config,
        status="running",
        snapshot_hash=snapshot_hash,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run: TrainingRun,
    status: str,
    *,
    reason: str | None = None,
    model_version: ModelVersion | int | None = None,
    at: datetime | None = None,
) -> TrainingRun:
    """Close a run as "finished", "failed" or "cancelled" (with the reason) and flush."""
    run.status = status
    run.reason = reason
    run.finished_at = at or utcnow()
    if model_version is not None:
        run.model_version_id = id_of(model_version)
    session.flush()
    return run


def prediction_for(session: Session, image: Image | int, model_version: ModelVersion | int) -> Prediction | None:
    """The cached prediction of this model version for this image, if any."""
    return session.scalar(
        select(Prediction).where(
            Prediction.image_id == id_of(image), Prediction.model_version_id == id_of(model_version)
        )
    )


#: The numbers of a prediction kept as columns (what the worklist shows and sorts by).
PREDICTION_NUMBERS = ("probability", "uncertainty", "predicted_class", "mask_area")


def uncertainty_of(
    probability: float | None, threshold: float | None, class_probabilities: dict[str, float] | None
) -> float | None:
    """1 at the operating threshold and 0 at certainty (binary: ``probability`` against
    ``threshold``, 0.5 when unknown), or 1 − the largest class probability (stage models)."""
    if probability is not None:
        t = threshold if threshold is not None else 0.5
        distance = probability - t
        scale = (1 - t) if distance > 0 else t
        return float(1.0 - min(1.0, abs(distance) / max(scale, 1e-6)))
    if class_probabilities:
        return float(1.0 - max(class_probabilities.values()))
    return None


def payload_numbers(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The column values of a prediction from its payload: for a row whose columns are empty (one
    written before they existed, or by hand)."""
    payload = payload or {}
    probability = payload.get("probability")
    probability = float(probability) if isinstance(probability, (int, float)) else None
    threshold = payload.get("threshold")
    classes = payload.get("class_probabilities")
    predicted = payload.get("predicted_class")
    threshold = float(threshold) if isinstance(threshold, (int, float)) else None
    return {
        "probability": probability,
        "uncertainty": uncertainty_of(probability, threshold, classes if isinstance(classes, dict) else None),
        "predicted_class": str(predicted) if predicted is not None else None,
        "mask_area": None,
    }


def upsert_prediction(
    session: Session,
    image: Image | int,
    model_version: ModelVersion | int,
    payload: dict[str, Any],
    *,
    mask_file: str | None = None,
    numbers: dict[str, Any] | None = None,
) -> Prediction:
    """Cache (or replace) a prediction and flush; ``mask_file`` is relative to cache/ (None: no
    maps stored); ``numbers`` fills the columns of :data:`PREDICTION_NUMBERS`."""
    prediction = prediction_for(session, image, model_version)
    if prediction is None:
        prediction = Prediction(image_id=id_of(image), model_version_id=id_of(model_version), payload=payload)
        session.add(prediction)
    prediction.payload = payload
    prediction.mask_file = mask_file
    prediction.created_at = utcnow()
    for name in PREDICTION_NUMBERS:
        setattr(prediction, name, (numbers or {}).get(name))
    session.flush()
    return prediction


def predicted_image_ids(session: Session, model_version: ModelVersion | int, image_ids: Sequence[int]) -> set[int]:
    """Which of ``image_ids`` already have a cached prediction of this version (one query)."""
    if not image_ids:
        return set()
    return set(
        session.scalars(
            select(Prediction.image_id).where(
                Prediction.model_version_id == id_of(model_version), Prediction.image_id.in_(list(image_ids))
            )
        )
    )


def predictions_of(session: Session, model_version: ModelVersion | int) -> list[Prediction]:
    """Every cached prediction of one model version, in image order."""
    return list(
        session.scalars(
            select(Prediction).where(Prediction.model_version_id == id_of(model_version)).order_by(Prediction.image_id)
        )
    )

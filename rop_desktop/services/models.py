"""Model versions of a study: register a trained bundle, list, compare, activate, delete,
export and import bundles.

A bundle is a folder (``weights.safetensors`` + ``card.json``, see ``training.bundle``). Bundles
registered in a study are copied under ``models/<task>-<n>-<hash>/`` so the study stays
self-contained. Imported bundles are validated by loading them as weights only — a pickle or a
card from elsewhere is refused with the reason, and nothing is registered.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rop_desktop.store import Study, repo
from rop_desktop.store.schema import ModelVersion

from .model_figures import NO_THRESHOLD, threshold_label
from .policy import Action, Actor, current, guarded

if TYPE_CHECKING:  # training.bundle loads torch (~2 s): imported where a bundle is read, not when the window opens
    from training.bundle import ModelCard
    from training.weights import ImportedWeights

#: App-level tasks: the three things a model can do for a grader.
APP_TASKS = ("binary", "stage", "segmentation")
_FROM_TRAIN_TASK = {"binary": "binary", "stage3": "stage", "segmentation": "segmentation", "instance": "segmentation"}
_FROM_CARD_TASK = {
    "binary": "binary",
    "multiclass": "stage",
    "segmentation": "segmentation",
    "instance_segmentation": "segmentation",
}


class ModelServiceError(ValueError):
    """A model action that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class ModelVersionInfo:
    id: int
    name: str
    task: str
    architecture: str
    active: bool
    created_at: datetime
    metrics: dict[str, Any]
    snapshot_hash: str | None
    bundle_dir: Path
    notes: list[str]
    #: The card's threshold (binary: operating threshold; line: mask threshold) and where it was chosen.
    threshold: float | None = None
    threshold_source: str | None = None

    def threshold_label(self) -> str:
        """The threshold as every part of the app shows it (:func:`model_figures.threshold_label`)."""
        return threshold_label(self.task, self.threshold, self.threshold_source)


def app_task(card: ModelCard) -> str:
    """Which app task a bundle serves (binary ROP, stage, line segmentation)."""
    train_task = str(card.config.get("task", "")) if isinstance(card.config, dict) else ""
    task = _FROM_TRAIN_TASK.get(train_task) or _FROM_CARD_TASK.get(card.task)
    if task is None:
        raise ModelServiceError(f"the bundle's task {card.task!r} is not one the app can use")
    return task


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("card.json", "weights.safetensors"):
        path = folder / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


class ModelService:
    """Model versions of one study, as one signed-in account sees and manages them."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="use model versions")

    def _info(self, v: ModelVersion) -> ModelVersionInfo:
        card = v.card or {}
        metrics = dict(v.metrics or {})
        threshold, source = card.get("threshold"), metrics.get("threshold_source")
        if not isinstance(threshold, (int, float)):
            source = NO_THRESHOLD  # the predictor cuts at 0.5
        return ModelVersionInfo(
            v.id,
            v.name,
            v.task,
            v.architecture,
            v.active,
            v.created_at,
            metrics,
            v.snapshot_hash,
            self.study.model_path(v.bundle_path),
            list(card.get("notes", [])),
            float(threshold) if isinstance(threshold, (int, float)) else None,
            source if isinstance(source, str) else None,
        )

    @guarded(Action.MODELS_READ)
    def versions(self, task: str | None = None) -> list[ModelVersionInfo]:
        with self.study.session() as session:
            return [self._info(v) for v in repo.list_model_versions(session, task)]

    @guarded(Action.MODELS_READ)
    def active(self, task: str) -> ModelVersionInfo | None:
        with self.study.session() as session:
            v = repo.active_model_version(session, task)
            return self._info(v) if v else None

    @guarded(Action.MODELS_MANAGE)
    def register(
        self, bundle_dir: str | Path, *, name: str | None = None, activate: bool = False, validate: bool = True
    ) -> ModelVersionInfo:
        """Copy a bundle into the study and register it (inactive unless ``activate``)."""
        from training.bundle import BundleError, load_bundle, read_card

        source = Path(bundle_dir)
        try:
            card = read_card(source)
            if validate:
                load_bundle(source, device="cpu")  # weights only; refuses pickles and mismatches
        except BundleError as exc:
            raise ModelServiceError(f"not a usable model bundle: {exc}") from exc
        task = app_task(card)
        with self.study.session() as session:
            n = len(repo.list_model_versions(session)) + 1
        relative = f"{task}-{n:03d}-{_digest(source)}"
        target = self.study.model_path(relative)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
        try:
            with self.study.session() as session:
                version = repo.add_model_version(
                    session,
                    name=name or card.name or relative,
                    task=task,
                    architecture=card.architecture,
                    bundle_path=relative,
                    card=card.to_dict(),
                    metrics=card.metrics or {},
                    snapshot_hash=card.snapshot_hash,
                )
                if activate:
                    repo.activate_model_version(session, version)
                return self._info(version)
        except Exception:
            shutil.rmtree(target, ignore_errors=True)
            raise

    @guarded(Action.MODELS_MANAGE)
    def activate(self, version_id: int) -> ModelVersionInfo:
        with self.study.session() as session:
            version = session.get(ModelVersion, version_id)
            if version is None:
                raise ModelServiceError(f"model version {version_id} does not exist")
            repo.activate_model_version(session, version)
            return self._info(version)

    @guarded(Action.MODELS_MANAGE)
    def deactivate(self, version_id: int) -> None:
        with self.study.session() as session:
            version = session.get(ModelVersion, version_id)
            if version is not None:
                version.active = False

    @guarded(Action.MODELS_MANAGE)
    def delete(self, version_id: int) -> None:
        """Remove a version, its cached predictions and its bundle folder."""
        with self.study.session() as session:
            version = session.get(ModelVersion, version_id)
            if version is None:
                return
            folder = self.study.model_path(version.bundle_path)
            session.delete(version)
        shutil.rmtree(folder, ignore_errors=True)

    @guarded(Action.MODELS_MANAGE)
    def export(self, version_id: int, destination: str | Path) -> Path:
        """Copy the version's bundle folder to ``destination`` (a new folder)."""
        with self.study.session() as session:
            version = session.get(ModelVersion, version_id)
            if version is None:
                raise ModelServiceError(f"model version {version_id} does not exist")
            source = self.study.model_path(version.bundle_path)
        target = Path(destination)
        if target.exists() and any(target.iterdir()):
            raise ModelServiceError(f"{target} is not empty")
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target

    @guarded(Action.MODELS_MANAGE)
    def import_pretrained(self, path: str | Path) -> ImportedWeights:
        """Pretrained weights fetched on another machine (``rop-train weights import FILE``, the same
        logic): verified by their published SHA-256, stored in the torch cache where the model
        factories look; ``.models`` / ``.describe()`` say which models now start pretrained. A file
        that is no known checkpoint is refused (``ModelServiceError`` with the reason)."""
        from training.weights import PretrainedWeightsError, import_weights

        try:
            return import_weights(path)
        except PretrainedWeightsError as exc:
            raise ModelServiceError(f"Not imported: {exc.reason}") from exc

    @guarded(Action.MODELS_MANAGE)
    def import_bundle(self, folder: str | Path, *, activate: bool = False) -> ModelVersionInfo:
        """Register a bundle received from elsewhere (validated as weights only)."""
        return self.register(folder, activate=activate, validate=True)

"""Train a built-in model from the study's reference standard.

``TrainingService.plan(...)`` exports a dataset snapshot of the reference standard *now* (so
grading may go on while the model trains) and records a TrainingRun; ``run(plan, control)`` is
a generator of ``training.events`` that the app's worker relays as signals. At the end the
bundle is registered as a model version (the run's test-split metrics on its card); a failed or
cancelled run is recorded with its reason. Nothing here touches Qt.
"""

from __future__ import annotations

import traceback
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from rop_desktop.services.export import ExportError, export_snapshot
from rop_desktop.services.models import ModelService, ModelServiceError, ModelVersionInfo
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Reference, TrainingRun
from training.config import TrainConfig, recipe
from training.events import Cancelled, Event, Failed, Finished, Log

from .policy import Action, Actor, current, guarded

if TYPE_CHECKING:  # training.engine loads torch (~2 s): imported when a run starts, not when the window opens
    from training.engine import RunControl

#: App task → (training task, snapshot filter).
TASKS: dict[str, tuple[str, str]] = {
    "binary": ("binary", "binary"),
    "stage": ("stage3", "stage3"),
    "segmentation": ("segmentation", "segmentation"),
}
#: The choices offered per app task: (architecture, recipe) — CPU-friendly ones first.
ARCHITECTURES: dict[str, list[tuple[str, str]]] = {
    "binary": [
        ("resnet18_cls", "fast_binary"),
        ("resnet18_hybrid", "fast_binary_line"),  # line-first: the default once a line model is active
        ("mobilenetv3_cls", "fast_binary"),
        ("tiny_cnn", "fast_binary"),
        ("rop_base_cnn", "paper_a_base"),
        ("rop_res_cnn", "paper_a_res"),
    ],
    "stage": [
        ("resnet18_hybrid", "fast_hybrid"),
        ("resnet18_cls", "fast_stage"),
        ("stage_classifier", "paper_b_classifier"),
        ("hybrid", "paper_b_hybrid"),
        ("tiny_cnn", "paper_b_classifier"),
    ],
    "segmentation": [("unet_small", "fast_line"), ("lraspp_line", "fast_line"), ("tiny_unet", "fast_line")],
}
AUTO_UPDATE_SETTING = "training.auto_update_every"


class TrainingSetupError(ValueError):
    """The run cannot start (no reference labels, bad choice); the message is for the user."""


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    task: str
    config: TrainConfig
    snapshot_dir: Path
    snapshot_hash: str
    run_dir: Path
    init_bundle: Path | None
    n_records: int
    #: The active line model whose predicted masks a hybrid is validated and tested on (None: not a hybrid).
    line_bundle: Path | None = None


def default_architecture(task: str, cuda: bool, line_model: bool = False) -> str:
    """Fast models on a CPU, the papers' models on CUDA. ``line_model``: the study has an active
    line model, so ROP yes/no on a CPU is line-first (``fast_binary_line``, the measured best:
    training/README.md) — without one, the image-only classifier."""
    if task == "binary":
        if cuda:
            return "rop_res_cnn"
        return "resnet18_hybrid" if line_model else "resnet18_cls"
    if task == "stage":  # on a CPU paper B's line-first idea with the U-Net line model's masks
        return "hybrid" if cuda else "resnet18_hybrid"
    return "unet_small"


class TrainingService:
    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="train models")
        self.models = ModelService(study, self.actor)

    @guarded(Action.MODELS_MANAGE)
    def config_for(self, task: str, architecture: str, **overrides: Any) -> TrainConfig:
        if task not in TASKS:
            raise TrainingSetupError(f"unknown task {task!r}")
        recipes = dict(ARCHITECTURES[task])
        base = recipe(recipes.get(architecture, ARCHITECTURES[task][0][1]))
        train_task = TASKS[task][0]
        config = base.with_(task=train_task, architecture=architecture)
        if task == "stage" and architecture == "hybrid":
            config = config.with_(preset_overrides={**config.preset_overrides, "mask_channel": True})
        clean = {k: v for k, v in overrides.items() if v is not None}
        return config.with_(**clean)

    @guarded(Action.MODELS_MANAGE)
    def plan(self, task: str, architecture: str, *, fine_tune: bool = True, **overrides: Any) -> RunPlan:
        """Snapshot the reference standard and record a run (status "running")."""
        config = self.config_for(task, architecture, **overrides)
        line_bundle = self._line_bundle(task, config)
        init_bundle = None
        active = self.models.active(task)
        if fine_tune and active is not None and active.architecture == architecture:
            init_bundle = active.bundle_dir
        with self.study.session() as session:
            run = repo.start_run(session, task=task, architecture=architecture, config=config.to_dict())
            run_id = run.id
        run_dir = self.study.cache_path(f"runs/{run_id:04d}")
        snapshot_dir = run_dir / "snapshot"
        try:
            snapshot = export_snapshot(self.study, self.actor, snapshot_dir, task_filter=TASKS[task][1])
        except ExportError as exc:
            self._finish(run_id, "failed", f"the dataset could not be exported: {exc}")
            raise TrainingSetupError(str(exc)) from exc
        n = len(snapshot.records)
        if n < 4:
            self._finish(run_id, "failed", f"only {n} images have a usable reference label for this task")
            raise TrainingSetupError(
                f"Only {n} images have a reference label usable for this task; settle more "
                "grades (majority vote or adjudication) before training."
            )
        digest = snapshot.content_hash()
        with self.study.session() as session:
            session.get_one(TrainingRun, run_id).snapshot_hash = digest
        return RunPlan(run_id, task, config, snapshot_dir, digest, run_dir, init_bundle, n, line_bundle)

    def _line_bundle(self, task: str, config: TrainConfig) -> Path | None:
        """The active line model for a model that reads the line mask: its validation split, its
        operating threshold and its test figures are then computed on the masks that model
        predicts — what the model will see in use. A line-first ROP yes/no model is refused
        without one (its threshold chosen on hand-drawn masks would mean nothing); a hybrid stage
        model then falls back to the reference masks (its card calls the figures an upper bound)."""
        from training.presets import get_preset

        if not get_preset(config.preset, **config.preset_overrides).mask_channel:
            return None
        line = self.models.active("segmentation")
        if line is not None:
            return line.bundle_dir
        if task == "binary":
            raise TrainingSetupError(
                "The line-first ROP model reads the demarcation line that a line model predicts: "
                "train and activate a line model (task: line segmentation) first, or choose an "
                "image-only architecture such as resnet18_cls."
            )
        return None

    @guarded(Action.MODELS_MANAGE)
    def run(self, plan: RunPlan, control: RunControl | None = None) -> Generator[Event, None, ModelVersionInfo | None]:
        """Train; yields the engine's events; returns the registered version (None if it failed)."""
        from training.engine import fit

        end: Event | None = None
        try:
            events = fit(
                plan.config,
                plan.snapshot_dir,
                plan.run_dir / "train",
                control=control,
                init_bundle=plan.init_bundle,
                line_bundle=plan.line_bundle,
            )
            while True:
                try:
                    event = next(events)
                except StopIteration as stop:
                    end = stop.value if isinstance(stop.value, Event) else end
                    break
                if isinstance(event, (Finished, Failed, Cancelled)):
                    end = event
                yield event
        except GeneratorExit:
            self._finish(plan.run_id, "cancelled", "stopped by the user")
            raise
        except Exception as exc:  # noqa: BLE001 - recorded and shown, the window stays usable
            reason = f"{type(exc).__name__}: {exc}"
            self._finish(plan.run_id, "failed", reason)
            yield Failed(reason=reason, category="error")
            yield Log(traceback.format_exc(), level="debug")
            return None
        if isinstance(end, Finished):
            try:
                version = self.models.register(end.bundle_dir, name=f"{plan.task} run {plan.run_id}")
            except ModelServiceError as exc:
                self._finish(plan.run_id, "failed", f"the trained bundle could not be registered: {exc}")
                yield Failed(reason=str(exc), category="error")
                return None
            self._finish(plan.run_id, "finished", None, version.id)
            return version
        if isinstance(end, Failed):
            self._finish(plan.run_id, "failed", f"{end.category}: {end.reason}")
        elif isinstance(end, Cancelled):
            self._finish(plan.run_id, "cancelled", "stopped by the user")
        else:
            self._finish(plan.run_id, "failed", "the run ended without a result")
        return None

    def _finish(self, run_id: int, status: str, reason: str | None, version_id: int | None = None) -> None:
        with self.study.session() as session:
            run = session.get(TrainingRun, run_id)
            if run is None or run.status in ("finished", "failed", "cancelled"):
                return
            repo.finish_run(session, run, status, reason=reason, model_version=version_id)

    @guarded(Action.MODELS_READ)
    def runs(self) -> list[dict[str, Any]]:
        with self.study.session() as session:
            rows = session.query(TrainingRun).order_by(TrainingRun.id.desc()).all()
            return [
                {
                    "id": r.id,
                    "task": r.task,
                    "architecture": r.architecture,
                    "status": r.status,
                    "reason": r.reason,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "model_version_id": r.model_version_id,
                }
                for r in rows
            ]

    # ------------------------------------------------------------------ auto-update
    @guarded(Action.MODELS_READ)
    def auto_update_every(self) -> int | None:
        with self.study.session() as session:
            value = repo.get_setting(session, AUTO_UPDATE_SETTING)
            return int(value) if value else None

    @guarded(Action.MODELS_MANAGE)
    def set_auto_update_every(self, n: int | None) -> None:
        with self.study.session() as session:
            before = repo.get_setting(session, AUTO_UPDATE_SETTING)
            repo.set_setting(session, AUTO_UPDATE_SETTING, int(n) if n else None)
            repo.add_audit(
                session,
                "setting",
                0,
                "update",
                grader=self.actor.id,
                before={"key": AUTO_UPDATE_SETTING, "value": before},
                after={"key": AUTO_UPDATE_SETTING, "value": int(n) if n else None},
            )

    @guarded(Action.MODELS_MANAGE)
    def new_labels_since_last_run(self, task: str) -> int:
        """Reference labels decided after the last finished run of ``task`` started."""
        with self.study.session() as session:
            last = (
                session.query(TrainingRun)
                .filter(TrainingRun.task == task, TrainingRun.status == "finished")
                .order_by(TrainingRun.id.desc())
                .first()
            )
            # counted in the database: this runs after every submit when auto-update is on
            decided = select(func.count()).select_from(Reference)
            if last is not None:
                decided = decided.where(Reference.decided_at > last.started_at)
            return int(session.scalar(decided) or 0)

    @guarded(Action.MODELS_MANAGE)
    def auto_update_due(self, task: str) -> bool:
        every = self.auto_update_every()
        return every is not None and every > 0 and self.new_labels_since_last_run(task) >= every

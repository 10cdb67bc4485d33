"""What differs between the four training tasks: records, dataset, loss, validation metrics.

``binary`` (paper A, ROP yes/no), ``stage3`` (paper B, stages 1–3; the hybrid input when the
preset has a mask channel), ``segmentation`` (line mask, BCE + Dice) and ``instance`` (Mask
R-CNN on the line mask split into connected components). The loop calls the same methods of
:class:`Task` for each; validation returns one row per image so that rows can be gathered across
ranks and de-duplicated by dataset index before the metrics are computed.
"""

from __future__ import annotations

from training.config import TrainConfig
from training.engine.tasks.base import ConfigError, Row, Task
from training.engine.tasks.classify import AUX_WEIGHT, BinaryTask, StageTask
from training.engine.tasks.instance import InstanceTask, instance_target, mask_instances
from training.engine.tasks.segment import SegmentationTask, soft_dice_loss
from training.models import model_info

__all__ = [
    "AUX_WEIGHT",
    "TASK_TYPES",
    "BinaryTask",
    "ConfigError",
    "InstanceTask",
    "Row",
    "SegmentationTask",
    "StageTask",
    "Task",
    "check_config",
    "instance_target",
    "make_task",
    "mask_instances",
    "soft_dice_loss",
]

TASK_TYPES: dict[str, type[Task]] = {
    "binary": BinaryTask,
    "stage3": StageTask,
    "segmentation": SegmentationTask,
    "instance": InstanceTask,
}


def make_task(config: TrainConfig, snapshot_classes: dict[str, list[str]]) -> Task:
    """The task of ``config``; :class:`ConfigError` when the architecture does not fit it."""
    check_config(config)
    return TASK_TYPES[config.task](config, snapshot_classes)


def check_config(config: TrainConfig) -> None:
    """Refuse configurations that cannot run, before any data is read (:class:`ConfigError`)."""
    from training.models import ModelError, list_models

    try:
        info = model_info(config.architecture)
    except ModelError as exc:
        raise ConfigError(exc.reason) from None
    fits = TASK_TYPES[config.task].registry_tasks
    if info.task not in fits:
        suggestions = ", ".join(n for n in list_models() if model_info(n).task in fits)
        raise ConfigError(
            f"architecture {config.architecture!r} is a {info.task} model; task {config.task!r} "
            f"needs one of: {suggestions}"
        )
    if config.mask_channel not in ("true", "none"):
        raise ConfigError(
            f"mask_channel must be 'true' (reference masks) or 'none' (empty masks), got {config.mask_channel!r}"
        )
    if config.positive_fraction is not None and not 0.0 < config.positive_fraction < 1.0:
        raise ConfigError(f"positive_fraction must be in (0, 1) or null, got {config.positive_fraction}")
    if config.checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every must be at least 1, got {config.checkpoint_every}")
    if not 0.0 < config.target_sensitivity <= 1.0:
        raise ConfigError(f"target_sensitivity must be in (0, 1], got {config.target_sensitivity}")

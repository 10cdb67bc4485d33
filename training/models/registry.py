"""The model registry: a name -> factory table in the style of timm / torchvision.

Every architecture the app or a researcher can train is registered here once, with what a
caller needs to know before building it (task, default input size and channels, the default
Grad-CAM layer, whether it reproduces a paper exactly, whether it is light enough for a laptop
CPU). ``create_model`` builds it and stamps the module with what re-creates it:

- ``model.registry_name``: the registry name;
- ``model.model_kwargs``: the JSON-serialisable keyword arguments that re-create the same
  architecture with ``create_model(name, pretrained=False, **model.model_kwargs)`` (a model
  bundle stores exactly this);
- ``model.pretrained_source``: the file the initial weights came from, or ``None`` (random init).

Read and write them through ``training.models.origin`` (``origin_of``, ``set_pretrained_source``),
which types them.

Conventions of the registered models' outputs:

- classifiers return logits ``(N, num_classes)``; a binary model has ``num_classes=1`` and returns
  one logit per image (sigmoid / ``BCEWithLogitsLoss`` are the caller's);
- semantic segmenters return logits ``(N, num_classes, H, W)`` at the input size;
- instance segmenters are torchvision detection models (list of dicts in eval, loss dict in train).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from training.errors import TrainingError
from training.models.origin import has_pretrained_source, resolved_kwargs, set_pretrained_source, stamp_architecture

Task = Literal["binary", "multiclass", "segmentation", "instance_segmentation"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "segmentation", "instance_segmentation")

#: What ``pretrained=`` accepts: ``"auto"`` (use local weights when present), ``False`` (random
#: init), ``True`` (local weights required) or a path to a weights file.
Pretrained = Any


class ModelError(TrainingError):
    """A model cannot be created: unknown name or bad arguments. ``reason`` says why."""


@runtime_checkable
class L2Regularised(Protocol):
    """A model that carries its own weight penalty (paper A's Keras-style L2 on chosen layers);
    the engine adds ``l2_penalty()`` to the training loss when the run's ``l2`` is on."""

    def l2_penalty(self) -> torch.Tensor: ...


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one architecture before it is built."""

    name: str
    task: Task
    description: str
    default_target_layer: str | None
    input_channels: int
    default_image_size: int
    default_num_classes: int
    factory: Callable[..., nn.Module] = field(repr=False, compare=False)
    paper_exact: bool = False
    cpu_friendly: bool = False
    pretrained_kind: str | None = None
    notes: tuple[str, ...] = ()

    def accepted_kwargs(self) -> list[str]:
        """Names of the architecture-specific keyword arguments of the factory."""
        params = inspect.signature(self.factory).parameters
        return [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in _COMMON_ARGS]


_COMMON_ARGS = ("num_classes", "in_channels", "pretrained")
_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    task: Task,
    default_target_layer: str | None,
    input_channels: int,
    default_image_size: int,
    description: str,
    default_num_classes: int = 1,
    paper_exact: bool = False,
    cpu_friendly: bool = False,
    pretrained_kind: str | None = None,
    notes: tuple[str, ...] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``factory(*, num_classes, in_channels, pretrained, **kwargs)``.

    The factory's other keyword-only arguments are the architecture's options; they must be
    JSON-serialisable (they travel in a bundle's card). A factory may set
    ``set_resolved_kwargs(model, {...})`` (``training.models.origin``) to record choices it made from the environment (e.g. the
    normalisation layer picked because pretrained weights were found), so that a bundle
    re-creates the same module tree.
    """
    if task not in TASKS:
        raise ModelError(f"task {task!r} of model {name!r} is not one of {', '.join(TASKS)}")

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ModelError(f"model {name!r} is already registered")
        params = inspect.signature(factory).parameters
        missing = [a for a in _COMMON_ARGS if a not in params]
        if missing:
            raise ModelError(f"factory of {name!r} lacks keyword argument(s) {', '.join(missing)}")
        _REGISTRY[name] = ModelInfo(
            name=name,
            task=task,
            description=description,
            default_target_layer=default_target_layer,
            input_channels=input_channels,
            default_image_size=default_image_size,
            default_num_classes=default_num_classes,
            paper_exact=paper_exact,
            cpu_friendly=cpu_friendly,
            pretrained_kind=pretrained_kind,
            notes=tuple(notes),
            factory=factory,
        )
        return factory

    return decorator


def list_models(task: Task | None = None) -> list[str]:
    """Registered model names (sorted), optionally only those whose default task is ``task``."""
    if task is not None and task not in TASKS:
        raise ModelError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    return sorted(n for n, info in _REGISTRY.items() if task is None or info.task == task)


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; ``ModelError`` when unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; registered: {', '.join(list_models())}") from None


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    pretrained: Pretrained = "auto",
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    ``num_classes`` / ``in_channels`` default to the entry's values. ``pretrained``: ``"auto"``
    loads ImageNet/COCO weights found in the local torch cache (never downloads) and otherwise
    starts from random weights and logs it; ``False`` never loads; ``True`` requires local weights;
    a path loads that file (``torch.load(weights_only=True)`` or safetensors).
    """
    info = model_info(name)
    num_classes = info.default_num_classes if num_classes is None else int(num_classes)
    in_channels = info.input_channels if in_channels is None else int(in_channels)
    if num_classes < 1:
        raise ModelError(f"num_classes must be >= 1 for {name!r}, got {num_classes}")
    if in_channels < 1:
        raise ModelError(f"in_channels must be >= 1 for {name!r}, got {in_channels}")
    accepted = info.accepted_kwargs()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ModelError(
            f"unknown argument(s) {', '.join(unknown)} for model {name!r}; accepted: {', '.join(accepted) or 'none'}"
        )
    model = info.factory(num_classes=num_classes, in_channels=in_channels, pretrained=pretrained, **kwargs)
    # Record every option with its default filled in, so that a bundle re-creates this exact
    # architecture even if a later version changes a default.
    defaults = {
        n: p.default
        for n, p in inspect.signature(info.factory).parameters.items()
        if n in accepted and p.default is not inspect.Parameter.empty
    }
    stamp_architecture(
        model,
        name,
        {"num_classes": num_classes, "in_channels": in_channels, **defaults, **kwargs, **resolved_kwargs(model)},
    )
    if not has_pretrained_source(model):
        set_pretrained_source(model, None)
    return model

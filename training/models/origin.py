"""What a built network remembers about its making: registry name, options and initial weights.

``create_model`` stamps three plain attributes on the module it returns (``registry_name``,
``model_kwargs``, ``pretrained_source``; see ``registry.py``) so that a bundle can re-create the
architecture and say where its starting weights came from. They stay plain attributes because
the returned module is often torchvision's own class, and because ``copy.deepcopy`` and pickling
keep them. torch types attribute access on ``nn.Module`` as "a tensor or a sub-module", so a
plain value read or written as ``model.pretrained_source`` does not type-check; these functions
are the typed door to them, and the one place that names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

_NAME = "registry_name"
_KWARGS = "model_kwargs"
_PRETRAINED = "pretrained_source"
_RESOLVED = "resolved_kwargs"


@dataclass(frozen=True)
class ModelOrigin:
    """How a module was made: ``create_model(registry_name, pretrained=False, **model_kwargs)``
    re-creates its architecture; ``pretrained_source`` is the file (or ``bundle:<dir>``) its
    initial weights came from, ``None`` for random initialisation."""

    registry_name: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained_source: str | None = None


def origin_of(model: nn.Module) -> ModelOrigin:
    """The origin recorded on ``model``; empty fields for a module built outside the registry."""
    values = vars(model)
    name = values.get(_NAME)
    kwargs = values.get(_KWARGS)
    source = values.get(_PRETRAINED)
    return ModelOrigin(
        registry_name=name if isinstance(name, str) else None,
        model_kwargs=dict(kwargs) if isinstance(kwargs, dict) else {},
        pretrained_source=source if isinstance(source, str) else None,
    )


def stamp_architecture(model: nn.Module, registry_name: str, model_kwargs: dict[str, Any]) -> None:
    """Record the registry name and the options (defaults filled in) that re-create ``model``."""
    # Plain instance attributes, exactly what nn.Module.__setattr__ does for a non-tensor value.
    vars(model)[_NAME] = registry_name
    vars(model)[_KWARGS] = dict(model_kwargs)


def set_pretrained_source(model: nn.Module, source: str | Path | None) -> None:
    """Record where ``model``'s initial weights came from (``None``: random initialisation)."""
    vars(model)[_PRETRAINED] = None if source is None else str(source)


def has_pretrained_source(model: nn.Module) -> bool:
    """Whether a factory already recorded the initial weights (``None`` counts as recorded)."""
    return _PRETRAINED in vars(model)


def set_resolved_kwargs(model: nn.Module, resolved: dict[str, Any]) -> None:
    """Record options a factory chose from the environment (e.g. frozen BatchNorm because
    pretrained weights were found), so that ``create_model`` adds them to ``model_kwargs``."""
    vars(model)[_RESOLVED] = dict(resolved)


def resolved_kwargs(model: nn.Module) -> dict[str, Any]:
    """The options a factory recorded with ``set_resolved_kwargs`` (empty when none)."""
    resolved = vars(model).get(_RESOLVED)
    return dict(resolved) if isinstance(resolved, dict) else {}

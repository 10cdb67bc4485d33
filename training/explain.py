"""Explanations of a model's decision: Grad-CAM saliency and feature maps (paper A's figures).

Both use forward hooks on a named layer; Grad-CAM takes the gradient of the chosen logit with
respect to that layer's output with ``torch.autograd.grad`` (parameters' ``.grad`` untouched).
Works with every registered classifier; its default layer is the registry's
``default_target_layer``. Results are numpy arrays, ready for the UI.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from training.errors import TrainingError
from training.models import main_logits, model_info
from training.models.origin import origin_of

Target = int | Sequence[int] | torch.Tensor | None


class ExplainError(TrainingError):
    """An explanation cannot be computed for this model / layer / input; ``reason`` says why."""


def default_target_layer(model: nn.Module) -> str:
    """The registry's default Grad-CAM layer of a model made by ``create_model``."""
    name = origin_of(model).registry_name
    layer = model_info(name).default_target_layer if name else None
    if not layer:
        raise ExplainError(f"no default target layer known for {type(model).__name__}; name one")
    return layer


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name`` (as in ``named_modules``); ``ExplainError`` with suggestions."""
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, list(modules), n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ExplainError(f"model {type(model).__name__} has no layer {name!r}{hint}")


def list_layers(model: nn.Module, kinds: tuple[type[nn.Module], ...] = (nn.Conv2d,)) -> list[str]:
    """Names of the model's layers of the given kinds (default: 2-D convolutions), in model order,
    for a layer dropdown; pass them to ``feature_maps`` or ``GradCAM``."""
    return [name for name, module in model.named_modules() if name and isinstance(module, kinds)]


class GradCAM:
    """Grad-CAM (Selvaraju et al.) on one layer of a classifier.

    >>> with GradCAM(model) as cam:          # registry's default layer
    ...     saliency = cam(images)           # (N, H, W) float32 in [0, 1]

    ``target``: ``None`` = the predicted class (for a one-logit binary model, the positive
    logit), an int for every image, or one int per image. The map is ReLU(sum_c w_c A_c) with
    w_c the spatial mean of d logit / d A_c, bilinearly upsampled to the input size and
    min-max normalised per image (a constant map becomes all zeros). The model runs in eval mode
    during the call and gets its previous mode back. ``last_logits`` keeps the call's logits.
    """

    def __init__(self, model: nn.Module, target_layer: str | nn.Module | None = None) -> None:
        self.model = model
        if target_layer is None:
            target_layer = default_target_layer(model)
        self.layer_name = target_layer if isinstance(target_layer, str) else type(target_layer).__name__
        self.layer = get_layer(model, target_layer) if isinstance(target_layer, str) else target_layer
        self.last_logits: torch.Tensor | None = None
        self._activation: torch.Tensor | None = None
        self._capturing = False
        self._handle: RemovableHandle | None = self.layer.register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, _inputs: Any, output: Any) -> Any:
        if not self._capturing:
            return None
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise ExplainError(f"layer {self.layer_name} must output an (N, C, H, W) tensor for Grad-CAM")
        self._activation = output
        return output.clone()  # later in-place ops (ReLU(inplace=True)) must not alter what we keep

    def __call__(self, x: torch.Tensor, target: Target = None) -> np.ndarray:
        if self._handle is None:
            raise ExplainError("this GradCAM is closed")
        x = x.detach().clone().requires_grad_(True)  # gradients flow even through frozen layers
        was_training = self.model.training
        self.model.eval()
        self._capturing, self._activation = True, None
        try:
            with torch.enable_grad():
                logits = main_logits(self.model(x))
                activation = self._activation
                if activation is None:
                    raise ExplainError(f"layer {self.layer_name} did not run in the forward pass")
                if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                    raise ExplainError("Grad-CAM needs a classifier returning (N, classes) logits")
                index = self._target_index(logits, target)
                score = logits.gather(1, index[:, None]).sum()
                (grads,) = torch.autograd.grad(score, activation)
        finally:
            self._capturing, self._activation = False, None
            self.model.train(was_training)
        self.last_logits = logits.detach()
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * activation.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        return _minmax(cam).cpu().numpy().astype(np.float32)

    @staticmethod
    def _target_index(logits: torch.Tensor, target: Target) -> torch.Tensor:
        n, classes = logits.shape
        if target is None:
            index = torch.zeros(n, dtype=torch.long) if classes == 1 else logits.argmax(dim=1)
        else:
            index = torch.as_tensor(target, dtype=torch.long).cpu().reshape(-1)
            if index.numel() == 1:
                index = index.expand(n).clone()
        if index.shape != (n,):
            raise ExplainError(f"target must be one class or one per image ({n}), got {index.shape[0]}")
        if bool(((index < 0) | (index >= classes)).any()):
            raise ExplainError(f"target class out of range 0..{classes - 1}: {index.tolist()}")
        return index.to(logits.device)

    def close(self) -> None:
        """Remove the hook; the model is as before."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> GradCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _minmax(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def feature_maps(
    model: nn.Module, x: torch.Tensor | list[torch.Tensor], layer_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """The outputs of ``layer_names`` for the first image of ``x``: ``{name: (C, h, w) float32}``.

    One forward pass in eval mode under ``no_grad`` (the model's mode is restored).
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name: str):
        def hook(_m: nn.Module, _inputs: Any, output: Any) -> None:
            if name not in captured:
                if not isinstance(output, torch.Tensor) or output.dim() != 4:
                    raise ExplainError(f"layer {name} does not output an (N, C, H, W) tensor")
                captured[name] = output[0].detach().clone()

        return hook

    for name in layer_names:
        handles.append(get_layer(model, name).register_forward_hook(hook_for(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    missing = [n for n in layer_names if n not in captured]
    if missing:
        raise ExplainError(f"layer(s) {', '.join(missing)} did not run in the forward pass")
    return {n: captured[n].float().cpu().numpy() for n in layer_names}


def feature_grid(maps: np.ndarray, max_channels: int = 16, gap: int = 1) -> np.ndarray:
    """A uint8 grid image of the ``max_channels`` strongest channels (highest mean activation) of
    one layer's ``(C, h, w)`` maps, each min-max scaled to 0..255, row-major, ``gap`` px apart."""
    if maps.ndim != 3:
        raise ExplainError(f"feature maps must be (C, h, w), got shape {maps.shape}")
    if max_channels < 1:
        raise ExplainError(f"max_channels must be >= 1, got {max_channels}")
    order = np.argsort(-maps.reshape(maps.shape[0], -1).mean(axis=1), kind="stable")[:max_channels]
    chosen = maps[order].astype(np.float64)
    lo = chosen.min(axis=(1, 2), keepdims=True)
    span = chosen.max(axis=(1, 2), keepdims=True) - lo
    tiles = np.where(span > 0, (chosen - lo) / np.where(span > 0, span, 1.0), 0.0)
    tiles = np.round(tiles * 255).astype(np.uint8)
    n, h, w = tiles.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return grid

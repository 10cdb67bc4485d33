"""A model's layer table (leaf modules in execution order with output shapes), as papers print it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    """One executed leaf module: qualified name, class name, output shape (batch removed), parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """Run one zero batch of ``input_shape`` (``(C, H, W)``) through ``model`` in eval mode and list
    the leaf modules that produced tensors, in execution order."""
    rows: list[LayerRow] = []
    handles = []

    def hook_for(name: str, module: nn.Module):
        def hook(_m: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                params = sum(p.numel() for p in module.parameters(recurse=False))
                rows.append(LayerRow(name, type(module).__name__, tuple(output.shape[1:]), params))

        return hook

    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(hook_for(name, module)))
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows

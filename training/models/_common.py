"""Helpers shared by the model families: first-conv surgery and pretrained loading."""

from __future__ import annotations

from typing import Any

from torch import nn

from training.weights import load_pretrained, resolve_pretrained


def replace_conv_in_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` (same options, fresh weights) taking ``in_channels`` inputs."""
    if conv.in_channels == in_channels:
        return conv
    return nn.Conv2d(
        in_channels, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
        padding=conv.padding, dilation=conv.dilation,
        bias=conv.bias is not None, padding_mode=conv.padding_mode,
    )


def init_pretrained(model: nn.Module, pretrained: Any, kind: str | None, *, into: nn.Module | None = None,
                    source_prefix: str = "") -> None:
    """Resolve ``pretrained`` for ``kind`` and load it into ``into`` (default: the model).

    Records the file (or ``None``) as ``model.pretrained_source``.
    """
    path = resolve_pretrained(pretrained, kind)
    model.pretrained_source = None
    if path is not None:
        load_pretrained(into if into is not None else model, path, source_prefix=source_prefix)
        model.pretrained_source = str(path)

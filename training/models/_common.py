"""Helpers shared by the model families: first-conv surgery and pretrained loading."""

from __future__ import annotations

from typing import Any

from torch import nn

from training.models.origin import set_pretrained_source
from training.weights import load_pretrained, resolve_pretrained


def replace_conv_in_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` (same options, fresh weights) taking ``in_channels`` inputs."""
    if conv.in_channels == in_channels:
        return conv
    padding = conv.padding if isinstance(conv.padding, str) else _pair(conv.padding)
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=_pair(conv.kernel_size),
        stride=_pair(conv.stride),
        padding=padding,
        dilation=_pair(conv.dilation),
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A 2-D conv's per-axis option as the ``(h, w)`` pair ``nn.Conv2d`` takes (torch types the
    stored option as a tuple of any length, shared with the 1-D and 3-D convs)."""
    h, w = values
    return h, w


def init_pretrained(
    model: nn.Module, pretrained: Any, kind: str | None, *, into: nn.Module | None = None, source_prefix: str = ""
) -> None:
    """Resolve ``pretrained`` for ``kind`` and load it into ``into`` (default: the model).

    Records the file (or ``None``) as the model's ``pretrained_source`` (``training.models.origin``).
    """
    path = resolve_pretrained(pretrained, kind)
    set_pretrained_source(model, None)
    if path is not None:
        load_pretrained(into if into is not None else model, path, source_prefix=source_prefix)
        set_pretrained_source(model, path)

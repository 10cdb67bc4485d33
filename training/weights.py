"""Pretrained weights from the local torch cache or a given file: never downloaded.

The app must work offline. ``find_pretrained("resnet50")`` looks for the files torchvision would
have downloaded (``<torch hub dir>/checkpoints/<url basename>``, e.g. ``resnet50-11ad3fa6.pth``),
so weights fetched once by any torchvision user, or copied there by hand, are picked up.
``load_pretrained`` loads them with ``torch.load(weights_only=True)`` (or safetensors), adapts an
RGB first convolution to other channel counts, skips shape-mismatched heads and reports all that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import (
    Inception_V3_Weights,
    MobileNet_V3_Large_Weights,
    MobileNet_V3_Small_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    ResNet101_Weights,
)
from torchvision.models._api import WeightsEnum
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights

log = logging.getLogger(__name__)

#: kind -> (dataset the weights were trained on, torchvision weights enum).
PRETRAINED_KINDS: dict[str, tuple[str, type[WeightsEnum]]] = {
    "resnet18": ("ImageNet", ResNet18_Weights),
    "resnet50": ("ImageNet", ResNet50_Weights),
    "resnet101": ("ImageNet", ResNet101_Weights),
    "inception_v3": ("ImageNet", Inception_V3_Weights),
    "mobilenet_v3_large": ("ImageNet", MobileNet_V3_Large_Weights),
    "mobilenet_v3_small": ("ImageNet", MobileNet_V3_Small_Weights),
    "maskrcnn_resnet50_fpn": ("COCO", MaskRCNN_ResNet50_FPN_Weights),
    "lraspp_mobilenet_v3_large": ("COCO", LRASPP_MobileNet_V3_Large_Weights),
}


class PretrainedWeightsError(ValueError):
    """Pretrained weights were asked for and cannot be used; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class PretrainedReport:
    """What ``load_pretrained`` did with each tensor of the file."""

    path: Path
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # first conv averaged over input channels
    skipped: list[str] = field(default_factory=list)  # shape differs (e.g. a replaced class head)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model

    def summary(self) -> str:
        """One line for the log and the model card."""
        return (
            f"{self.path.name}: {len(self.loaded)} tensors loaded, {len(self.adapted)} adapted "
            f"({', '.join(self.adapted) or '-'}), {len(self.skipped)} skipped for shape "
            f"({', '.join(self.skipped[:6]) or '-'}), {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected"
        )


def hub_checkpoint_dir() -> Path:
    """``<torch.hub.get_dir()>/checkpoints``: where torchvision keeps downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def candidate_file_names(kind: str) -> list[str]:
    """File names torchvision gives the weights of ``kind``, its default version first."""
    try:
        _, enum = PRETRAINED_KINDS[kind]
    except KeyError:
        raise PretrainedWeightsError(
            f"no pretrained weights are known for {kind!r}; known: {', '.join(PRETRAINED_KINDS)}"
        ) from None
    members = [enum.DEFAULT] + [w for w in enum if w is not enum.DEFAULT]  # type: ignore[attr-defined]
    return [w.url.rsplit("/", 1)[-1] for w in members]


def find_pretrained(kind: str, explicit: str | Path | None = None) -> Path | None:
    """The local file holding ``kind``'s pretrained weights, or ``None``. Never downloads.

    ``explicit``: a file the user chose; it must exist. Otherwise the torch hub cache is searched
    for torchvision's file names of ``kind`` (``candidate_file_names``).
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(f"pretrained weights file {path} does not exist")
        return path
    folder = hub_checkpoint_dir()
    for name in candidate_file_names(kind):
        path = folder / name
        if path.is_file():
            return path
    return None


def resolve_pretrained(pretrained: Any, kind: str | None) -> Path | None:
    """Turn a ``pretrained=`` argument into a file to load, or ``None`` for random init.

    ``"auto"``: the cached file of ``kind`` if present, else ``None`` with a log message saying
    so; ``False``/``None``: ``None``; ``True``: the cached file, required; a path: that file.
    """
    if pretrained is False or pretrained is None:
        return None
    if isinstance(pretrained, (str, Path)) and str(pretrained) != "auto":
        return find_pretrained(kind or "", explicit=pretrained)
    if pretrained not in ("auto", True):
        raise PretrainedWeightsError(f"pretrained must be 'auto', True, False or a path, got {pretrained!r}")
    if kind is None:
        if pretrained is True:
            raise PretrainedWeightsError("this model has no published pretrained weights; give a file")
        return None
    path = find_pretrained(kind)
    if path is None:
        dataset = PRETRAINED_KINDS[kind][0]
        message = f"{dataset} weights for {kind} not found in {hub_checkpoint_dir()}"
        if pretrained is True:
            raise PretrainedWeightsError(
                f"{message} (looked for {', '.join(candidate_file_names(kind))})"
            )
        log.warning("%s; starting from random weights", message)
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: safetensors, or a torch file read with ``weights_only=True``."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same to the user
        raise PretrainedWeightsError(f"cannot read weights from {path}: {exc}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(f"{path} does not hold a state dict of tensors")
    return obj


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """An RGB first-conv kernel ``(O, 3, k, k)`` for ``in_channels`` inputs: the mean over the
    pretrained input channels, repeated (BatchNorm after the conv absorbs the scale)."""
    return weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)


def load_pretrained(model: nn.Module, path: str | Path, *, source_prefix: str = "") -> PretrainedReport:
    """Load the tensors of ``path`` that fit ``model``; report the rest.

    Same-shaped tensors are copied; a 4-D kernel that differs only in its input channels is
    adapted (``adapt_input_conv``); other shape mismatches (class heads) are skipped. With
    ``source_prefix`` only the file's keys under that prefix are used, prefix removed (e.g.
    ``"features."`` to load a classifier's trunk into a segmentation backbone).
    Sets ``model.pretrained_source`` to the file's path.
    """
    path = Path(path)
    source = read_state_dict(path)
    if source_prefix:
        source = {k[len(source_prefix):]: v for k, v in source.items() if k.startswith(source_prefix)}
    target = model.state_dict()
    report = PretrainedReport(path=path)
    new_state: dict[str, torch.Tensor] = {}
    for key, tensor in target.items():
        if key not in source:
            report.missing.append(key)
            continue
        src = source[key]
        if src.shape == tensor.shape:
            new_state[key] = src
            report.loaded.append(key)
        elif src.dim() == 4 and src.shape[0] == tensor.shape[0] and src.shape[2:] == tensor.shape[2:]:
            new_state[key] = adapt_input_conv(src, tensor.shape[1])
            report.adapted.append(key)
        else:
            report.skipped.append(key)
    report.unexpected = sorted(set(source) - set(target))
    if not new_state:
        raise PretrainedWeightsError(
            f"no tensor of {path} fits the model ({len(report.missing)} expected keys missing); "
            "is it the right file?"
        )
    model.load_state_dict(new_state, strict=False)
    model.pretrained_source = str(path)
    log.info("pretrained weights %s", report.summary())
    return report

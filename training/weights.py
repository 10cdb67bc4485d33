"""Pretrained weights from the local torch cache or a given file: never downloaded.

The app must work offline. ``import_weights(file)`` (``rop-train weights import FILE``) brings in a
torchvision checkpoint fetched on another machine: it checks the file's SHA-256 against the one
torchvision publishes for it (the hex digits in the file name, e.g. ``resnet18-f37072fd.pth``: the
first digits of its SHA-256, which is what ``torch.hub`` verifies) and stores it under that name in
the torch cache, where the model factories look. ``find_pretrained("resnet50")`` looks for the files torchvision would
have downloaded (``<torch hub dir>/checkpoints/<url basename>``, e.g. ``resnet50-11ad3fa6.pth``),
so weights fetched once by any torchvision user, or copied there by hand, are picked up.
``load_pretrained`` loads them with ``torch.load(weights_only=True)`` (or safetensors), adapts an
RGB first convolution to other channel counts, skips shape-mismatched heads and reports all that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
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

from training.errors import TrainingError

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


class PretrainedWeightsError(TrainingError):
    """Pretrained weights were asked for and cannot be used; ``reason`` says why."""


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


#: torch.hub's convention: ``<name>-<first hex digits of the file's SHA-256>.<ext>``.
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
#: Pretrained kinds whose backbone another kind's model falls back to (COCO model → ImageNet backbone).
BACKBONE_FALLBACK = {"maskrcnn_resnet50_fpn": "resnet50", "lraspp_mobilenet_v3_large": "mobilenet_v3_large"}


@dataclass(frozen=True)
class KnownWeights:
    """A published torchvision checkpoint: its file name, kind, dataset, URL and SHA-256 prefix."""

    file_name: str
    kind: str
    dataset: str
    url: str
    sha256_prefix: str
    default: bool  #: torchvision's default version of the kind


_REGISTERED: list[KnownWeights] = []


def register_known_weights(entry: KnownWeights) -> Callable[[], None]:
    """Trust one more checkpoint by its SHA-256 (``entry.sha256_prefix``, at least 8 hex digits):
    a site's own pretrained file of a known ``kind``, or a tiny file in a test. It then counts for
    :func:`known_weights`, :func:`import_weights` and :func:`find_pretrained` in this process only.
    Returns a function that removes it again."""
    if entry.kind not in PRETRAINED_KINDS:
        raise PretrainedWeightsError(f"unknown kind {entry.kind!r}; known: {', '.join(PRETRAINED_KINDS)}")
    if not re.fullmatch(r"[a-f0-9]{8,64}", entry.sha256_prefix):
        raise PretrainedWeightsError("sha256_prefix must be 8 to 64 lower-case hex digits")
    _REGISTERED.append(entry)
    return lambda: _REGISTERED.remove(entry) if entry in _REGISTERED else None


def known_weights() -> list[KnownWeights]:
    """Every checkpoint of :data:`PRETRAINED_KINDS`, each kind's default version first, then any
    :func:`register_known_weights` added."""
    out = []
    for kind, (dataset, enum) in PRETRAINED_KINDS.items():
        members = [enum.DEFAULT] + [w for w in enum if w is not enum.DEFAULT]
        for w in members:
            name = w.url.rsplit("/", 1)[-1]
            found = HASH_IN_NAME.search(name)
            if found:
                out.append(KnownWeights(name, kind, dataset, w.url, found.group(1), w is enum.DEFAULT))
    return out + list(_REGISTERED)


def candidate_file_names(kind: str) -> list[str]:
    """File names torchvision gives the weights of ``kind``, its default version first."""
    if kind not in PRETRAINED_KINDS:
        raise PretrainedWeightsError(
            f"no pretrained weights are known for {kind!r}; known: {', '.join(PRETRAINED_KINDS)}"
        ) from None
    return [k.file_name for k in known_weights() if k.kind == kind]


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def models_using(kind: str) -> list[str]:
    """Registered models that start from weights of ``kind`` (directly, or as their backbone fallback)."""
    # the registry module, not the package: the package imports the model files, which import this one
    from training.models.registry import list_models, model_info

    return [
        n
        for n in list_models()
        if (k := model_info(n).pretrained_kind) is not None and (k == kind or BACKBONE_FALLBACK.get(k) == kind)
    ]


@dataclass(frozen=True)
class ImportedWeights:
    """What :func:`import_weights` did: the checkpoint recognised, where it went, who uses it."""

    known: KnownWeights
    sha256: str
    destination: Path
    models: list[str]
    already_present: bool

    def describe(self) -> str:
        """What was done, in words (the window's *Models → Import pretrained weights…*)."""
        verb = "was already in place" if self.already_present else "is stored"
        models = ", ".join(self.models) or "none of the registered models"
        return (
            f"{self.known.file_name} ({self.known.dataset} {self.known.kind}): its SHA-256 matches the published "
            f"{self.known.sha256_prefix}…; it {verb} at {self.destination}. Models that now start pretrained: "
            f"{models}."
        )


def import_weights(path: str | Path, folder: str | Path | None = None) -> ImportedWeights:
    """Verify a torchvision checkpoint by its published SHA-256 and store it where the factories look.

    The file is recognised by its SHA-256 (whatever its name): it must begin with the published
    digits of a known checkpoint (:func:`known_weights`). It must also hold a state dict of tensors
    (read with ``weights_only=True``). It is copied to ``folder`` (default: the torch cache's
    ``checkpoints``) under torchvision's file name. Raises :class:`PretrainedWeightsError`.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise PretrainedWeightsError(f"{source} does not exist")
    digest = sha256_of(source)
    matches = [k for k in known_weights() if digest.startswith(k.sha256_prefix)]
    if not matches:
        named = [k for k in known_weights() if k.file_name == source.name]
        hint = (
            f"; a file named {source.name} should start with {named[0].sha256_prefix}: it is damaged or another version"
            if named
            else ""
        )
        raise PretrainedWeightsError(
            f"{source}: SHA-256 {digest} is not that of any known torchvision checkpoint"
            f"{hint} (see 'rop-train weights list')"
        )
    known = matches[0]
    read_state_dict(source)  # a state dict of tensors, never an arbitrary pickle
    target_dir = Path(folder) if folder is not None else hub_checkpoint_dir()
    target = target_dir / known.file_name
    present = target.is_file() and sha256_of(target) == digest
    if not present:
        target_dir.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        shutil.copyfile(source, part)
        os.replace(part, target)
    return ImportedWeights(known, digest, target, models_using(known.kind), present)


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
            raise PretrainedWeightsError(f"{message} (looked for {', '.join(candidate_file_names(kind))})")
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
    except Exception as exc:  # any reader failure means the same to the user
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
    Records nothing on ``model``: the factory that calls this records the file as the built
    model's origin (``training.models.origin.set_pretrained_source``), on the outer module rather
    than on the part loaded.
    """
    path = Path(path)
    source = read_state_dict(path)
    if source_prefix:
        source = {k[len(source_prefix) :]: v for k, v in source.items() if k.startswith(source_prefix)}
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
            f"no tensor of {path} fits the model ({len(report.missing)} expected keys missing); is it the right file?"
        )
    model.load_state_dict(new_state, strict=False)
    log.info("pretrained weights %s", report.summary())
    return report

"""Model bundles: a folder with ``weights.safetensors`` and ``card.json``.

The one format in which trained models travel (the app's model versions, a researcher's CLI
runs, a model received by e-mail). Weights are safetensors only, never a pickle: a bundle from a
stranger cannot run code. The card says how to re-create the architecture (registry name +
keyword arguments) and everything a reader needs to judge the model (classes, operating
threshold, preprocessing preset, metrics, training config, dataset snapshot hash, library
versions, initial weights, notes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch
import torchvision
from safetensors.torch import load_file, save_file
from torch import nn

from training.models import TASKS, ModelError, create_model, list_models, model_info
from training.models.origin import origin_of, set_pretrained_source

BUNDLE_FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "card.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt", ".bin")
_ALIASES_KEY = "rop_shared_tensor_aliases"


class BundleError(ValueError):
    """A bundle cannot be saved or loaded; ``reason`` says why, ``path`` where."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        super().__init__(f"{reason} [{path}]" if path is not None else reason)
        self.reason = reason
        self.path = Path(path) if path is not None else None


def library_versions() -> dict[str, str]:
    """Versions of what produced a bundle: python, torch, torchvision, numpy, safetensors, app."""
    try:
        app = metadata.version("rop-desktop")
    except metadata.PackageNotFoundError:
        from training import __version__ as app
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "app": app,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ModelCard:
    """What travels with the weights. ``architecture`` + ``model_kwargs`` re-create the model."""

    name: str
    architecture: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    task: str = "binary"
    classes: list[str] = field(default_factory=list)
    threshold: float | None = None
    preset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    snapshot_hash: str | None = None
    created: str = field(default_factory=_now)
    library_versions: dict[str, str] = field(default_factory=library_versions)
    pretrained_source: str | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown card.json keys, kept on round trip

    @classmethod
    def for_model(cls, model: nn.Module, name: str, **fields: Any) -> ModelCard:
        """A card for a model made by ``create_model``: architecture, kwargs, task, initial weights
        and the registry's notes (e.g. paper A's lost hyper-parameters) filled in."""
        origin = origin_of(model)
        arch = origin.registry_name
        if arch is None:
            raise BundleError(f"{type(model).__name__} was not made by training.models.create_model")
        kwargs = origin.model_kwargs
        info = model_info(arch)
        task = info.task
        if task == "binary" and kwargs.get("num_classes", 1) > 1:
            task = "multiclass"
        elif task == "multiclass" and kwargs.get("num_classes") == 1:  # one logit: ROP yes/no (a binary hybrid)
            task = "binary"
        notes = list(info.notes) + list(fields.pop("notes", []))
        values: dict[str, Any] = {
            "architecture": arch,
            "model_kwargs": kwargs,
            "task": task,
            "pretrained_source": origin.pretrained_source,
            "notes": notes,
        }
        values.update(fields)
        return cls(name=name, **values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``card.json`` (with ``format_version``)."""
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {"format_version": BUNDLE_FORMAT_VERSION, **data, **extra}

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> ModelCard:
        """Validate a parsed ``card.json``; ``BundleError`` says which field is wrong."""
        if not isinstance(data, dict):
            raise BundleError(f"card.json must hold a JSON object, got {type(data).__name__}", path)
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BundleError(f"card.json: format_version must be a positive integer, got {version!r}", path)
        if version > BUNDLE_FORMAT_VERSION:
            raise BundleError(
                f"bundle format version {version} is newer than this version of the app reads "
                f"({BUNDLE_FORMAT_VERSION}); update the app to load it",
                path,
            )
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != "format_version"}
        for required in ("name", "architecture"):
            if not isinstance(values.get(required), str) or not values[required]:
                raise BundleError(f"card.json: field {required!r} missing or not a non-empty string", path)
        expected: dict[str, tuple[type, ...]] = {
            "model_kwargs": (dict,),
            "task": (str,),
            "classes": (list,),
            "threshold": (int, float, type(None)),
            "preset": (dict,),
            "metrics": (dict,),
            "config": (dict,),
            "snapshot_hash": (str, type(None)),
            "created": (str,),
            "library_versions": (dict,),
            "pretrained_source": (str, type(None)),
            "notes": (list,),
        }
        for key, types in expected.items():
            if key in values and (not isinstance(values[key], types) or isinstance(values[key], bool)):
                raise BundleError(f"card.json: field {key!r} has the wrong type ({type(values[key]).__name__})", path)
        if values.get("task", "binary") not in TASKS:
            raise BundleError(f"card.json: task {values['task']!r} is not one of {', '.join(TASKS)}", path)
        return cls(**values, extra=extra)


def _split_shared(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors safetensors can write (own contiguous CPU storage) and ``alias -> stored name`` for
    exact duplicates (tied weights); partially overlapping views are copied."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    by_storage: dict[int, list[str]] = defaultdict(list)
    for name, tensor in state.items():
        tensor = tensor.detach()
        if tensor.numel() > 0:
            key = (
                tensor.device,
                tensor.untyped_storage().data_ptr(),
                tensor.storage_offset(),
                tuple(tensor.shape),
                tensor.stride(),
                tensor.dtype,
            )
            if key in seen:
                aliases[name] = seen[key]
                continue
            seen[key] = name
            by_storage[tensor.untyped_storage().data_ptr()].append(name)
        tensors[name] = tensor
    shared = {n for names in by_storage.values() if len(names) > 1 for n in names}
    out = {n: (t.clone() if n in shared else t).to("cpu").contiguous() for n, t in tensors.items()}
    return out, aliases


def save_bundle(folder: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Write ``model``'s weights and ``card`` into ``folder`` (created; existing files replaced
    atomically). Returns the folder."""
    folder = Path(folder)
    arch = origin_of(model).registry_name or card.architecture
    if arch != card.architecture:
        raise BundleError(f"card says architecture {card.architecture!r} but the model is {arch!r}", folder)
    if card.architecture not in list_models():
        raise BundleError(f"unknown architecture {card.architecture!r}; known: {', '.join(list_models())}", folder)
    try:
        text = json.dumps(card.to_dict(), indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"model card is not JSON-serialisable: {exc}", folder) from exc
    tensors, aliases = _split_shared(model.state_dict())
    folder.mkdir(parents=True, exist_ok=True)
    weights_tmp, card_tmp = folder / (WEIGHTS_FILE + ".part"), folder / (CARD_FILE + ".part")
    save_file(tensors, str(weights_tmp), metadata={"format": "pt", _ALIASES_KEY: json.dumps(aliases)})
    card_tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(weights_tmp, folder / WEIGHTS_FILE)
    os.replace(card_tmp, folder / CARD_FILE)
    return folder


def _refuse_pickle(path: Path) -> BundleError:
    return BundleError(
        "pickle files are not loaded; export weights as safetensors "
        "(a model bundle folder holds weights.safetensors and card.json)",
        path,
    )


def read_card(folder: str | Path) -> ModelCard:
    """The validated card of a bundle folder, without loading weights."""
    folder = Path(folder)
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES:
            raise _refuse_pickle(folder)
        raise BundleError("a model bundle is a folder holding weights.safetensors and card.json, not a file", folder)
    if not folder.is_dir():
        raise BundleError("model bundle folder does not exist", folder)
    pickles = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    for required in (CARD_FILE, WEIGHTS_FILE):
        if not (folder / required).is_file():
            if pickles:
                raise _refuse_pickle(pickles[0])
            raise BundleError(f"model bundle is missing {required}", folder)
    card_path = folder / CARD_FILE
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"card.json is not UTF-8 text: {exc}", card_path) from exc
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"card.json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", card_path
        ) from exc
    return ModelCard.from_dict(data, card_path)


def load_bundle(folder: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Re-create the bundle's model from its card, load its safetensors weights (strictly: every
    tensor present, none extra, shapes equal) and return ``(model in eval mode on device, card)``."""
    folder = Path(folder)
    card = read_card(folder)
    if card.architecture not in list_models():
        raise BundleError(
            f"unknown architecture {card.architecture!r} in card.json; known: {', '.join(list_models())}",
            folder / CARD_FILE,
        )
    try:
        model = create_model(card.architecture, pretrained=False, **card.model_kwargs)
    except (ModelError, TypeError, ValueError) as exc:
        raise BundleError(
            f"card.json model_kwargs do not fit architecture {card.architecture}: {exc}", folder / CARD_FILE
        ) from exc
    weights_path = folder / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path), device="cpu")
        with safetensors.safe_open(str(weights_path), framework="pt") as handle:
            aliases = json.loads((handle.metadata() or {}).get(_ALIASES_KEY, "{}"))
    except Exception as exc:  # safetensors raises several types for a bad file
        raise BundleError(f"weights.safetensors cannot be read: {exc}", weights_path) from exc
    for alias, stored in aliases.items():
        if stored in tensors:
            tensors[alias] = tensors[stored]
    _check_keys(model.state_dict(), tensors, card.architecture, weights_path)
    model.load_state_dict(tensors, strict=True)
    set_pretrained_source(model, card.pretrained_source)
    return model.to(device).eval(), card


def _check_keys(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], arch: str, path: Path) -> None:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(
        f"{k} {tuple(got[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in got and got[k].shape != v.shape
    )
    if missing or unexpected or wrong:

        def fmt(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "") if items else "none"

        raise BundleError(
            f"weights do not match architecture {arch}: missing {fmt(missing)}; "
            f"unexpected {fmt(unexpected)}; wrong shape {fmt(wrong)}",
            path,
        )


def write_model_card_markdown(card: ModelCard) -> str:
    """The card as Markdown for humans (model-version page, exported reports)."""
    lines = [
        f"# {card.name}",
        "",
        f"- **Architecture**: `{card.architecture}` {json.dumps(card.model_kwargs, sort_keys=True)}",
        f"- **Task**: {card.task}",
        f"- **Classes**: {', '.join(card.classes) or '-'}",
    ]
    if card.threshold is not None:
        lines.append(f"- **Operating threshold**: {card.threshold:g}")
    lines += [
        f"- **Initial weights**: {card.pretrained_source or 'random initialisation'}",
        f"- **Dataset snapshot**: {card.snapshot_hash or '-'}",
        f"- **Created**: {card.created}",
    ]
    if card.metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt_value(v)} |" for k, v in card.metrics.items()]
    for title, section in (("Preprocessing preset", card.preset), ("Training configuration", card.config)):
        if section:
            lines += ["", f"## {title}", "", "```json", json.dumps(section, indent=2, sort_keys=True), "```"]
    if card.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in card.notes]
    lines += ["", "## Library versions", ""] + [f"- {k}: {v}" for k, v in card.library_versions.items()]
    return "\n".join(lines) + "\n"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)

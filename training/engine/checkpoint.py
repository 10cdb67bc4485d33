"""Resumable checkpoints: tensors and plain containers only, read back with ``weights_only=True``.

A checkpoint (``<out>/checkpoints/last.pt``) holds the model, its weight average (``ema``,
None without ``ema_decay``), optimiser, scheduler and AMP scaler states, the position in the run
(epoch and batches done within it), the best weights so far, the history, the early-stopping
counter, the configuration and every random-number state (torch, CUDA, numpy, Python), so that a
resumed run continues exactly where the first stopped. Nothing in it needs unpickling code
objects: ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
CHECKPOINT_FORMAT = 1
_REQUIRED = ("model", "optimizer", "scheduler", "epoch", "batch", "config", "rng", "best", "history")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not from this engine."""


def rng_state() -> dict[str, Any]:
    """Every random-number state a training step draws from, as tensors and ints."""
    np_state = np.random.get_state(legacy=False)  # the dict form: {"state": {"key", "pos"}, "has_gauss", "gauss"}
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))


def cpu_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state dict (the in-memory best weights)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (a temporary file, then rename). Returns the path."""
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint payload lacks {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save({**payload, "format": CHECKPOINT_FORMAT}, tmp)
    os.replace(tmp, path)
    return path


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file named by ``path``: a file, a ``checkpoints`` folder or a run folder."""
    p = Path(path)
    for candidate in (p, p / LAST, p / CHECKPOINT_DIR / LAST):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{p}: no checkpoint found (looked for {p / LAST} and {p / CHECKPOINT_DIR / LAST})")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` onto the CPU and check its keys."""
    file = find_checkpoint(path)
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{file}: cannot be read as a checkpoint ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{file}: not a training checkpoint (a {type(data).__name__})")
    missing = [k for k in ("format", *_REQUIRED) if k not in data]
    if missing:
        raise CheckpointError(f"{file}: not a training checkpoint of this engine (lacks {', '.join(missing)})")
    if data["format"] > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{file}: checkpoint format {data['format']} is newer than this engine reads ({CHECKPOINT_FORMAT})"
        )
    data["path"] = str(file)
    return data

"""Multi-process training under ``torchrun``: process group, DDP wrapping, cross-rank reductions.

``torchrun --nproc_per_node=N -m training train ...`` starts N copies of the CLI with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. :func:`setup` reads them and joins the
process group (NCCL on CUDA, gloo on the CPU); without them it returns a single-process
context and every helper here is a no-op, so the engine has one code path. Only rank 0 writes
checkpoints, event logs and the bundle (``is_main``); every rank computes the same decisions
(learning-rate plateau, early stopping, divergence) from the same reduced numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class DistributedError(RuntimeError):
    """The torchrun environment is inconsistent (e.g. RANK without WORLD_SIZE)."""


class DeviceError(ValueError):
    """A device was asked for that this machine does not have."""


def resolve_device(spec: str = "auto", local_rank: int | None = None) -> torch.device:
    """``"auto"``: CUDA when available (``cuda:<local_rank>`` under torchrun), else the CPU;
    otherwise the named device ("cpu", "cuda", "cuda:1"), checked to exist (:class:`DeviceError`)."""
    if spec == "auto":
        return torch.device("cuda", local_rank or 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {spec!r}: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} asked for, but CUDA is not available here; use the CPU ('cpu')")
        if device.index is None:
            device = torch.device("cuda", local_rank or 0)
        if device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise DeviceError(f"device {spec!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return device


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``; ``owns_group`` when :func:`setup`
    created the process group (and :func:`cleanup` must destroy it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    # -- collectives (no-ops in a single process) --------------------------------------------
    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any_flags(self, *flags: bool) -> list[bool]:
        """Each flag OR-ed over all ranks (e.g. "my loss is not finite", "I was cancelled")."""
        if not self.enabled:
            return [bool(f) for f in flags]
        device = _collective_device(self.backend, self.local_rank)
        values = torch.tensor([float(bool(f)) for f in flags], device=device)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return [bool(v) for v in values.tolist()]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _collective_device(backend: str | None, local_rank: int) -> torch.device:
    return torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")


def env_context() -> DistContext:
    """The ranks named by torchrun's environment variables (nothing is initialised)."""
    present = [k for k in ENV_KEYS if k in os.environ]
    if not present:
        return DistContext()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise DistributedError(
            f"torchrun environment incomplete: found {', '.join(present)}; RANK and WORLD_SIZE are both needed"
        )
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError as exc:
        raise DistributedError(f"torchrun environment is not numeric: {exc}") from exc
    if not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} is not in 0..WORLD_SIZE-1 ({world - 1})")
    return DistContext(rank=rank, world_size=world, local_rank=local)


def setup(device: str = "auto") -> DistContext:
    """Join torchrun's process group when launched by it, else a single-process context.

    The backend is NCCL when this process trains on CUDA (``device`` "auto" with CUDA present,
    or "cuda..."), gloo otherwise. An already initialised group (e.g. by a caller) is reused and
    left alone by :func:`cleanup`.
    """
    ctx = env_context()
    if not ctx.enabled:
        return ctx
    if dist.is_initialized():
        return DistContext(ctx.rank, ctx.world_size, ctx.local_rank, dist.get_backend(), owns_group=False)
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if wants_cuda and torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
    return DistContext(ctx.rank, ctx.world_size, ctx.local_rank, backend, owns_group=True)


def cleanup(ctx: DistContext) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(
    model: nn.Module, ctx: DistContext, device: torch.device, *, find_unused_parameters: bool = False
) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when several processes train, else as is."""
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model,
        device_ids=ids,
        output_device=device.index if ids else None,
        find_unused_parameters=find_unused_parameters,
    )

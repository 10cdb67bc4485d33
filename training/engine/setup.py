"""Everything a run needs before its first batch: device, data splits, datasets, loaders, model.

Each step raises :class:`RunError` with a category ("bad_data", "error") and a reason a user
can act on; :func:`training.engine.fit` turns it into a ``Failed`` event before training starts.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, Sampler, SequentialSampler

from training.bundle import BundleError, load_bundle
from training.config import TrainConfig
from training.data.augment import oversample_stage1
from training.data.datasets import SnapshotDataset, collate
from training.data.io import ImageReadError, image_hw
from training.data.samplers import RatioBatchSampler
from training.distributed import DeviceError, DistContext, resolve_device
from training.engine.tasks import Task
from training.models import ModelError, create_model, model_info
from training.models.origin import origin_of, set_pretrained_source
from training.presets import Preset, PresetError, get_preset
from training.snapshot import Snapshot, SnapshotError
from training.splits import SplitError, apply_splits, grouped_split
from training.weights import PRETRAINED_KINDS, PretrainedWeightsError, candidate_file_names

#: Keep decoded working copies in memory when all of them fit in this many bytes.
CACHE_BUDGET_BYTES = 2 << 30


class RunError(Exception):
    """A run cannot start or continue; ``category`` as in ``Failed`` ("bad_data", "error", ...)."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


def device_for(spec: str, dist: DistContext) -> torch.device:
    """The run's device (:func:`training.distributed.resolve_device`), as a :class:`RunError`."""
    try:
        return resolve_device(spec, dist.local_rank if dist.enabled else None)
    except DeviceError as exc:
        raise RunError("error", str(exc)) from None


# ------------------------------------------------------------------------------------- data


def load_snapshot(snapshot: Snapshot | str | Path) -> Snapshot:
    if isinstance(snapshot, Snapshot):
        return snapshot
    try:
        return Snapshot.load(snapshot)
    except SnapshotError as exc:
        raise RunError("bad_data", f"snapshot {snapshot}: {exc}") from None


def make_splits(task: Task, snapshot: Snapshot, config: TrainConfig) -> tuple[dict[str, Snapshot], dict[str, str]]:
    """The task's records split by patient (fixed splits kept), stage 1 over-sampled in ``train``.

    Returns the three split snapshots and ``{record id: split}`` of the originals.
    """
    records = task.select(snapshot)
    if not len(records):
        raise RunError(
            "bad_data", f"the snapshot has no record usable for task {config.task!r} ({_needs(config.task)})"
        )
    if any(r.split is None for r in records):
        records = records.with_records(
            apply_splits(records, patient_split(records, config.split_ratios, config.seed, task.stratify))
        )
    assignment = {r.id: r.split for r in records if r.split is not None}
    if config.task == "stage3" and config.oversample_stage1 > 1:
        records = records.with_records(
            oversample_stage1(records, config.oversample_stage1, config.seed, only_split="train")
        )
    splits = {name: records.split(name) for name in ("train", "val", "test")}
    empty = [name for name, s in splits.items() if not len(s)]
    if empty:
        counts = ", ".join(f"{n} {len(s)}" for n, s in splits.items())
        raise RunError(
            "bad_data",
            f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty "
            f"({counts}; ratios train/test/val {tuple(config.split_ratios)}, "
            f"{len({r.group for r in records})} patients): add images or patients, "
            "or assign splits in the snapshot",
        )
    reason = task.check(splits)
    if reason:
        raise RunError("bad_data", reason)
    return splits, assignment


def patient_split(records: Snapshot, ratios: Any, seed: int, stratify: Any) -> dict[str, str]:
    """``grouped_split`` stratified by ``stratify``; when that leaves a split empty (few patients per
    class), split by patient with sizes balanced only."""
    try:
        assignment = grouped_split(records, ratios, seed=seed, stratify_by=stratify)
        if stratify is not None and len(set(assignment.values())) < sum(1 for r in ratios if r > 0):
            assignment = grouped_split(records, ratios, seed=seed, stratify_by=None)
    except SplitError as exc:
        raise RunError("bad_data", str(exc)) from None
    return assignment


def _needs(task: str) -> str:
    return {
        "binary": "label_binary or stage",
        "stage3": "stage 1, 2 or 3",
        "segmentation": "a line mask or polygons",
        "instance": "a line mask or polygons",
    }[task]


def check_images(snapshots: list[Snapshot]) -> None:
    """Read every image's header (cheap): an unreadable file fails the run before training."""
    bad = []
    for snap in snapshots:
        for r in snap:
            if r.parent is not None:
                continue
            try:
                image_hw(snap.image_path(r))
            except (ImageReadError, OSError) as exc:
                bad.append(f"record {r.id!r}: {exc}")
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise RunError("bad_data", f"{len(bad)} image(s) cannot be read: " + "; ".join(bad[:5]) + more)


def build_preset(config: TrainConfig) -> Preset:
    """The config's preset with its overrides; the hybrid architecture always gets the mask channel."""
    overrides = dict(config.preset_overrides)
    if model_info(config.architecture).input_channels == 2 and config.task == "stage3":
        overrides.setdefault("mask_channel", True)
    try:
        preset = get_preset(config.preset, **overrides)
    except PresetError as exc:
        raise RunError("error", str(exc)) from None
    if config.mask_dropout > 0 and not preset.mask_channel:
        raise RunError(
            "error",
            f"mask_dropout {config.mask_dropout:g} applies to a hybrid (a line-mask input channel); "
            f"{config.architecture} with preset {config.preset!r} takes no mask: set mask_dropout to 0",
        )
    return preset


def cache_fits(n_images: int, preset: Preset) -> bool:
    work = math.ceil(preset.image_size * 1.25)
    return n_images * work * work * 4 <= CACHE_BUDGET_BYTES


class EpochBatches(Sampler[list[int]]):
    """Batches of one epoch from a seeded batch sampler: capped at ``limit``, the first ``skip``
    left out (a resumed epoch), reshuffled per epoch by :meth:`set_epoch`."""

    def __init__(self, inner: RatioBatchSampler | BatchSampler, limit: int | None = None) -> None:
        self.inner = inner
        self.limit = limit
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.inner, RatioBatchSampler):
            self.inner.set_epoch(epoch)
        elif isinstance(self.inner.sampler, DistributedSampler):
            self.inner.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.inner)
        return min(n, self.limit) if self.limit else n

    def __iter__(self) -> Iterator[list[int]]:
        for b, batch in enumerate(self.inner):
            if b >= len(self):
                return
            if b >= self.skip:
                yield batch


def train_loader(
    task: Task, dataset: Any, config: TrainConfig, dist: DistContext, device: torch.device
) -> tuple[DataLoader[Any], EpochBatches, float | None]:
    """The training loader and its batch sampler; also the positive fraction of ratio batches."""
    fraction = config.positive_fraction if task.name == "binary" else None
    batch_size = config.batch_size
    if fraction is not None:
        per_rank = max(1, math.ceil(math.ceil(len(dataset) / batch_size) / dist.world_size))
        try:
            inner: RatioBatchSampler | BatchSampler = RatioBatchSampler(
                dataset.labels,
                batch_size,
                fraction,
                config.seed,
                num_batches=per_rank,
                rank=dist.rank,
                world_size=dist.world_size,
            )
        except ValueError as exc:
            raise RunError("bad_data", f"ratio batches cannot be drawn: {exc}") from None
    else:
        sampler: DistributedSampler[int] = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=config.seed, drop_last=False
        )
        n = len(sampler)
        drop_last = n > batch_size and n % batch_size == 1  # a lone last image breaks BatchNorm
        inner = BatchSampler(sampler, batch_size, drop_last)
    batches = EpochBatches(inner, config.max_batches_per_epoch)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
    )
    return loader, batches, fraction


def eval_loader(
    dataset: SnapshotDataset, config: TrainConfig, dist: DistContext, device: torch.device
) -> DataLoader[Any]:
    """Sequential batches of a validation set; each rank gets its shard (padded, de-duplicated later)."""
    sampler: Sampler[int] = (
        DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=False)
        if dist.enabled
        else SequentialSampler(dataset)
    )
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )


# ------------------------------------------------------------------------------------- model


@contextmanager
def captured_logs(logger_name: str = "training") -> Iterator[list[logging.LogRecord]]:
    """Records logged by this thread under ``logger_name`` while the block runs (e.g. "ImageNet
    weights not found; starting from random weights"), to be relayed as ``Log`` events."""
    records: list[logging.LogRecord] = []
    thread = threading.get_ident()

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                records.append(record)

    handler = _Collect(logging.INFO)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def model_kwargs(config: TrainConfig, preset: Preset) -> dict[str, Any]:
    """The architecture's options: the config's, plus the input size, Mask R-CNN's resize bounds
    and the L2 weight filled in from the preset and config when the architecture takes them."""
    accepted = model_info(config.architecture).accepted_kwargs()
    kwargs = {k: v for k, v in config.model_kwargs.items() if k not in ("num_classes", "in_channels")}
    if "image_size" in accepted:
        kwargs.setdefault("image_size", preset.image_size)
    if "min_size" in accepted:
        kwargs.setdefault("min_size", preset.image_size)
        kwargs.setdefault("max_size", max(preset.image_size, int(kwargs["min_size"])))
    if "l2_weight" in accepted:
        kwargs.setdefault("l2_weight", config.l2)
    if "normalize_input" in accepted:  # Mask R-CNN: normalise once, not again after the preset did
        kwargs.setdefault("normalize_input", preset.normalize == "unit")
    return kwargs


def init_label(source: str | None) -> str:
    """``RunStarted.init``: "random", "imagenet:<file>", "coco:<file>" or "file:<path>"."""
    if not source:
        return "random"
    name = Path(source).name
    for kind, (dataset, _) in PRETRAINED_KINDS.items():
        if name in candidate_file_names(kind):
            return f"{dataset.lower()}:{name}"
    return f"file:{source}"


def build_model(
    config: TrainConfig, task: Task, preset: Preset, init_bundle: str | Path | None
) -> tuple[nn.Module, str, list[str]]:
    """The model with its starting weights: ``(model, init label, log lines)``.

    ``config.init``: "auto" (pretrained when cached), "random", a weights file, or "bundle:<dir>";
    ``init_bundle`` (a bundle folder of the same architecture) wins over ``config.init``.
    """
    bundle = (
        init_bundle if init_bundle is not None else (config.init[7:] if config.init.startswith("bundle:") else None)
    )
    pretrained: Any = {"auto": "auto", "random": False}.get(config.init, config.init)
    if bundle is not None:
        pretrained = False
    kwargs = model_kwargs(config, preset)
    with captured_logs() as records:
        try:
            model = create_model(
                config.architecture,
                num_classes=task.num_classes,
                in_channels=preset.in_channels,
                pretrained=pretrained,
                **kwargs,
            )
        except (ModelError, PretrainedWeightsError) as exc:
            raise RunError("error", exc.reason) from None
        except (TypeError, ValueError) as exc:
            raise RunError("error", f"model {config.architecture!r} cannot be built: {exc}") from None
    lines = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    if bundle is not None:
        _load_bundle_weights(model, Path(bundle), config.architecture)
        set_pretrained_source(model, f"bundle:{bundle}")
        lines.append(f"fine-tuning from bundle {bundle}")
        return model, f"bundle:{bundle}", lines
    source = origin_of(model).pretrained_source
    label = init_label(source)
    if label == "random" and not lines:
        lines.append(f"{config.architecture}: starting from random weights")
    elif label != "random":
        lines.append(f"{config.architecture}: starting from pretrained weights {source}")
    return model, label, lines


def _load_bundle_weights(model: nn.Module, folder: Path, architecture: str) -> None:
    try:
        source, card = load_bundle(folder)
    except BundleError as exc:
        raise RunError("error", f"initial bundle: {exc}") from None
    if card.architecture != architecture:
        raise RunError(
            "error",
            f"initial bundle {folder} holds a {card.architecture} model, "
            f"not {architecture}: fine-tuning needs the same architecture",
        )
    target, state = model.state_dict(), source.state_dict()
    wrong = [k for k, v in target.items() if k not in state or state[k].shape != v.shape]
    if wrong:
        raise RunError(
            "error",
            f"initial bundle {folder} does not fit this model (classes, channels or options "
            f"differ): {', '.join(wrong[:5])}",
        )
    model.load_state_dict(state)


def build_ema(config: TrainConfig, model: nn.Module) -> AveragedModel | None:
    """The exponential moving average of ``model``'s weights and buffers, or None without ``ema_decay``.

    A from-scratch model trained with a high learning rate moves a lot from batch to batch, and its
    BatchNorm running statistics trail its weights, so validation and the kept checkpoint depend on
    which batch an epoch happened to end with. The average (BatchNorm buffers included, so the
    statistics match the averaged weights) is what the run validates, keeps and saves.
    """
    if config.ema_decay is None:
        return None
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    ema.module.eval()
    ema.requires_grad_(False)
    return ema


def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)

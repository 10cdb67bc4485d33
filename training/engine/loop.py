"""The training loop as a generator of typed events (:mod:`training.events`).

``fit`` prepares a run (:mod:`.setup`), trains epoch by epoch, validates, keeps the best weights
by validation loss (those of the weights' moving average when ``ema_decay`` is set), checkpoints,
and ends with a ``Finished``, ``Failed`` or ``Cancelled`` event, which it both yields and returns. The learning rate follows :mod:`.schedule`; a time budget
(``max_minutes``) ends training in time with the best weights; a non-finite loss sends the run back
to its last good state (the end of the last epoch) with a lower learning rate, a few times at most. It installs no signal handler and keeps no global state beyond
seeding torch's random-number generators, so a QThread worker and the CLI drive it alike.
"""

from __future__ import annotations

import json
import math
import random
import time
import traceback
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training import distributed
from training.config import TrainConfig
from training.data.datasets import DatasetError
from training.data.io import ImageReadError
from training.distributed import DistContext
from training.engine import setup
from training.engine.checkpoint import (
    CHECKPOINT_DIR,
    LAST,
    CheckpointError,
    cpu_state,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from training.engine.control import RunControl
from training.engine.finish import finish_run
from training.engine.schedule import LrSchedule
from training.engine.setup import RunError
from training.engine.tasks import ConfigError, make_task
from training.events import (
    BatchProgress,
    Cancelled,
    CheckpointSaved,
    EpochEnd,
    Event,
    Failed,
    Finished,
    Log,
    Paused,
    RunStarted,
)
from training.line_masks import LineMaskError, LineMasks, predict_line_masks
from training.models.registry import L2Regularised
from training.presets import PresetError
from training.snapshot import Snapshot

Terminal = Finished | Failed | Cancelled
#: Settings that may change when a run is resumed; any other difference is refused.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "device", "num_workers", "checkpoint_every", "init", "early_stopping_patience", "amp", "max_minutes"}
)
EVENTS_FILE = "events.jsonl"


def fit(
    config: TrainConfig,
    snapshot: Snapshot | str | Path,
    out_dir: str | Path,
    *,
    control: RunControl | None = None,
    init_bundle: str | Path | None = None,
    resume: str | Path | None = None,
    line_bundle: str | Path | None = None,
) -> Generator[Event, None, Terminal]:
    """Train ``config`` on ``snapshot``, writing checkpoints, the report and the bundle in ``out_dir``.

    Yields ``Log``, ``RunStarted``, ``BatchProgress`` (every batch), ``EpochEnd``,
    ``CheckpointSaved``, ``Paused``; the last event — ``Finished``, ``Failed`` (categories
    "bad_data", "diverged", "out_of_memory", "error") or ``Cancelled`` — is also the return value.
    ``control`` cancels or pauses between batches; ``init_bundle`` fine-tunes from a bundle of
    the same architecture; ``resume`` (a checkpoint, or a run folder) continues a run;
    ``line_bundle`` (a line segmenter's bundle) feeds a hybrid's validation and test images that
    line model's predicted masks, computed once before the first epoch (without it they get the
    reference masks, and the card calls the figures an upper bound). Under torchrun every rank
    calls ``fit``; rank 0 writes the files.
    """
    try:
        dist = distributed.setup(config.device)
    except (distributed.DistributedError, RuntimeError, ValueError) as exc:
        failed = Failed(f"cannot join the torchrun process group: {exc}", "error")
        yield failed
        return failed
    try:
        result = yield from _fit(
            config, snapshot, Path(out_dir), control or RunControl(), init_bundle, resume, dist, line_bundle
        )
    finally:
        distributed.cleanup(dist)
    return result


def _fit(
    config: TrainConfig,
    snapshot: Snapshot | str | Path,
    out_dir: Path,
    control: RunControl,
    init_bundle: str | Path | None,
    resume: str | Path | None,
    dist: DistContext,
    line_bundle: str | Path | None = None,
) -> Generator[Event, None, Terminal]:
    log_file = out_dir / EVENTS_FILE if dist.is_main else None
    run: _Run | None = None
    try:
        run = _Run(config, snapshot, out_dir, control, init_bundle, resume, dist, line_bundle)
        events: Iterator[Event] = run.events()
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                result: Terminal = stop.value
                break
            _record(log_file, event)
            yield event
    except RunError as exc:
        result = _failed(run, exc.reason, exc.category)
    except ConfigError as exc:
        result = _failed(run, str(exc), "error")
    except (DatasetError, ImageReadError, PresetError) as exc:  # an image or mask that does not fit
        result = _failed(run, str(exc), "bad_data")
    except Exception as exc:  # noqa: BLE001 - reported as an event, with the traceback logged
        if _is_out_of_memory(exc):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            size = config.batch_size
            result = _failed(
                run,
                f"out of memory with batch size {size}: try --batch-size {max(1, size // 2)} or a smaller image size",
                "out_of_memory",
            )
        else:
            text = "".join(traceback.format_exception(exc))
            _record(log_file, Log(text, "error"))
            yield Log(text, "error")
            result = _failed(run, f"{type(exc).__name__}: {exc}", "error")
    _record(log_file, result)
    yield result
    return result


class _Diverged(Exception):
    """A non-finite training or validation loss (handled by going back to the last good state)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _failed(run: _Run | None, reason: str, category: str) -> Failed:
    epoch, batch = (run.epoch, run.batch) if run is not None else (0, 0)
    return Failed(reason, category, epoch, batch)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc))
    )


def _record(path: Path | None, event: Event) -> None:
    """Append the event to the run's JSON-lines log (rank 0; per-batch progress left out)."""
    if path is None or isinstance(event, BatchProgress):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(event.to_dict(), default=str) + "\n")


class _Clock:
    """Throughput and the whole run's remaining time."""

    def __init__(self, elapsed: float = 0.0) -> None:
        self.before = elapsed
        self.start = time.perf_counter()
        self.batch_seconds = 0.0
        self.batches = 0
        self.val_seconds = 0.0
        self.validations = 0

    @property
    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start

    def eta(self, batches_left: int, validations_left: int) -> float:
        per_batch = self.batch_seconds / max(self.batches, 1)
        per_val = self.val_seconds / self.validations if self.validations else per_batch
        return batches_left * per_batch + validations_left * per_val


class _Run:
    """One training run's state (see :func:`fit`)."""

    def __init__(
        self,
        config: TrainConfig,
        snapshot: Snapshot | str | Path,
        out_dir: Path,
        control: RunControl,
        init_bundle: str | Path | None,
        resume: str | Path | None,
        dist: DistContext,
        line_bundle: str | Path | None = None,
    ) -> None:
        self.config, self.out_dir, self.control, self.dist = config, out_dir, control, dist
        self.epoch, self.batch = 1, 0
        self.checkpoint = self._resume_state(resume, config)
        if line_bundle is None and self.checkpoint is not None:
            line_bundle = self.checkpoint.get("line_bundle")  # a resumed run keeps its line model
        self.device = setup.device_for(config.device, dist)
        snap = setup.load_snapshot(snapshot)
        self.task = make_task(config, snap.classes)
        self.splits, self.assignment = setup.make_splits(self.task, snap, config)
        setup.check_images(list(self.splits.values()))
        self.snapshot_hash = snap.stored_hash or snap.content_hash()
        self.preset = setup.build_preset(config)
        cache = config.num_workers == 0 and setup.cache_fits(sum(len(s) for s in self.splits.values()), self.preset)
        self.line_bundle = str(line_bundle) if line_bundle is not None else None
        self.line_masks = self._predict_line_masks(self.line_bundle)
        self.train_set = self.task.dataset(self.splits["train"], self.preset, True, cache)
        self.val_set = self.task.dataset(
            self.splits["val"], self.preset, False, cache, self.line_masks.mask_fn if self.line_masks else None
        )
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)
        if self.checkpoint is None:
            self.model, self.init, self.logs = setup.build_model(config, self.task, self.preset, init_bundle)
        else:
            self.model, _, _ = setup.build_model(config.with_(init="random"), self.task, self.preset, None)
            self.init, self.logs = self.checkpoint.get("init", "random"), [f"resuming from {self.checkpoint['path']}"]
        if self.line_masks is not None:
            self.logs.append(
                f"line masks of the {len(self.line_masks)} validation and test images predicted once by the line "
                f"model {self.line_bundle} (weights SHA-256 {self.line_masks.line_model['weights_sha256'][:12]})"
            )
        elif self.preset.mask_channel and config.mask_channel != "none":
            self.logs.append(
                "validation and test images get the reference line masks: their figures are an upper bound "
                "(train with --line-bundle to feed them a line model's predicted masks)"
            )
        if dist.enabled:
            torch.manual_seed(config.seed + 1000 * dist.rank)  # different augmentation on every rank
        self.channels_last = config.channels_last and self.device.type == "cuda" and self.task.name != "instance"
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.ddp = distributed.wrap_model(
            self.model, dist, self.device, find_unused_parameters=self.task.name == "instance"
        )
        self.ema = setup.build_ema(config, self.model)  # None unless config.ema_decay
        base_lr = config.lr
        if config.lr_from_scratch is not None and self.init == "random":
            base_lr = config.lr_from_scratch
            if self.checkpoint is None:
                self.logs.append(
                    f"learning rate {base_lr:g} (lr_from_scratch): the model starts from random weights "
                    f"({config.lr:g} is for pretrained ones)"
                )
        self.optimizer = setup.build_optimizer(config.with_(lr=base_lr), self.model)
        self.amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loader, self.batches, fraction = setup.train_loader(self.task, self.train_set, config, dist, self.device)
        self.schedule = LrSchedule(config, self.optimizer, base_lr, config.epochs * len(self.batches))
        self.val_loader = setup.eval_loader(self.val_set, config, dist, self.device)
        self.task.setup_loss(self.train_set, self.device, fraction)
        self.l2: L2Regularised | None = self.model if config.l2 > 0 and isinstance(self.model, L2Regularised) else None
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch, self.best_loss, self.bad_epochs, self.stopped_early = 0, math.inf, 0, False
        self.out_of_time, self.divergences = False, 0
        self.loss_sum, self.seen = 0.0, 0
        self.pending_rng: dict[str, Any] | None = None
        self.clock = _Clock()
        if self.checkpoint is not None:
            self._restore(self.checkpoint)
        self.good_state = self._good_state()
        if dist.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "splits.json").write_text(
                json.dumps(self.assignment, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )

    def _predict_line_masks(self, line_bundle: str | None) -> LineMasks | None:
        """The line model's masks of the validation and test images, predicted once (a hybrid only)."""
        if line_bundle is None:
            return None
        if not self.preset.mask_channel:
            raise RunError(
                "error",
                f"{self.config.architecture} takes no line mask: --line-bundle applies to a hybrid "
                "(a model whose input has a line-mask channel, e.g. recipe fast_binary_line or fast_hybrid)",
            )
        try:
            return predict_line_masks(line_bundle, [self.splits["val"], self.splits["test"]], str(self.device))
        except LineMaskError as exc:
            raise RunError("error", str(exc)) from None

    # -- resuming ------------------------------------------------------------------------------
    @staticmethod
    def _resume_state(resume: str | Path | None, config: TrainConfig) -> dict[str, Any] | None:
        if resume is None:
            return None
        try:
            ckpt = load_checkpoint(resume)
        except CheckpointError as exc:
            raise RunError("error", str(exc)) from None
        saved, now = ckpt["config"], config.to_dict()
        changed = [
            f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]
        ]
        if changed:
            raise RunError(
                "error",
                f"the checkpoint {ckpt['path']} was made with other settings ({'; '.join(changed)}); "
                "resume with the same configuration (only "
                f"{', '.join(sorted(RESUMABLE_CHANGES))} may change)",
            )
        return ckpt

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        if self.ema is not None:
            if ckpt.get("ema") is None:
                raise RunError("error", f"the checkpoint {ckpt['path']} holds no weight average (ema_decay)")
            self.ema.load_state_dict(ckpt["ema"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["scheduler"])
        self.divergences = int(ckpt.get("divergences", 0))
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.batch = int(ckpt["epoch"]), int(ckpt["batch"])
        self.history = list(ckpt["history"])
        best = ckpt["best"]
        self.best_state, self.best_epoch, self.best_loss = best["state"], int(best["epoch"]), float(best["val_loss"])
        self.bad_epochs, self.stopped_early = int(ckpt.get("bad_epochs", 0)), bool(ckpt.get("stopped_early", False))
        self.loss_sum, self.seen = float(ckpt.get("loss_sum", 0.0)), int(ckpt.get("seen", 0))
        self.clock = _Clock(float(ckpt.get("elapsed", 0.0)))
        if self.batch > 0:
            self.pending_rng = ckpt["rng"]  # restored once the resumed epoch's loader iterator exists
        else:
            set_rng_state(ckpt["rng"])

    def _save(self, rng: dict[str, Any], is_best: bool, completed_epoch: int) -> Iterator[Event]:
        if not self.dist.is_main:
            return
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "divergences": self.divergences,
            "epoch": self.epoch,
            "batch": self.batch,
            "config": self.config.to_dict(),
            "rng": rng,
            "best": {"state": self.best_state, "epoch": self.best_epoch, "val_loss": self.best_loss},
            "history": self.history,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "loss_sum": self.loss_sum,
            "seen": self.seen,
            "elapsed": self.clock.elapsed,
            "snapshot_hash": self.snapshot_hash,
            "init": self.init,
            "line_bundle": self.line_bundle,
        }
        path = save_checkpoint(self.out_dir / CHECKPOINT_DIR / LAST, payload)
        yield CheckpointSaved(str(path), completed_epoch, is_best)

    # -- the run ----------------------------------------------------------------------------------
    def events(self) -> Generator[Event, None, Terminal]:
        for line in self.logs:
            yield Log(line, "warning" if "not found" in line else "info")
        config = self.config
        yield RunStarted(
            str(self.out_dir),
            config.task,
            config.architecture,
            str(self.device),
            len(self.splits["train"]),
            len(self.splits["val"]),
            len(self.splits["test"]),
            config.epochs,
            len(self.batches),
            self.init,
        )
        while self.epoch <= config.epochs and not self.stopped_early and not self.out_of_time:
            cancelled = yield from self._epoch()
            if cancelled is not None:
                return cancelled
        if self.best_state is None:
            raise RunError("error", "no epoch was completed: nothing to evaluate")
        self.model.load_state_dict(self.best_state)
        result = None
        if self.dist.is_main:
            bundle_dir, report, threshold = yield from finish_run(
                model=self.model,
                config=config,
                preset=self.preset,
                classes=self.task.classes,
                splits=self.splits,
                assignment=self.assignment,
                snapshot_hash=self.snapshot_hash,
                out_dir=self.out_dir,
                training={
                    "best_epoch": self.best_epoch,
                    "epochs_run": len(self.history),
                    "stopped_early": self.stopped_early,
                    "time_budget_reached": self.out_of_time,
                    "minutes": round(self.clock.elapsed / 60.0, 2),
                    "divergences": self.divergences,
                    "init": self.init,
                    "history": self.history,
                    "split_sizes": {k: len(v) for k, v in self.splits.items()},
                },
                line_masks=self.line_masks,
            )
            result = (str(bundle_dir), report.summary(), threshold)
        bundle, metrics, threshold = self.dist.broadcast(result)
        return Finished(
            bundle, len(self.history), self.best_epoch, self.stopped_early, metrics, threshold, self.out_of_time
        )

    def _interrupt(self, rng: dict[str, Any] | None = None) -> Generator[Event, None, Cancelled | None]:
        """Between batches: yield ``Paused`` and wait while paused; on cancel checkpoint and stop."""
        if self.control.is_paused:
            yield Paused(self.epoch, self.batch)
            self.control.wait_while_paused()
        (cancel,) = self.dist.any_flags(self.control.is_cancelled)
        if not cancel:
            return None
        path = None
        for event in self._save(rng or rng_state(), False, self.epoch - 1):
            assert isinstance(event, CheckpointSaved)
            path = event.path
            yield event
        return Cancelled(self.epoch, self.batch, path)

    # -- last good state, divergence, time budget ----------------------------------------------
    def _good_state(self) -> dict[str, Any]:
        """What a divergence goes back to: weights and optimiser state (CPU copies)."""
        import copy

        state = self.optimizer.state_dict()
        optimizer = {
            "param_groups": copy.deepcopy(state["param_groups"]),
            "state": {
                k: {
                    n: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else copy.deepcopy(v)
                    for n, v in per_param.items()
                }
                for k, per_param in state["state"].items()
            },
        }
        ema = cpu_state(self.ema.state_dict()) if self.ema is not None else None
        return {
            "model": cpu_state(self.model.state_dict()),
            "optimizer": optimizer,
            "ema": ema,
            "epoch": self.epoch - 1,
        }

    def _recover(self, exc: _Diverged) -> Iterator[Event]:
        """Back to the last good state with a lower learning rate, or fail after ``divergence_retries``."""
        lr = self.schedule.lr
        if self.divergences >= self.config.divergence_retries:
            raise RunError(
                "diverged",
                f"the {exc.what} became non-finite at epoch {self.epoch}, batch "
                f"{self.batch + 1} (learning rate {lr:g}) after {self.divergences} "
                "retries with lower learning rates: lower the learning rate or check the images",
            )
        self.divergences += 1
        self.model.load_state_dict(self.good_state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(self.good_state["ema"])
        self.optimizer.load_state_dict(self.good_state["optimizer"])
        new = self.schedule.lower()
        self.batch, self.loss_sum, self.seen = 0, 0.0, 0
        self.optimizer.zero_grad(set_to_none=True)
        yield Log(
            f"the {exc.what} became non-finite at epoch {self.epoch} (learning rate {lr:g}): back to the state "
            f"after epoch {self.good_state['epoch']} with learning rate {new:g} "
            f"(retry {self.divergences} of {self.config.divergence_retries})",
            "warning",
        )

    def _budget_spent(self) -> bool:
        """True when the time budget leaves no room for another batch and the validation after it."""
        minutes = self.config.max_minutes
        if not minutes or self.clock.batches == 0:
            return False
        per_batch = self.clock.batch_seconds / self.clock.batches
        validation = self.clock.val_seconds / self.clock.validations if self.clock.validations else per_batch
        (spent,) = self.dist.any_flags(self.clock.elapsed + per_batch + validation >= minutes * 60.0)
        return spent

    def _epoch(self) -> Generator[Event, None, Cancelled | None]:
        while True:
            try:
                return (yield from self._epoch_once())
            except _Diverged as exc:
                yield from self._recover(exc)

    def _epoch_once(self) -> Generator[Event, None, Cancelled | None]:
        config, n_batches = self.config, len(self.batches)
        self.batches.set_epoch(self.epoch)
        self.batches.skip = self.batch
        iterator = iter(self.loader)
        if self.pending_rng is not None:
            set_rng_state(self.pending_rng)
            self.pending_rng = None
        self.ddp.train()
        started, epoch_images, trained = time.perf_counter(), 0, 0
        while self.batch < n_batches:
            cancelled = yield from self._interrupt()
            if cancelled is not None:
                return cancelled
            if self._budget_spent():
                self.out_of_time = True
                yield Log(
                    f"time budget of {config.max_minutes:g} min reached at epoch {self.epoch}, batch "
                    f"{self.batch}: {'validating and ' if trained else ''}keeping the best weights"
                )
                if not trained:  # nothing new since the last validation
                    return None
                break
            self.schedule.before_batch((self.epoch - 1) * n_batches + self.batch, self.clock.elapsed)
            t0 = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                break
            value, n = self._step(batch)
            self.batch += 1
            trained += 1
            self.loss_sum, self.seen = self.loss_sum + value * n, self.seen + n
            self.clock.batch_seconds += time.perf_counter() - t0
            self.clock.batches += 1
            epoch_images += n
            done = (self.epoch - 1) * n_batches + self.batch
            eta = self.clock.eta(config.epochs * n_batches - done, config.epochs - self.epoch + 1)
            if config.max_minutes:
                eta = min(eta, max(config.max_minutes * 60.0 - self.clock.elapsed, 0.0))
            yield BatchProgress(
                self.epoch, self.batch, n_batches, value, epoch_images / max(time.perf_counter() - started, 1e-9), eta
            )
        before_val = rng_state()
        cancelled = yield from self._interrupt(before_val)
        if cancelled is not None:
            return cancelled
        t0 = time.perf_counter()
        outcome = self._validate()
        if outcome is None:
            return (yield from self._interrupt(before_val))  # cancelled during validation
        val_loss, metrics = outcome
        self.clock.val_seconds += time.perf_counter() - t0
        self.clock.validations += 1
        yield from self._end_epoch(val_loss, metrics, time.perf_counter() - started)
        return None

    def _step(self, batch: dict[str, Any]) -> tuple[float, int]:
        x = self._input(batch["image"])
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = self.task.train_loss(self.ddp, x, batch, self.device)
        if self.l2 is not None:
            loss = loss + self.l2.l2_penalty()
        value = float(loss.detach())
        (diverged,) = self.dist.any_flags(not math.isfinite(value))
        if diverged:
            raise _Diverged("training loss")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return value, int(batch["image"].shape[0])

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _evaluated(self) -> torch.nn.Module:
        """The weights a run validates, keeps as its best and saves: the average with ``ema_decay``."""
        return self.ema.module if self.ema is not None else self.model

    def _validate(self) -> tuple[float, dict[str, float]] | None:
        """Validation loss and metrics over all ranks; None when cancelled meanwhile."""
        model = self._evaluated()
        model.eval()
        rows: list[dict[str, Any]] = []
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            for batch in self.val_loader:
                if self.dist.any_flags(self.control.is_cancelled)[0]:
                    return None
                rows.extend(self.task.eval_rows(model, self._input(batch["image"]), batch, self.device))
        unique = {row["index"]: row for part in self.dist.gather(rows) for row in part}  # DistributedSampler pads
        rows = [unique[k] for k in sorted(unique)]
        val_loss = float(np.mean([r["loss"] for r in rows]))
        if not math.isfinite(val_loss):
            raise _Diverged("validation loss")
        return val_loss, self.task.metrics(rows)

    def _end_epoch(self, val_loss: float, metrics: dict[str, float], seconds: float) -> Iterator[Event]:
        lr = self.schedule.lr
        self.schedule.after_epoch(val_loss)
        is_best = val_loss < self.best_loss
        if is_best:
            self.best_state, self.best_epoch, self.best_loss, self.bad_epochs = (
                cpu_state(self._evaluated().state_dict()),
                self.epoch,
                val_loss,
                0,
            )
        else:
            self.bad_epochs += 1
        end = EpochEnd(
            self.epoch, self.config.epochs, self.loss_sum / max(self.seen, 1), val_loss, metrics, lr, is_best, seconds
        )
        self.history.append(end.to_dict())
        patience = self.config.early_stopping_patience
        self.stopped_early = patience is not None and self.bad_epochs >= patience and self.epoch < self.config.epochs
        completed = self.epoch
        self.epoch, self.batch, self.loss_sum, self.seen = self.epoch + 1, 0, 0.0, 0
        self.good_state = self._good_state()
        yield end
        every = self.config.checkpoint_every  # larger than epochs: no checkpoint (smoke runs)
        final = (
            completed == self.config.epochs or self.stopped_early or self.out_of_time
        ) and every <= self.config.epochs
        if completed % every == 0 or final:
            yield from self._save(rng_state(), is_best, completed)
        if self.stopped_early:
            yield Log(
                f"early stopping after epoch {completed}: no better validation loss for {patience} epochs "
                f"(best: epoch {self.best_epoch})"
            )

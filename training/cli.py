"""``rop-train`` (also ``python -m training``): train, evaluate, report, predict, convert, reproduce, weights, models.

Exit codes: 0 done, 1 the run failed (diverged, out of memory, bad data), 2 bad usage or input
(unknown option, missing file, invalid bundle or snapshot), 130 cancelled with Ctrl-C (the run
saves a checkpoint first; ``--resume`` continues it). Progress bars go to stderr (tqdm; off when
stderr is not a terminal or with ``--quiet``), results to stdout. Under ``torchrun`` only rank 0
prints.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
TASK_OF_REGISTRY = {
    "binary": "binary",
    "multiclass": "stage3",
    "segmentation": "segmentation",
    "instance_segmentation": "instance",
}


class UsageError(Exception):
    """Bad command-line input: printed, exit code 2."""


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


# ----------------------------------------------------------------------------------- train


def default_config(task: str | None, architecture: str | None, line_model: bool = False) -> Any:
    """A sensible starting config for an architecture and/or task (the closest recipe); with
    ``line_model`` (a ``--line-bundle``) and no architecture, the task's line-first recipe if it has one."""
    from training.config import DEFAULT_RECIPES, LINE_FIRST_RECIPES, RECIPES
    from training.models import ModelError, model_info

    if architecture is not None:
        try:
            info = model_info(architecture)
        except ModelError as exc:
            raise UsageError(exc.reason) from None
        task = task or TASK_OF_REGISTRY[info.task]
    task = task or "binary"
    base_name = DEFAULT_RECIPES[task]
    if line_model and architecture is None:
        base_name = LINE_FIRST_RECIPES.get(task, base_name)
    by_arch = {
        "rop_base_cnn": "paper_a_base",
        "rop_res_cnn": "paper_a_res",
        "hybrid": "paper_b_hybrid",
        "stage_classifier": "paper_b_classifier",
        "maskrcnn_line": "paper_b_maskrcnn",
        "unet_small": "fast_line",
        "resnet18_hybrid": "fast_hybrid",
    }
    base = RECIPES[by_arch.get(architecture or "", base_name)]
    if base.task != task:  # e.g. resnet18_hybrid for the binary task: fast_binary_line, not fast_hybrid
        same = [r for r in RECIPES.values() if r.architecture == architecture and r.task == task]
        base = same[0] if same else RECIPES[base_name]
    changes: dict[str, Any] = {"task": task}
    if architecture is not None and architecture != base.architecture:
        preset = "segmentation" if task == "segmentation" else base.preset
        changes.update(architecture=architecture, preset=preset, preset_overrides={})
    return base.with_(**changes)


def build_config(args: argparse.Namespace) -> Any:
    """Recipe (or task/architecture defaults, or the resumed checkpoint's) → JSON file → flags."""
    from training.config import TrainConfig, recipe
    from training.engine import CheckpointError, load_checkpoint

    try:
        if args.recipe:
            config = recipe(args.recipe)
        elif args.resume and not (args.config or args.task or args.arch):
            config = TrainConfig.from_dict(load_checkpoint(args.resume)["config"])
        else:
            config = default_config(args.task, args.arch, line_model=args.line_bundle is not None)
        if args.config:
            data = json.loads(Path(args.config).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise UsageError(f"{args.config}: the config file must hold a JSON object")
            config = TrainConfig.from_dict({**config.to_dict(), **data})
        changes: dict[str, Any] = {}
        if args.task and args.recipe:
            changes["task"] = args.task
        if args.arch and (args.recipe or args.config):
            changes["architecture"] = args.arch
        for flag, key in (
            ("epochs", "epochs"),
            ("batch_size", "batch_size"),
            ("lr", "lr"),
            ("device", "device"),
            ("init", "init"),
            ("seed", "seed"),
            ("max_batches", "max_batches_per_epoch"),
            ("num_workers", "num_workers"),
            ("minutes", "max_minutes"),
        ):
            if getattr(args, flag) is not None:
                changes[key] = getattr(args, flag)
        if args.image_size is not None:
            changes["preset_overrides"] = {**config.preset_overrides, "image_size": args.image_size}
        return config.with_(**changes)
    except (OSError, json.JSONDecodeError, CheckpointError) as exc:
        raise UsageError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid configuration: {exc}") from None


class _Progress:
    """Events → tqdm bars and lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not _is_main_rank()
        self.bars = not self.quiet and sys.stderr.isatty()
        self.bar: Any = None

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "BatchProgress" and self.bars:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=event.batches,
                    desc=f"epoch {event.epoch}",
                    file=sys.stderr,
                    leave=False,
                    initial=event.batch - 1,
                    unit="batch",
                )
            self.bar.update(1)
            self.bar.set_postfix(
                loss=f"{event.loss:.4f}", img_s=f"{event.images_per_s:.1f}", eta=f"{event.eta_s / 60:.1f}min"
            )
            return
        if kind in ("EpochEnd", "Paused", "Cancelled", "Failed", "Finished") and self.bar is not None:
            self.bar.close()
            self.bar = None
        if kind == "RunStarted":
            self.line(
                f"training {event.architecture} ({event.task}) on {event.device}: {event.n_train} train / "
                f"{event.n_val} val / {event.n_test} test images, {event.epochs} epochs of "
                f"{event.batches_per_epoch} batches; initial weights: {event.init}"
            )
        elif kind == "EpochEnd":
            metrics = " ".join(f"{k} {v:.3f}" for k, v in event.val_metrics.items())
            self.line(
                f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f}, val loss "
                f"{event.val_loss:.4f} {metrics} lr {event.lr:.3g}{' *best*' if event.is_best else ''} "
                f"({event.seconds:.1f}s)"
            )
        elif kind == "Log":
            self.line(f"[{event.level}] {event.message}")
        elif kind == "Failed":
            self.line(f"run failed ({event.category}): {event.reason}")
        elif kind == "Cancelled":
            self.line(f"cancelled at epoch {event.epoch}, batch {event.batch}; checkpoint {event.checkpoint}")


def _drive(events: Any, progress: _Progress) -> Any:
    """Show every event of a run; returns the last (Finished, Failed or Cancelled)."""
    last = None
    for event in events:
        progress(event)
        last = event
    return last


def _default_out(resume: str | None, architecture: str) -> Path:
    """A resumed run continues in its own folder; a new one goes to runs/<arch>-<time>."""
    if resume:
        from training.engine import CHECKPOINT_DIR, CheckpointError, find_checkpoint

        try:
            ckpt = find_checkpoint(resume)
        except CheckpointError as exc:
            raise UsageError(str(exc)) from None
        return ckpt.parent.parent if ckpt.parent.name == CHECKPOINT_DIR else ckpt.parent
    return Path("runs") / f"{architecture}-{datetime.now():%Y%m%d-%H%M%S}"


def set_threads(threads: int | None) -> None:
    """``--threads N``: the CPU threads torch may use for its operations (default: torch's choice)."""
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def cmd_train(args: argparse.Namespace) -> int:
    from training.engine import ConfigError, RunControl, check_config, fit

    config = build_config(args)
    set_threads(args.threads)
    try:
        check_config(config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not Path(args.snapshot).exists():
        raise UsageError(f"snapshot {args.snapshot} does not exist")
    out = Path(args.out) if args.out else _default_out(args.resume, config.architecture)
    control = RunControl()
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(_signum: int, _frame: Any) -> None:  # first Ctrl-C: stop cleanly; second: at once
        control.cancel()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        run = fit(config, args.snapshot, out, control=control, resume=args.resume, line_bundle=args.line_bundle)
        result = _drive(run, _Progress(args.quiet))
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.kind == "Finished":
        if _is_main_rank():
            print(
                json.dumps(
                    {
                        "bundle": result.bundle_dir,
                        "best_epoch": result.best_epoch,
                        "epochs_run": result.epochs_run,
                        "time_budget_reached": result.time_budget_reached,
                        "threshold": result.threshold,
                        "test": result.test_metrics,
                    },
                    indent=1,
                )
            )
            if not args.quiet:
                from training.evaluate import format_summary

                print(format_summary(result.test_metrics), file=sys.stderr)
        return EXIT_OK
    return EXIT_CANCELLED if result.kind == "Cancelled" else EXIT_FAILED


# ----------------------------------------------------------------------------- other commands


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_bundle

    report = evaluate_bundle(
        args.bundle,
        args.snapshot,
        None if args.split == "all" else args.split,
        out=args.out,
        device=args.device,
        line_bundle=args.line_bundle,
    )
    print(json.dumps(report.summary(), indent=1) if args.json else report.text())
    if args.out:
        print(f"report written to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from training.report import ReportError, build_report

    try:
        path, _ = build_report(
            args.bundle,
            args.snapshot,
            args.out,
            split=None if args.split == "all" else args.split,
            examples=args.examples,
            device=args.device,
            line_bundle=args.line_bundle,
        )
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"report written to {path}")
    return EXIT_OK


def _describe(name: str, p: Any) -> str:
    if p.probability is not None:
        return f"{name}: probability of ROP {p.probability:.3f} (threshold {p.threshold:.3f}) -> {p.predicted_class}"
    if p.class_probabilities is not None:
        probs = ", ".join(f"{k} {v:.3f}" for k, v in p.class_probabilities.items())
        return f"{name}: {p.predicted_class} ({probs})"
    text = f"{name}: line mask {int((p.line_mask > 0).sum())} px in {len(p.line_polygons)} region(s)"
    return text + (f"; stage by largest area: {p.predicted_class}" if p.predicted_class else "")


def cmd_predict(args: argparse.Namespace) -> int:
    import cv2

    from training.data.io import ImageReadError, read_rgb, write_png
    from training.predictor import Predictor

    predictor = (
        Predictor.hybrid(args.bundle, args.line_bundle, args.device)
        if args.line_bundle
        else Predictor.from_bundle(args.bundle, args.device)
    )
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for image in args.images:
        try:
            rgb = read_rgb(image)
        except ImageReadError as exc:
            raise UsageError(str(exc)) from None
        p = predictor.predict(rgb, saliency=not args.no_saliency, feature_layer=args.feature_layer)
        stem = Path(image).stem
        if args.json:
            print(
                json.dumps(
                    {
                        "image": image,
                        "task": p.task,
                        "probability": p.probability,
                        "threshold": p.threshold,
                        "positive": p.positive,
                        "class_probabilities": p.class_probabilities,
                        "predicted_class": p.predicted_class,
                        "timings_ms": p.timings,
                    }
                )
            )
        else:
            print(_describe(image, p))
        if out is None:
            continue
        if p.line_mask is not None:
            cv2.imwrite(str(out / f"{stem}.mask.png"), p.line_mask)
        if p.saliency is not None:
            heat = cv2.cvtColor(
                cv2.applyColorMap((p.saliency * 255).astype("uint8"), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
            )
            write_png(out / f"{stem}.saliency.png", cv2.addWeighted(rgb, 0.5, heat, 0.5, 0))
        if p.feature_maps is not None:
            cv2.imwrite(str(out / f"{stem}.features.png"), p.feature_maps)
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from training.formats import image_folder_to_snapshot, labelme_to_snapshot, read_fields_csv, via_to_snapshot

    fields = read_fields_csv(args.fields) if getattr(args, "fields", None) else None
    if args.format == "image-folder":
        result = image_folder_to_snapshot(args.source, args.masks, args.out, patients=args.fields)
    elif args.format == "via":
        if not args.images:
            raise UsageError("convert via needs --images (the folder of the project's images)")
        result = via_to_snapshot(args.source, args.images, args.out, fields=fields)
    else:
        result = labelme_to_snapshot(args.source, args.out, fields=fields)
    snap = result.snapshot
    for problem in result.problems[:50]:
        print(f"{problem}", file=sys.stderr)
    print(
        f"snapshot {snap.root}: {len(snap)} records, hash {snap.stored_hash}; "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    from training.reproduce import reproduce

    set_threads(args.threads)
    progress = _Progress(args.quiet)
    result = reproduce(
        args.snapshot,
        args.out,
        paper=args.paper,
        scale=args.scale,
        epochs=args.epochs,
        image_size=args.image_size,
        device=args.device,
        on_event=lambda _name, event: progress(event),
        echo=print,
    )
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_weights(args: argparse.Namespace) -> int:
    from training.weights import (
        PretrainedWeightsError,
        find_pretrained,
        hub_checkpoint_dir,
        import_weights,
        known_weights,
    )

    if args.action == "list":
        print(f"torch cache: {hub_checkpoint_dir()}")
        print("| file | kind | trained on | present | URL |\n| --- | --- | --- | --- | --- |")
        for k in known_weights():
            present = "yes" if (hub_checkpoint_dir() / k.file_name).is_file() else ""
            print(
                f"| {k.file_name} | {k.kind}{' (default)' if k.default else ''} | {k.dataset} | {present} | {k.url} |"
            )
        return EXIT_OK
    if not args.files:
        raise UsageError("weights import needs at least one FILE")
    for file in args.files:
        try:
            done = import_weights(file, args.to)
        except PretrainedWeightsError as exc:
            raise UsageError(exc.reason) from None
        verb = "already present" if done.already_present else "stored"
        print(
            f"{file}: {done.known.file_name} ({done.known.dataset} {done.known.kind}), SHA-256 {done.sha256} "
            f"matches the published {done.known.sha256_prefix}; {verb} as {done.destination}"
        )
        uses = [m for m in done.models if args.to is not None or find_pretrained(done.known.kind) is not None]
        print("  models that now start pretrained: " + (", ".join(uses) or "none of the registered ones"))
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from training.models import list_models, model_info

    rows = [model_info(n) for n in list_models(args.task)]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "task": i.task,
                        "image_size": i.default_image_size,
                        "input_channels": i.input_channels,
                        "paper_exact": i.paper_exact,
                        "cpu_friendly": i.cpu_friendly,
                        "description": i.description,
                    }
                    for i in rows
                ],
                indent=1,
            )
        )
        return EXIT_OK
    print("| model | task | size | channels | paper | CPU | description |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for i in rows:
        print(
            f"| {i.name} | {i.task} | {i.default_image_size} | {i.input_channels} | {'yes' if i.paper_exact else ''} "
            f"| {'yes' if i.cpu_friendly else ''} | {i.description} |"
        )
    return EXIT_OK


# ----------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from training import __version__

    parser = argparse.ArgumentParser(prog="rop-train", description="Train, evaluate and run ROP models headless.")
    parser.add_argument("--version", action="version", version=f"rop-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on a dataset snapshot")
    train.add_argument("--snapshot", required=True, help="snapshot folder (manifest.json + images)")
    train.add_argument("--recipe", help="a named recipe, e.g. paper_a_base, paper_b_hybrid, fast_line")
    train.add_argument("--task", choices=("binary", "stage3", "segmentation", "instance"))
    train.add_argument("--arch", help="registered architecture (see 'rop-train models')")
    train.add_argument("--config", help="JSON file of TrainConfig fields (applied over the recipe)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    train.add_argument("--image-size", type=int, help="square input size of the preprocessing preset")
    train.add_argument("--init", help="auto | random | weights file | bundle:<folder>")
    train.add_argument("--seed", type=int)
    train.add_argument("--num-workers", type=int)
    train.add_argument("--max-batches", type=int, help="cap batches per epoch (smoke runs)")
    train.add_argument(
        "--minutes",
        type=float,
        help="wall-clock training budget: the learning-rate schedule fits it, the best weights are kept",
    )
    train.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    train.add_argument("--out", help="run folder (default runs/<arch>-<time>)")
    train.add_argument("--resume", help="checkpoint file or run folder to continue")
    train.add_argument(
        "--line-bundle",
        help="hybrid models: the line segmenter whose predicted masks feed the validation and test images "
        "(operating threshold and test figures as in use); without it they get the reference masks",
    )
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a bundle on a snapshot split")
    evaluate.add_argument("--bundle", required=True)
    evaluate.add_argument("--snapshot", required=True)
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    evaluate.add_argument("--line-bundle", help="line segmenter whose masks feed a hybrid model")
    evaluate.add_argument("--out", help="folder for report.json and CSV tables")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="write an HTML evaluation report (tables, curves, examples, card)")
    report.add_argument("--bundle", required=True)
    report.add_argument("--snapshot", required=True)
    report.add_argument("--out", required=True, help="HTML file to write")
    report.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    report.add_argument("--examples", type=int, default=4, help="example images with saliency (default 4)")
    report.add_argument("--line-bundle", help="line segmenter whose masks feed a hybrid model")
    report.add_argument("--device", default="auto")
    report.set_defaults(func=cmd_report)

    predict = sub.add_parser("predict", help="run a bundle on images")
    predict.add_argument("--bundle", required=True)
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--line-bundle", help="line segmenter whose masks feed a hybrid model")
    predict.add_argument("--out", help="folder for mask / saliency / feature-map PNGs")
    predict.add_argument("--no-saliency", action="store_true")
    predict.add_argument("--feature-layer", help="layer whose feature maps to save (see Predictor.layers())")
    predict.add_argument("--device", default="auto")
    predict.add_argument("--json", action="store_true", help="one JSON object per image")
    predict.set_defaults(func=cmd_predict)

    convert = sub.add_parser("convert", help="write a snapshot from image+mask folders, VIA or labelme")
    convert.add_argument("format", choices=("image-folder", "via", "labelme"))
    convert.add_argument("source", help="image folder / VIA JSON / labelme folder or file")
    convert.add_argument("--masks", help="image-folder: folder of same-named masks")
    convert.add_argument("--images", help="via: folder of the project's images")
    convert.add_argument("--fields", help="CSV of image-level fields (first column the file name)")
    convert.add_argument("--out", required=True, help="snapshot folder to write")
    convert.set_defaults(func=cmd_convert)

    repro = sub.add_parser("reproduce", help="rerun the papers' experiments and print their tables")
    repro.add_argument("--snapshot", required=True)
    repro.add_argument("--out", required=True)
    repro.add_argument("--paper", default="both", choices=("a", "b", "both"))
    repro.add_argument(
        "--scale",
        default="full",
        choices=("full", "quick", "smoke"),
        help="full: the papers' recipes; quick: both papers on a 2-core CPU in about 30 min; "
        "smoke: a one-minute pipeline check",
    )
    repro.add_argument("--epochs", type=int, help="override every run's epochs (default: each run's own)")
    repro.add_argument("--image-size", type=int, help="override every run's input size (default: each run's own)")
    repro.add_argument("--threads", type=int, help="CPU threads for torch")
    repro.add_argument("--device", default="auto")
    repro.add_argument("--quiet", action="store_true")
    repro.set_defaults(func=cmd_reproduce)

    weights = sub.add_parser("weights", help="pretrained weights: list the known files, import one fetched elsewhere")
    weights.add_argument("action", choices=("import", "list"))
    weights.add_argument("files", nargs="*", metavar="FILE", help="import: torchvision checkpoint file(s)")
    weights.add_argument("--to", help="folder to store them in (default: the torch cache the factories search)")
    weights.set_defaults(func=cmd_weights)

    models = sub.add_parser("models", help="list the model registry")
    models.add_argument("--task", choices=("binary", "multiclass", "segmentation", "instance_segmentation"))
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rop-train``; returns the exit code."""
    import logging

    logging.getLogger("training").addHandler(logging.NullHandler())  # warnings arrive as Log events
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help / --version exit 0, bad usage 2
        return int(exc.code or 0)
    from training.bundle import BundleError
    from training.evaluate import EvaluationError
    from training.formats import FormatError
    from training.predictor import PredictorError
    from training.snapshot import SnapshotError

    try:
        return int(args.func(args))
    except (
        UsageError,
        BundleError,
        SnapshotError,
        FormatError,
        PredictorError,
        EvaluationError,
        FileNotFoundError,
    ) as exc:
        print(f"rop-train {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

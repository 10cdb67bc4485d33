"""Training and inference figures of the headless ``training`` package. Prints Markdown tables.

    .venv/bin/python benchmarks/training_bench.py segment [--minutes 9] [--image-size 384]
    .venv/bin/python benchmarks/training_bench.py reproduce --snapshot <demo export> [--scale smoke]
    .venv/bin/python benchmarks/training_bench.py latency [--repeats 5]
    .venv/bin/python benchmarks/training_bench.py throughput            # CUDA only

- ``segment``: the fast line segmenter (``unet_small``) trained on HVDROPDB's 3nethra Neo ridge
  images (../shared/data/hvdropdb-ridge-neo): images 1-40 train (36) + validation (4, best
  epoch), 41-50 test; patient = file name. Validation Dice per epoch; test Dice/IoU at the
  original 2040x2040 resolution. Published U-Net on this database: Dice 0.49-0.65. With a time
  budget (``--minutes``) the run is cancelled when it runs out and resumed with the epochs done,
  which ends it with the best weights (checkpoint resume).
- ``reproduce``: both papers' tables on a snapshot (e.g. a demo-study export).
- ``latency``: CPU forward time per image of every registered model at its default size.
- ``throughput``: CUDA training images/s (AMP, channels_last, batch 64) of rop_res_cnn and hybrid.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import TrainConfig  # noqa: E402
from training.engine import RunControl, fit  # noqa: E402
from training.events import Cancelled, EpochEnd, Finished, RunStarted  # noqa: E402
from training.models import create_model, list_models, main_logits, model_info  # noqa: E402

HVDROPDB = REPO.parent / "shared" / "data" / "hvdropdb-ridge-neo"


# ---------------------------------------------------------------------------------- (a) segment


def hvdropdb_snapshot(data: Path, out: Path, n_val: int = 4) -> Path:
    """Snapshot of the 50 images: 1-40 train/val (the last ``n_val`` of them val), 41-50 test."""
    from training.formats import image_folder_to_snapshot

    stems = sorted((p.stem for p in (data / "images").glob("*.png")), key=int)
    fields = out.parent / "fields.csv"
    with open(fields, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "patient", "split"])
        for k, stem in enumerate(stems):
            split = "test" if k >= 40 else ("val" if k >= 40 - n_val else "train")
            writer.writerow([f"{stem}.png", f"hvdropdb-{stem}", split])
    result = image_folder_to_snapshot(data / "images", data / "masks", out, patients=fields, polygons=False)
    assert not result.errors, result.errors
    return out


def segment_config(image_size: int, epochs: int, lr: float, batch_size: int) -> TrainConfig:
    """The tuned fast-line recipe: paper B's contrast preprocessing (grey, equalisation, CLAHE,
    standardisation) on one channel, flips / small rotations / brightness, BCE with the line
    pixels up-weighted (sqrt of the class ratio) + soft Dice, Adam, LR x0.5 on a 3-epoch plateau."""
    return TrainConfig(task="segmentation", architecture="unet_small", preset="segmentation",
                       preset_overrides={"image_size": image_size, "color": "paper_b", "normalize": "standardize",
                                         "fov_mask": True, "rotate": 10.0, "brightness": 0.1},
                       epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr, l2=0.0, class_weighted=True,
                       positive_fraction=None, plateau_factor=0.5, plateau_patience=3,
                       early_stopping_patience=None, device="cpu", seed=0)


def bench_segment(args: argparse.Namespace) -> None:
    if not (args.data / "images").is_dir():
        sys.exit(f"HVDROPDB not found at {args.data}")
    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="rop-seg-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    snap = hvdropdb_snapshot(args.data, work / "snapshot")
    config = segment_config(args.image_size, args.epochs, args.lr, args.batch_size)
    control, deadline, started = RunControl(), time.monotonic() + args.minutes * 60, time.monotonic()
    rows, done = [], 0
    print(f"training unet_small at {args.image_size} px, batch {args.batch_size}, lr {args.lr:g} on {snap}, "
          f"budget {args.minutes} min", flush=True)

    def watch(events):  # noqa: ANN001, ANN202
        nonlocal done
        for event in events:
            if isinstance(event, RunStarted):
                print(f"  {event.n_train} train / {event.n_val} val / {event.n_test} test images", flush=True)
            if isinstance(event, EpochEnd):
                done = event.epoch
                rows.append((event.epoch, event.train_loss, event.val_loss, event.val_metrics["dice"], event.seconds))
                print(f"  epoch {event.epoch}: train loss {event.train_loss:.4f} val loss {event.val_loss:.4f} "
                      f"val Dice {event.val_metrics['dice']:.3f} ({event.seconds:.0f} s)", flush=True)
            if time.monotonic() > deadline and not control.is_cancelled:
                control.cancel()
            last = event
        return last

    last = watch(fit(config, work / "snapshot", work / "run", control=control))
    if isinstance(last, Cancelled):  # budget spent: finish with the best epoch so far
        last = watch(fit(config.with_(epochs=max(done, 1)), work / "snapshot", work / "run", resume=work / "run"))
    if not isinstance(last, Finished):
        sys.exit(f"segmentation run did not finish: {last}")
    minutes = (time.monotonic() - started) / 60
    print(f"\n| epoch | train loss | val loss | val Dice ({args.image_size} px) | s |\n| ---: | ---: | ---: | ---: | ---: |")
    for epoch, tl, vl, d, s in rows:
        print(f"| {epoch} | {tl:.4f} | {vl:.4f} | {d:.3f} | {s:.0f} |")
    m = last.test_metrics
    print(f"\n| model | image size | epochs (best) | train time | test Dice (2040 px) | test IoU |\n"
          f"| --- | ---: | ---: | ---: | ---: | ---: |\n"
          f"| unet_small | {args.image_size} | {last.epochs_run} ({last.best_epoch}) | {minutes:.1f} min "
          f"| **{m['dice']:.3f}** | {m['iou']:.3f} |")
    print(f"\nbundle: {last.bundle_dir}; published U-Net on HVDROPDB: Dice 0.49-0.65")


# ---------------------------------------------------------------------------------- (b) reproduce


def bench_reproduce(args: argparse.Namespace) -> None:
    from training.reproduce import reproduce

    out = Path(args.out or tempfile.mkdtemp(prefix="rop-reproduce-"))
    t0 = time.perf_counter()
    result = reproduce(args.snapshot, out, scale=args.scale, device=args.device, epochs=args.epochs)
    print(f"\n{'all runs finished' if result.ok else 'some runs failed'} in {(time.perf_counter() - t0) / 60:.1f} min; "
          f"results in {out}")


# ---------------------------------------------------------------------------------- (c) latency


def _example_input(name: str) -> tuple[torch.nn.Module, object]:
    info = model_info(name)
    model = create_model(name, pretrained=False).eval()
    size = info.default_image_size
    x = torch.rand(1, info.input_channels, size, size)
    return model, (list(x) if info.task == "instance_segmentation" else x)


def bench_latency(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    print(f"CPU forward pass, 1 image, {args.threads} thread(s), median of {args.repeats} after 1 warm-up\n")
    print("| model | task | input | parameters | ms / image (median) | ms (min) |\n| --- | --- | --- | ---: | ---: | ---: |")
    for name in args.models or list_models():
        info = model_info(name)
        model, x = _example_input(name)
        times = []
        with torch.inference_mode():
            for k in range(args.repeats + 1):
                t0 = time.perf_counter()
                out = model(x)
                if info.task != "instance_segmentation":
                    main_logits(out).sum().item()
                if k:
                    times.append((time.perf_counter() - t0) * 1000)
        params = sum(p.numel() for p in model.parameters())
        count = f"{params / 1e6:.1f} M" if params >= 1e5 else f"{params / 1e3:.1f} k"
        print(f"| {name} | {info.task} | {info.input_channels}x{info.default_image_size}x{info.default_image_size} "
              f"| {count} | {statistics.median(times):.0f} | {min(times):.0f} |", flush=True)


# ---------------------------------------------------------------------------------- (d) throughput


def bench_throughput(args: argparse.Namespace) -> None:
    if not torch.cuda.is_available():
        print("CUDA is not available: training throughput skipped")
        return
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"CUDA training throughput on {torch.cuda.get_device_name(0)}: batch {args.batch_size}, AMP fp16, "
          f"channels_last, {args.steps} steps after {args.warmup} warm-up\n")
    print("| model | input | images / s |\n| --- | --- | ---: |")
    for name, classes in (("rop_res_cnn", 1), ("hybrid", 3)):
        info = model_info(name)
        model = create_model(name, num_classes=classes, pretrained=False).to(device, memory_format=torch.channels_last)
        model.train()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler("cuda")
        size = info.default_image_size
        x = torch.randn(args.batch_size, info.input_channels, size, size, device=device).contiguous(
            memory_format=torch.channels_last)
        y = torch.randint(0, max(classes, 2), (args.batch_size,), device=device)
        loss_fn = torch.nn.BCEWithLogitsLoss() if classes == 1 else torch.nn.CrossEntropyLoss()
        target = y.float()[:, None] if classes == 1 else y
        for k in range(args.warmup + args.steps):
            if k == args.warmup:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.float16):
                out = model(x)
                loss = loss_fn(main_logits(out), target)
                if getattr(out, "aux_logits", None) is not None:
                    loss = loss + 0.4 * loss_fn(out.aux_logits, target)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
        torch.cuda.synchronize()
        rate = args.batch_size * args.steps / (time.perf_counter() - t0)
        print(f"| {name} | {info.input_channels}x{size}x{size} | {rate:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)
    seg = sub.add_parser("segment", help="(a) unet_small on HVDROPDB ridge masks")
    seg.add_argument("--data", type=Path, default=HVDROPDB)
    seg.add_argument("--image-size", type=int, default=320)
    seg.add_argument("--epochs", type=int, default=60)
    seg.add_argument("--minutes", type=float, default=9.0, help="time budget; the best epoch so far is kept")
    seg.add_argument("--lr", type=float, default=2e-3)
    seg.add_argument("--batch-size", type=int, default=2)
    seg.add_argument("--threads", type=int, default=2)
    seg.add_argument("--out", help="work folder (default: a temporary one)")
    seg.set_defaults(func=bench_segment)
    rep = sub.add_parser("reproduce", help="(b) both papers' tables on a snapshot")
    rep.add_argument("--snapshot", required=True)
    rep.add_argument("--scale", default="full", choices=("full", "smoke"))
    rep.add_argument("--epochs", type=int)
    rep.add_argument("--device", default="auto")
    rep.add_argument("--out")
    rep.set_defaults(func=bench_reproduce)
    lat = sub.add_parser("latency", help="(c) CPU inference latency of every registered model")
    lat.add_argument("--repeats", type=int, default=5)
    lat.add_argument("--threads", type=int, default=2)
    lat.add_argument("--models", nargs="*")
    lat.set_defaults(func=bench_latency)
    thr = sub.add_parser("throughput", help="(d) CUDA training images/s with AMP")
    thr.add_argument("--batch-size", type=int, default=64)
    thr.add_argument("--steps", type=int, default=20)
    thr.add_argument("--warmup", type=int, default=5)
    thr.set_defaults(func=bench_throughput)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()

"""Training and inference figures of the headless ``training`` package. Prints Markdown tables.

    .venv/bin/python benchmarks/training_bench.py ridge [--minutes 20] [--runs default smp]
    .venv/bin/python benchmarks/training_bench.py reproduce --snapshot <demo export> [--scale smoke]
    .venv/bin/python benchmarks/training_bench.py latency [--repeats 5]
    .venv/bin/python benchmarks/training_bench.py throughput            # CUDA only

- ``ridge``: HVDROPDB's 3nethra Neo ridge images (../shared/data/hvdropdb-ridge-neo): images
  1-32 train, 33-40 validation, 41-50 test; patient = file name. The default
  ``rop-train train --task segmentation --minutes M`` against a plain segmentation-models-pytorch
  U-Net (ResNet-18 encoder from scratch, BCE + Dice, Adam 1e-3, 320 px RGB; benchmark-only
  dependency, ``pip install segmentation-models-pytorch``) trained on the same images for the same
  budget; test Dice/IoU at the original 2040x2040 resolution with patient-bootstrap 95 % CIs.
  Published U-Net on this database: Dice 0.49-0.65.
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
from datetime import date
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.engine import fit  # noqa: E402
from training.events import EpochEnd, Finished  # noqa: E402
from training.models import create_model, list_models, main_logits, model_info  # noqa: E402

HVDROPDB = REPO.parent / "shared" / "data" / "hvdropdb-ridge-neo"


# ---------------------------------------------------------------------------------- (a) ridge


def hvdropdb_snapshot(data: Path, out: Path, n_val: int = 8) -> Path:
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


def default_line_run(snap: Path, out: Path, minutes: float) -> dict:
    """``rop-train train --task segmentation --minutes M --device cpu`` (the CLI's own configuration)."""
    from training.cli import build_config, build_parser

    args = build_parser().parse_args(["train", "--snapshot", str(snap), "--task", "segmentation",
                                      "--minutes", f"{minutes:g}", "--device", "cpu"])
    config = build_config(args)
    started, last = time.monotonic(), None
    for event in fit(config, snap, out):
        if isinstance(event, EpochEnd):
            print(f"  default epoch {event.epoch}: train {event.train_loss:.4f} val {event.val_loss:.4f} "
                  f"val Dice {event.val_metrics['dice']:.3f} lr {event.lr:.2g} ({event.seconds:.0f} s)", flush=True)
        last = event
    if not isinstance(last, Finished):
        sys.exit(f"default line run did not finish: {last}")
    from training.bundle import read_card

    m = last.test_metrics
    card = read_card(last.bundle_dir)
    print(f"  default: {(time.monotonic() - started) / 60:.1f} min with the threshold choice and the test", flush=True)
    return {"name": f"rop-train default ({config.architecture}, {card.preset['image_size']} px)",
            "epochs": last.epochs_run, "best": last.best_epoch, "minutes": card.extra["training"]["minutes"],
            "dice": m["dice"], "iou": m["iou"], "ci": m["ci95"]["dice"], "threshold": last.threshold,
            "dice_per_image": None}


def smp_baseline_run(snap_dir: Path, minutes: float, image_size: int = 320, batch_size: int = 4,
                     lr: float = 1e-3, seed: int = 0) -> dict:
    """A plain segmentation-models-pytorch U-Net (ResNet-18 encoder, random init), BCE + Dice, Adam at a
    constant rate, RGB letterboxed to ``image_size`` with ImageNet normalisation and flips; validation
    loss picks the best epoch within the budget; masks cut at 0.5; Dice at the original resolution."""
    import segmentation_models_pytorch as smp

    from training.data.datasets import SegmentationDataset, collate
    from training.data.io import read_mask, read_rgb
    from training.metrics import mask_scores
    from training.metrics.bootstrap import mean_intervals
    from training.presets import get_preset
    from training.snapshot import Snapshot

    torch.manual_seed(seed)
    snap = Snapshot.load(snap_dir)
    preset = get_preset("segmentation", image_size=image_size, normalize="imagenet", fov_mask=False)
    train = SegmentationDataset(snap.split("train"), preset, train=True, cache=True)
    val = SegmentationDataset(snap.split("val"), preset, train=False, cache=True)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=collate, drop_last=True)
    model = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=3, classes=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    bce, dice_loss = torch.nn.BCEWithLogitsLoss(), smp.losses.DiceLoss("binary", from_logits=True)
    started = time.monotonic()
    deadline = started + minutes * 60
    best, best_state, epoch, epoch_s = float("inf"), None, 0, 0.0
    while time.monotonic() + epoch_s < deadline or best_state is None:
        t0, epoch = time.monotonic(), epoch + 1
        model.train()
        for batch in loader:
            logits = model(batch["image"])
            loss = bce(logits, batch["mask"]) + dice_loss(logits, batch["mask"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            losses = []
            for k in range(len(val)):
                item = val[k]
                logits = model(item["image"][None])
                losses.append(float(bce(logits, item["mask"][None]) + dice_loss(logits, item["mask"][None])))
        val_loss = float(np.mean(losses))
        if val_loss < best:
            best, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        epoch_s = time.monotonic() - t0
        print(f"  smp epoch {epoch}: val loss {val_loss:.4f}{' *' if epoch == best_epoch else ''} ({epoch_s:.0f} s)",
              flush=True)
    train_minutes = (time.monotonic() - started) / 60
    model.load_state_dict(best_state)
    model.eval()
    preds, truths, patients = [], [], []
    with torch.no_grad():
        for r in snap.split("test"):
            rgb, truth = read_rgb(snap.image_path(r)), read_mask(snap.path(r.mask))
            prepared = preset.prepare(rgb)
            prob = torch.sigmoid(model(prepared.image[None]))[0, 0].numpy()
            preds.append(preset.restore(prob, prepared.geometry) >= 0.5)
            truths.append(truth > 0)
            patients.append(r.patient)
    scores = mask_scores(preds, truths)
    ci = mean_intervals({"dice": scores.dice}, patients).intervals["dice"]
    return {"name": f"smp U-Net resnet18 (plain, {image_size} px)", "epochs": epoch, "best": best_epoch,
            "minutes": train_minutes, "dice": scores.mean_dice, "iou": scores.mean_iou, "ci": ci, "threshold": 0.5}


def bench_ridge(args: argparse.Namespace) -> None:
    """The default line recipe against a plain smp U-Net at equal budget, on the same images."""
    if not (args.data / "images").is_dir():
        sys.exit(f"HVDROPDB not found at {args.data}")
    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="rop-ridge-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    snap = hvdropdb_snapshot(args.data, work / "snapshot", n_val=args.n_val)
    print(f"HVDROPDB ridge: 50 images (train {40 - args.n_val}, val {args.n_val}, test 10), budget {args.minutes:g} "
          f"min each, {args.threads} thread(s), {date.today().isoformat()}", flush=True)
    rows = []
    if "default" in args.runs:
        rows.append(default_line_run(snap, work / "default", args.minutes))
    if "smp" in args.runs:
        rows.append(smp_baseline_run(snap, args.minutes))
    print("\n| model | epochs (best) | training time | mask threshold | test Dice (2040 px, 95% CI) | test IoU |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ci = f" ({r['ci'][0]:.3f}-{r['ci'][1]:.3f})" if r["ci"] else ""
        print(f"| {r['name']} | {r['epochs']} ({r['best']}) | {r['minutes']:.1f} min | {r['threshold']:g} "
              f"| **{r['dice']:.3f}**{ci} | {r['iou']:.3f} |")
    if len(rows) == 2:
        ratio = rows[0]["dice"] / max(rows[1]["dice"], 1e-9)
        print(f"\ndefault / baseline mean Dice: {ratio:.2f}x (target >= 1.15x)")
    print(f"\nwork folder: {work}; published U-Net on HVDROPDB RetCam images: Dice 0.49-0.65")


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
    seg = sub.add_parser("ridge", help="(a) default line recipe vs a plain smp U-Net on HVDROPDB ridge masks")
    seg.add_argument("--data", type=Path, default=HVDROPDB)
    seg.add_argument("--minutes", type=float, default=20.0, help="training budget of each model")
    seg.add_argument("--n-val", type=int, default=8, help="validation images among the first 40")
    seg.add_argument("--runs", nargs="+", default=["default", "smp"], choices=("default", "smp"))
    seg.add_argument("--threads", type=int, default=2)
    seg.add_argument("--out", help="work folder (default: a temporary one)")
    seg.set_defaults(func=bench_ridge)
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

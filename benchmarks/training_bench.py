"""Training and inference figures of the headless ``training`` package. Prints Markdown tables.

    .venv/bin/python benchmarks/training_bench.py ridge [--minutes 20] [--runs default smp]
    .venv/bin/python benchmarks/training_bench.py binary [--minutes 20]
    .venv/bin/python benchmarks/training_bench.py binary --line-first [--minutes 20] [--line-minutes 6] [--compare-with RUN] [--run-name line_first]
    .venv/bin/python benchmarks/training_bench.py stages [--minutes 6] [--line-minutes 6]
    .venv/bin/python benchmarks/training_bench.py reproduce [--snapshot SNAP] [--paper both] [--scale quick]
    .venv/bin/python benchmarks/training_bench.py latency [--repeats 5]
    .venv/bin/python benchmarks/training_bench.py throughput            # CUDA only

- ``ridge``: HVDROPDB's 3nethra Neo ridge images (../shared/data/hvdropdb-ridge-neo): images
  1-32 train, 33-40 validation, 41-50 test; patient = file name. The default
  ``rop-train train --task segmentation --minutes M`` against a plain segmentation-models-pytorch
  U-Net (ResNet-18 encoder from scratch, BCE + Dice, Adam 1e-3, 320 px RGB; benchmark-only
  dependency, ``pip install segmentation-models-pytorch``) trained on the same images for the same
  budget; test Dice/IoU at the original 2040x2040 resolution with patient-bootstrap 95 % CIs.
  Published U-Net on this database: Dice 0.49-0.65.
- ``binary``: ``rop-train train --task binary --minutes M`` on a 300-image synthetic study from
  the demo renderer (``benchmarks/synthetic_study.py``: patient groups, ~30 % ROP, near-duplicate
  views per eye); test sensitivity / specificity at the threshold chosen on validation data,
  with patient-bootstrap 95 % CIs, against the target (>= 0.95 at >= 0.90). ``--line-first``: paper A's
  question from the predicted line plus the classifier — ``fast_line`` for ``--line-minutes`` L, then
  ``fast_binary_line`` (grey + line-mask channel, trained on the reference masks, half of them emptied or
  partly erased: ``mask_dropout``) for M - L minutes with
  ``--line-bundle``, so its validation threshold and test figures come from the line model's predicted
  masks — against the image-only ``fast_binary`` (trained here for M minutes, or read from a previous
  run's ``--compare-with RUN/report/predictions.csv`` on the same test split), one table with the paired
  patient-bootstrap differences.
- ``stages``: paper B's claim on a CPU: ``fast_line`` U-Net masks feeding ``fast_hybrid`` versus
  ``fast_stage`` (the same classifier without the mask) on 300 synthetic stage 1-3 images; test
  accuracy with CIs and the paired difference.
- ``reproduce``: the papers' tables on a snapshot (default: the 300-image synthetic study),
  ``--scale quick`` on a CPU.
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
sys.path.insert(0, str(REPO / "benchmarks"))

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


# ---------------------------------------------------------------------------------- (b) synthetic study


def _train(config, data, out: Path, label: str, line_bundle: str | None = None):
    """Run ``fit`` printing epochs; the Finished event (or exit)."""
    last = None
    for event in fit(config, data, out, line_bundle=line_bundle):
        if isinstance(event, EpochEnd):
            metrics = " ".join(f"{k} {v:.3f}" for k, v in event.val_metrics.items())
            print(f"  {label} epoch {event.epoch}: train {event.train_loss:.4f} val {event.val_loss:.4f} {metrics} "
                  f"({event.seconds:.0f} s)", flush=True)
        last = event
    if not isinstance(last, Finished):
        sys.exit(f"{label} did not finish: {last}")
    return last


def _cli_config(task: str, snap: Path, minutes: float):
    """What ``rop-train train --task TASK --minutes M --device cpu`` trains."""
    from training.cli import build_config, build_parser

    return build_config(build_parser().parse_args(["train", "--snapshot", str(snap), "--task", task,
                                                   "--minutes", f"{minutes:g}", "--device", "cpu"]))


def _ci(summary: dict, key: str) -> str:
    from training.metrics.bootstrap import format_interval

    return format_interval(summary.get(key), (summary.get("ci95") or {}).get(key), 2)


def bench_binary(args: argparse.Namespace) -> None:
    """The default binary recipe on a 300-image synthetic study: test sensitivity / specificity at the
    operating threshold chosen on validation data, against the screening target."""
    from synthetic_study import describe, synthetic_snapshot

    if args.line_first:
        bench_binary_line_first(args)
        return
    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="rop-binary-bench-"))
    snap = synthetic_snapshot(work / "study", args.images, args.rop_share, args.seed)
    print(f"synthetic study: {describe(snap)}; budget {args.minutes:g} min, {args.threads} thread(s), "
          f"{date.today().isoformat()}", flush=True)
    config = _cli_config("binary", snap.root, args.minutes)
    started = time.monotonic()
    last = _train(config, snap.root, work / "binary", "binary")
    m = last.test_metrics
    met = (m["sensitivity"] or 0) >= 0.95 and (m["specificity"] or 0) >= 0.90
    print(f"\n| model | minutes (train + test) | threshold (val) | test n | sensitivity | specificity | AUROC | target |\n"
          f"| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
          f"| {config.architecture} ({config.preset}, {m.get('n')} test images) | {(time.monotonic() - started) / 60:.1f} "
          f"| {last.threshold:.3f} | {m['n']} | {_ci(m, 'sensitivity')} | {_ci(m, 'specificity')} | {_ci(m, 'auroc')} "
          f"| {'met' if met else 'missed'} (sens >= 0.95 at spec >= 0.90) |")
    from training.bundle import read_card

    choice = read_card(last.bundle_dir).metrics.get("threshold_choice") or {}
    if choice:
        def num(key: str) -> float:
            return float("nan") if choice.get(key) is None else float(choice[key])

        print(f"\noperating threshold {num('threshold'):.3f}: {choice['description']} (empirical "
              f"{num('empirical_threshold'):.3f}, tolerance bound {num('tolerance_threshold'):.3f}; validation "
              f"sensitivity {num('val_sensitivity'):.3f}, specificity {num('val_specificity'):.3f})")


def _binary_split(study, seed: int) -> dict[str, str]:
    """The patient split ``fit`` gives the default binary recipe on ``study`` (the plain run's split)."""
    from training.config import recipe
    from training.engine.setup import make_splits
    from training.engine.tasks import make_task

    config = recipe("fast_binary", seed=seed, device="cpu")
    _, assignment = make_splits(make_task(config, study.classes), study, config)
    return assignment


def _read_rows(path: Path) -> dict[str, dict]:
    """``report/predictions.csv`` of a binary run: id -> {patient, label, probability}."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["id"]: {"patient": r["patient"], "label": int(r["label"]), "probability": float(r["probability"])}
                for r in csv.DictReader(fh)}


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a ROP image scores above a no-ROP image), ties counted half (Mann-Whitney)."""
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def paired_differences(labels, patients, first: tuple, second: tuple, n_resamples: int = 1000, seed: int = 0) -> dict:
    """``first`` - ``second`` (each ``(scores, threshold)`` on the same images) in sensitivity, specificity
    and AUROC: point estimates with 95 % percentile intervals of a paired patient bootstrap (both models
    scored on the same resampled patients; numpy seed 0, as ``training.metrics.bootstrap``)."""
    from training.metrics.bootstrap import resample_weights

    y = np.asarray(labels, int)
    groups = sorted(set(patients))
    group = np.array([groups.index(p) for p in patients])
    members = [np.flatnonzero(group == g) for g in range(len(groups))]

    def stats(idx: np.ndarray) -> np.ndarray:
        out = []
        for scores, threshold in (first, second):
            s = np.asarray(scores, float)[idx]
            t = y[idx]
            called = s >= threshold
            out.append([called[t == 1].mean() if (t == 1).any() else np.nan,
                        (~called[t == 0]).mean() if (t == 0).any() else np.nan,
                        _auroc(s[t == 1], s[t == 0])])
        return np.asarray(out[0]) - np.asarray(out[1])

    point = stats(np.arange(len(y)))
    draws = []
    for row in resample_weights(len(groups), n_resamples, seed):
        draws.append(stats(np.concatenate([np.repeat(members[g], c) for g, c in enumerate(row) if c])))
    draws = np.asarray(draws)
    result = {}
    for k, name in enumerate(("sensitivity", "specificity", "auroc")):
        finite = draws[:, k][np.isfinite(draws[:, k])]
        ci = tuple(np.percentile(finite, [2.5, 97.5])) if len(finite) >= n_resamples / 2 else None
        result[name] = (float(point[k]), ci)
    return result


def bench_binary_line_first(args: argparse.Namespace) -> None:
    """Paper A's question line-first: fast_line (L min) -> fast_binary_line fed its predicted masks
    (M - L min) versus the image-only fast_binary (M min, or a previous run's predictions), same study,
    same patients, one table."""
    import dataclasses
    import json

    from synthetic_study import describe, synthetic_snapshot

    from training.config import recipe
    from training.evaluate import evaluate_predictor
    from training.metrics import binary_report
    from training.metrics.bootstrap import binary_intervals, format_interval
    from training.predictor import Predictor
    from training.splits import apply_splits

    torch.set_num_threads(args.threads)
    if not 0 < args.line_minutes < args.minutes:
        sys.exit(f"--line-minutes ({args.line_minutes:g}) must be between 0 and --minutes ({args.minutes:g})")
    work = Path(args.out or tempfile.mkdtemp(prefix="rop-binary-bench-"))
    study = synthetic_snapshot(work / "study", args.images, args.rop_share, args.seed)
    compare = Path(args.compare_with) if args.compare_with else None
    assignment = _binary_split(study, args.seed)
    if compare is not None:
        previous = json.loads((compare / "splits.json").read_text(encoding="utf-8"))
        if previous != assignment:
            differ = sorted(k for k in set(previous) | set(assignment) if previous.get(k) != assignment.get(k))
            sys.exit(f"{compare}/splits.json is not this study's binary split ({len(differ)} records differ, "
                     f"e.g. {differ[:3]}): its predictions cannot be compared image by image")
    snap = study.with_records(apply_splits(study, assignment))  # one split for the line model and both classifiers
    snap = dataclasses.replace(snap, stored_hash=snap.content_hash())
    test_ids = sorted(k for k, v in assignment.items() if v == "test")
    print(f"synthetic study: {describe(study)}; line-first: line {args.line_minutes:g} min + binary hybrid "
          f"{args.minutes - args.line_minutes:g} min (mask dropout p {recipe('fast_binary_line').mask_dropout:g}) "
          f"against image-only {args.minutes:g} min, {args.threads} thread(s), {date.today().isoformat()}", flush=True)
    out = work / args.run_name
    if out.exists():
        sys.exit(f"{out} holds a previous line-first run: pass another --run-name to keep it")
    started = time.monotonic()
    line = _train(recipe("fast_line", max_minutes=args.line_minutes, device="cpu", seed=args.seed), snap,
                  out / "line", "line")
    hybrid = _train(recipe("fast_binary_line", max_minutes=args.minutes - args.line_minutes, device="cpu",
                           seed=args.seed), snap, out / "binary", "line-first", line_bundle=line.bundle_dir)
    line_first_minutes = (time.monotonic() - started) / 60
    if compare is not None:
        image_only_rows = _read_rows(compare / "report" / "predictions.csv")
        image_only_summary = json.loads((compare / "report" / "report.json").read_text(encoding="utf-8"))["summary"]
        image_only_source = f"a previous run, same split: {compare}"
        image_only_card = json.loads((compare / "bundle" / "card.json").read_text(encoding="utf-8"))
    else:
        plain = _train(recipe("fast_binary", max_minutes=args.minutes, device="cpu", seed=args.seed), snap,
                       out / "image_only", "image-only")
        image_only_rows = _read_rows(out / "image_only" / "report" / "predictions.csv")
        image_only_summary = plain.test_metrics
        image_only_source = "trained here"
        image_only_card = json.loads((Path(plain.bundle_dir) / "card.json").read_text(encoding="utf-8"))
    if sorted(image_only_rows) != test_ids:
        sys.exit(f"the image-only predictions hold {len(image_only_rows)} images, not this split's {len(test_ids)} "
                 "test images: not comparable")
    line_rows = _read_rows(out / "binary" / "report" / "predictions.csv")
    assert sorted(line_rows) == test_ids, "the line-first run's test split differs"
    upper = evaluate_predictor(Predictor.from_bundle(hybrid.bundle_dir, "cpu"), snap, "test")  # reference masks
    upper_rows = {r["id"]: r for r in upper.predictions}

    labels = [line_rows[i]["label"] for i in test_ids]
    patients = [line_rows[i]["patient"] for i in test_ids]
    thresholds = {"image": float(image_only_summary["threshold"]), "line": float(hybrid.threshold)}
    scores = {"image": [image_only_rows[i]["probability"] for i in test_ids],
              "line": [line_rows[i]["probability"] for i in test_ids],
              "upper": [float(upper_rows[i]["probability"]) for i in test_ids]}
    training = image_only_card.get("training") or {}
    rows = [
        ("image-only `fast_binary` (" + image_only_source + ")", "image", "image",
         f"{training.get('epochs_run')} epochs in {training.get('minutes')} min"),
        ("**line-first** `fast_line` → `fast_binary_line`, fed the predicted masks", "line", "line",
         f"line {line.epochs_run} epochs + hybrid {hybrid.epochs_run} epochs; {line_first_minutes:.1f} min in all"),
        ("the same hybrid fed the reference masks (upper bound)", "upper", "line", "-"),
    ]
    n_pos, n_neg = sum(labels), len(labels) - sum(labels)
    print(f"\nline model: test Dice {_ci(line.test_metrics, 'dice')} on the ROP test images (mask threshold "
          f"{line.threshold:g}, chosen on validation)")
    print("\n| model | training | threshold (val) | test sensitivity (95% CI) | test specificity (95% CI) "
          "| AUROC (95% CI) | target |\n| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for name, key, threshold_key, trained in rows:
        threshold = thresholds[threshold_key]
        report = binary_report(labels, scores[key], threshold)
        ci = binary_intervals(labels, scores[key], threshold, patients)
        met = (report.sensitivity or 0) >= 0.95 and (report.specificity or 0) >= 0.90
        print(f"| {name} | {trained} | {threshold:.3f} "
              f"| {format_interval(report.sensitivity, ci.get('sensitivity'), 3)}, {report.tp}/{n_pos} "
              f"| {format_interval(report.specificity, ci.get('specificity'), 3)}, {report.tn}/{n_neg} "
              f"| {format_interval(report.auroc, ci.get('auroc'), 3)} | {'met' if met else 'missed'} |")
    diff = paired_differences(labels, patients, (scores["line"], thresholds["line"]),
                              (scores["image"], thresholds["image"]))
    print("\nline-first - image-only (paired patient bootstrap, 1000 resamples): " + "; ".join(
        f"{name} {format_interval(value, ci, 3)}" for name, (value, ci) in diff.items()))
    print("\nROP test images either model missed (score / threshold):")
    for i in test_ids:
        if line_rows[i]["label"] == 1 and (line_rows[i]["probability"] < thresholds["line"]
                                           or image_only_rows[i]["probability"] < thresholds["image"]):
            print(f"  {i}: image-only {image_only_rows[i]['probability']:.3f} / {thresholds['image']:.3f}, "
                  f"line-first {line_rows[i]['probability']:.3f} / {thresholds['line']:.3f}")
    card = json.loads((Path(hybrid.bundle_dir) / "card.json").read_text(encoding="utf-8"))
    print(f"\nline-first threshold: {card['metrics'].get('threshold_source')}")
    print(f"line model that fed it: {card['metrics']['line_masks']['line_model']}")
    print(f"work folder: {out}")


def bench_stages(args: argparse.Namespace) -> None:
    """Paper B's claim on a CPU: the line-first hybrid (fast_line U-Net masks → fast_hybrid) versus the
    same classifier without the mask (fast_stage), same patients, same budgets; accuracy with
    patient-bootstrap CIs and the paired difference."""
    from synthetic_study import describe, synthetic_snapshot

    from training.config import DEFAULT_SPLIT_RATIOS, recipe
    from training.evaluate import evaluate_predictor
    from training.metrics.bootstrap import format_interval, mean_intervals
    from training.predictor import Predictor
    from training.reproduce import shared_splits

    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="rop-stages-bench-"))
    study = synthetic_snapshot(work / "study", args.images, 1.0, args.seed)  # stage 1-3 images only
    snap = shared_splits(study, args.seed, DEFAULT_SPLIT_RATIOS)
    print(f"synthetic stage 1-3 study: {describe(snap)}; budgets line {args.line_minutes:g} / classifiers "
          f"{args.minutes:g} min, {args.threads} thread(s), {date.today().isoformat()}", flush=True)
    line = _train(recipe("fast_line", max_minutes=args.line_minutes, device="cpu"), snap, work / "line", "line")
    hybrid = _train(recipe("fast_hybrid", max_minutes=args.minutes, device="cpu"), snap, work / "hybrid", "hybrid")
    plain = _train(recipe("fast_stage", max_minutes=args.minutes, device="cpu"), snap, work / "stage", "classifier")
    reports = {
        "Hybrid (fast_hybrid, predicted line masks)": evaluate_predictor(
            Predictor.hybrid(hybrid.bundle_dir, line.bundle_dir, "cpu"), snap, "test"),
        "Hybrid with the reference masks (upper bound)": evaluate_predictor(
            Predictor.from_bundle(hybrid.bundle_dir, "cpu"), snap, "test"),
        "Classifier-only (fast_stage)": evaluate_predictor(Predictor.from_bundle(plain.bundle_dir, "cpu"), snap, "test"),
    }
    print(f"\nline model: test Dice {_ci(line.test_metrics, 'dice')} (mask threshold {line.threshold:g})")
    print("\n| model | test images | accuracy (95% CI) | macro F1 (95% CI) |\n| --- | ---: | ---: | ---: |")
    for name, r in reports.items():
        summary = r.summary()
        print(f"| {name} | {r.n} | {_ci(summary, 'accuracy')} | {_ci(summary, 'macro_f1')} |")
    names = list(reports)
    rows = {k: {p["id"]: p for p in reports[k].predictions} for k in (names[0], names[2])}
    ids = sorted(rows[names[0]])
    diff = [float(rows[names[0]][i]["label"] == rows[names[0]][i]["predicted"])
            - float(rows[names[2]][i]["label"] == rows[names[2]][i]["predicted"]) for i in ids]
    ci = mean_intervals({"diff": diff}, [rows[names[0]][i]["patient"] for i in ids]).intervals["diff"]
    print(f"\nhybrid - classifier-only accuracy: {format_interval(float(np.mean(diff)), ci, 2)} "
          "(paired, patient bootstrap; paper B: +0.13; target >= +0.10)")


# ---------------------------------------------------------------------------------- (c) reproduce


def bench_reproduce(args: argparse.Namespace) -> None:
    from training.reproduce import reproduce

    out = Path(args.out or tempfile.mkdtemp(prefix="rop-reproduce-"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.set_num_threads(args.threads)
    snapshot = args.snapshot
    if snapshot is None:
        from synthetic_study import describe, synthetic_snapshot

        study = synthetic_snapshot(out / "study", 300, 0.3, 0)
        print(f"synthetic study: {describe(study)}; {date.today().isoformat()}", flush=True)
        snapshot = study.root
    t0 = time.perf_counter()
    result = reproduce(snapshot, out / "results", paper=args.paper, scale=args.scale, device=args.device,
                       epochs=args.epochs)
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
    binary = sub.add_parser("binary", help="(b) default binary recipe on a 300-image synthetic study")
    binary.add_argument("--minutes", type=float, default=20.0)
    binary.add_argument("--images", type=int, default=300)
    binary.add_argument("--rop-share", type=float, default=0.3)
    binary.add_argument("--seed", type=int, default=0)
    binary.add_argument("--threads", type=int, default=2)
    binary.add_argument("--out", help="work folder (the study is reused when there)")
    binary.add_argument("--line-first", action="store_true",
                        help="line model + binary hybrid fed its predicted masks, against the image-only recipe")
    binary.add_argument("--run-name", default="line_first",
                        help="--line-first: sub-folder of --out for this run (an existing one is not overwritten)")
    binary.add_argument("--line-minutes", type=float, default=6.0,
                        help="--line-first: the line model's share of --minutes")
    binary.add_argument("--compare-with", help="--line-first: a previous image-only run folder (its "
                        "report/predictions.csv on the same test split) instead of training it again")
    binary.set_defaults(func=bench_binary)
    stages = sub.add_parser("stages", help="(b) line-first hybrid vs classifier-only on synthetic stage 1-3 images")
    stages.add_argument("--minutes", type=float, default=6.0, help="budget of each classifier")
    stages.add_argument("--line-minutes", type=float, default=6.0, help="budget of the line model")
    stages.add_argument("--images", type=int, default=300)
    stages.add_argument("--seed", type=int, default=0)
    stages.add_argument("--threads", type=int, default=2)
    stages.add_argument("--out", help="work folder (the study is reused when there)")
    stages.set_defaults(func=bench_stages)
    rep = sub.add_parser("reproduce", help="(c) the papers' tables on a snapshot")
    rep.add_argument("--snapshot", help="default: a 300-image synthetic study (30 % ROP) written to OUT/study")
    rep.add_argument("--paper", default="both", choices=("a", "b", "both"))
    rep.add_argument("--scale", default="quick", choices=("full", "quick", "smoke"))
    rep.add_argument("--threads", type=int, default=2)
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

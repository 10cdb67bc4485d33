"""Rerun the source papers' experiments on a snapshot and print their result tables.

Paper A (ROP yes/no): ROPBaseCNN versus ROPResCNN, each at the operating threshold chosen on
validation data, evaluated on the test split → :func:`training.metrics.paper_a_table`.

Paper B (stages 1–3, on the stage 1–3 images only): a line segmenter (its test Dice, and AP@0.5
for Mask R-CNN); the hybrid classifier trained on the reference line masks and tested on the
segmenter's PREDICTED masks; the classifier-only baseline; the segmentation-only baseline
(per-stage Mask R-CNN, the stage with the largest predicted area wins, no line = "no line").
→ :func:`training.metrics.paper_b_table` with the classes "no line", "stage 1..3" (the
classifiers never answer "no line", so that column is n/a for them).

``paper``: "a", "b" or "both". Paper A's runs share one patient-grouped split with a fifth of the
patients validating; paper B's share its 6:3:1 split, so no segmenter has seen a classifier's test
image (records that carry a split keep it). Every headline figure is printed with its 95 %
patient-bootstrap confidence interval under the table.

Scales — each run's recipe, image size, epochs and time budget are in :data:`PAPER_A_RUNS` /
:data:`PAPER_B_RUNS`:

- ``full``: the papers' recipes (paper B: Mask R-CNN and Inception v3 at 299 px) — a GPU's work;
- ``quick``: the whole of both papers on a 2-core CPU in about 30 minutes: every run has a time
  budget and a smaller input; paper A keeps its two networks; paper B runs its line-first idea
  with the CPU models (the U-Net line segmenter ``fast_line``, ``fast_hybrid`` / ``fast_stage``
  classifiers) and a ResNet-18 Mask R-CNN for the segmentation-only baseline;
- ``smoke``: tiny images, one epoch of three batches, no checkpoints: the pipeline in about a
  minute (tests, installation checks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import DEFAULT_SPLIT_RATIOS, PAPER_B_SPLIT_RATIOS, TrainConfig, recipe
from training.engine import RunControl, Terminal, fit
from training.engine.setup import patient_split
from training.evaluate import EvaluationReport, evaluate_predictor
from training.events import Event, Finished
from training.metrics import (
    BinaryReport,
    MulticlassReport,
    multiclass_report,
    paper_a_table,
    paper_b_table,
    save_report,
)
from training.metrics.bootstrap import format_interval
from training.predictor import NO_LINE, Predictor
from training.snapshot import Snapshot
from training.splits import apply_splits

SCALES = ("full", "quick", "smoke")
PAPERS = ("a", "b", "both")


@dataclass(frozen=True)
class Run:
    """One experiment: its folder name, its table row, and its configuration per scale."""

    name: str
    row: str
    recipe: str  #: the paper's recipe (full and smoke scales)
    changes: dict[str, Any] = field(default_factory=dict)
    quick_recipe: str | None = None  #: the CPU recipe of the quick scale (None: the paper's, shrunk)
    quick: dict[str, Any] = field(default_factory=dict)  #: image size, epochs, time budget of the quick scale


PAPER_A_RUNS: tuple[Run, ...] = (
    Run(
        "paper_a_base",
        "ROPBaseCNN",
        "paper_a_base",
        quick={"preset_overrides": {"image_size": 160}, "epochs": 40, "max_minutes": 2.0},
    ),
    Run(
        "paper_a_res",
        "ROPResCNN",
        "paper_a_res",
        quick={"preset_overrides": {"image_size": 128}, "epochs": 15, "batch_size": 16, "max_minutes": 5.0},
    ),
)
PAPER_B_RUNS: tuple[Run, ...] = (
    Run(
        "paper_b_line",
        "line segmenter",
        "paper_b_maskrcnn",
        quick_recipe="fast_line",
        quick={"preset_overrides": {"image_size": 256}, "epochs": 40, "max_minutes": 4.0},
    ),
    Run(
        "paper_b_hybrid",
        "Hybrid",
        "paper_b_hybrid",
        quick_recipe="fast_hybrid",
        quick={
            "preset_overrides": {"image_size": 160, "mask_channel": True, "hflip": 0.5, "vflip": 0.5},
            "epochs": 30,
            "oversample_stage1": 2,
            "max_minutes": 4.0,
        },
    ),
    Run(
        "paper_b_classifier",
        "Classifier-only",
        "paper_b_classifier",
        quick_recipe="fast_stage",
        quick={
            "preset_overrides": {"image_size": 160, "hflip": 0.5, "vflip": 0.5},
            "epochs": 30,
            "oversample_stage1": 2,
            "max_minutes": 4.0,
        },
    ),
    Run(
        "paper_b_seg_only",
        "Segmentation-only",
        "paper_b_maskrcnn",
        {"architecture": "seg_only_baseline"},
        quick={
            "model_kwargs": {"backbone": "resnet18"},
            "preset_overrides": {"image_size": 256},
            "epochs": 10,
            "warmup_batches": 20,
            "max_minutes": 4.0,
        },
    ),
)
SMOKE = {"epochs": 1, "batch_size": 4, "max_batches_per_epoch": 3, "size_a": 64, "size_b": 80}


@dataclass
class ReproduceResult:
    """The two tables (Markdown), the reports behind them and every run's final event."""

    out_dir: Path
    paper: str = "both"
    paper_a: dict[str, BinaryReport] = field(default_factory=dict)
    paper_b: dict[str, MulticlassReport] = field(default_factory=dict)
    reports: dict[str, EvaluationReport] = field(default_factory=dict)  #: by table row, with the CIs
    segmentation: EvaluationReport | None = None
    table_a: str = ""
    table_b: str = ""
    runs: dict[str, Terminal] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every run finished and the tables asked for have all their rows."""
        want_a = len(PAPER_A_RUNS) if self.paper in ("a", "both") else 0
        want_b = len(PAPER_B_RUNS) - 1 if self.paper in ("b", "both") else 0
        return (
            all(isinstance(r, Finished) for r in self.runs.values())
            and len(self.paper_a) == want_a
            and len(self.paper_b) == want_b
        )


def shared_splits(
    snapshot: Snapshot, seed: int = 0, ratios: tuple[float, float, float] = PAPER_B_SPLIT_RATIOS
) -> Snapshot:
    """The snapshot with every unassigned record given a patient-grouped split (in memory)."""
    if all(r.split is not None for r in snapshot):
        return snapshot
    assignment = patient_split(snapshot, ratios, seed, lambda r: r.stage if r.stage is not None else r.label_binary)
    return _hashed(snapshot.with_records(apply_splits(snapshot, assignment)))


def _hashed(snapshot: Snapshot) -> Snapshot:
    """The in-memory snapshot with its content hash computed once (every run's card records it)."""
    return dataclasses.replace(snapshot, stored_hash=snapshot.content_hash())


def run_config(
    run: Run, *, scale: str, epochs: int | None, image_size: int | None, device: str, seed: int
) -> TrainConfig:
    """One experiment's configuration at ``scale``, with the global ``epochs`` / ``image_size`` overrides."""
    if scale == "quick":
        config = recipe(run.quick_recipe or run.recipe, device=device, seed=seed, **run.changes)
        quick = dict(run.quick)
        overrides = {**config.preset_overrides, **quick.pop("preset_overrides", {})}
        model_kwargs = {**config.model_kwargs, **quick.pop("model_kwargs", {})}
        config = config.with_(preset_overrides=overrides, model_kwargs=model_kwargs, **quick)
    else:
        config = recipe(run.recipe, device=device, seed=seed, **run.changes)
    updates: dict[str, Any] = {}
    size = image_size
    if scale == "smoke":
        size = size or (SMOKE["size_a"] if run.name.startswith("paper_a") else SMOKE["size_b"])
        updates.update(
            epochs=SMOKE["epochs"],
            batch_size=min(config.batch_size, SMOKE["batch_size"]),
            max_batches_per_epoch=SMOKE["max_batches_per_epoch"],
            early_stopping_patience=None,
            warmup_batches=0,
        )
        updates["checkpoint_every"] = (epochs or SMOKE["epochs"]) + 1  # no checkpoint files
    if epochs is not None:
        updates["epochs"] = epochs
    if size is not None:
        updates["preset_overrides"] = {**config.preset_overrides, "image_size": size}
    return config.with_(**updates)


def _four_class(report: EvaluationReport, classes: list[str]) -> MulticlassReport:
    """A stage classifier's test predictions scored with the extra "no line" class (never predicted)."""
    rows = report.predictions
    return multiclass_report([r["label"] + 1 for r in rows], [r["predicted"] + 1 for r in rows], [NO_LINE, *classes])


def reproduce(
    snapshot: Snapshot | str | Path,
    out_dir: str | Path,
    *,
    paper: str = "both",
    scale: str = "full",
    epochs: int | None = None,
    image_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    on_event: Callable[[str, Event], None] | None = None,
    echo: Callable[[str], None] | None = print,
    control: RunControl | None = None,
) -> ReproduceResult:
    """Run paper A's and/or paper B's experiments (see the module docstring); tables are printed with
    ``echo`` and written to ``out_dir`` (``paper_a.md``/``.csv``/``.json``, ``paper_b.*``,
    ``line_segmentation/``), every run in its own sub-folder."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}, got {paper!r}")
    say = echo or (lambda _text: None)
    loaded = snapshot if isinstance(snapshot, Snapshot) else Snapshot.load(snapshot)
    out = Path(out_dir)
    result = ReproduceResult(out, paper)

    def train(run: Run, data: Snapshot) -> Predictor | None:
        config = run_config(run, scale=scale, epochs=epochs, image_size=image_size, device=device, seed=seed)
        budget = f", at most {config.max_minutes:g} min" if config.max_minutes else ""
        say(
            f"{run.name}: training {config.architecture} ({config.task}, "
            f"{config.preset_overrides.get('image_size', 'default')} px, {config.epochs} epochs{budget})"
        )
        last: Any = None
        for event in fit(config, data, out / run.name, control=control):
            last = event
            if on_event is not None:
                on_event(run.name, event)
        result.runs[run.name] = last
        if not isinstance(last, Finished):
            say(f"{run.name}: {last.kind} — {getattr(last, 'reason', '')}")
            return None
        return Predictor.from_bundle(last.bundle_dir, device)

    if paper in ("a", "both"):
        snap_a = shared_splits(loaded, seed, DEFAULT_SPLIT_RATIOS)
        for run in PAPER_A_RUNS:
            predictor = train(run, snap_a)
            if predictor is not None:
                report = _test(predictor, snap_a)
                result.paper_a[run.row] = report.binary  # type: ignore[assignment]
                result.reports[run.row] = report

    if paper in ("b", "both"):
        snap_b = shared_splits(loaded, seed, PAPER_B_SPLIT_RATIOS)
        stages = _hashed(snap_b.with_records(r for r in snap_b if r.stage3 is not None))
        line = train(PAPER_B_RUNS[0], stages)
        if line is not None:
            result.segmentation = _test(line, stages)
            result.segmentation.save(out / "line_segmentation")
        classes = list(stages.classes.get("stage3", ["stage 1", "stage 2", "stage 3"]))
        for run in PAPER_B_RUNS[1:]:
            predictor = train(run, stages)
            if predictor is None:
                continue
            if predictor.needs_line_mask:
                if line is None:
                    result.notes.append(f"{run.row} not evaluated: the line segmenter did not train")
                    continue
                predictor.mask_provider = line
            report = _test(predictor, stages)
            result.reports[run.row] = report
            result.paper_b[run.row] = (
                report.multiclass  # type: ignore[assignment]  # an instance model's report always has one
                if predictor.task == "instance_segmentation"
                else _four_class(report, classes)
            )

    _write_tables(result, say)
    return result


def _test(predictor: Predictor, snapshot: Snapshot) -> EvaluationReport:
    report = evaluate_predictor(predictor, snapshot, "test")
    if predictor.task in ("binary", "multiclass") and report.binary is None and report.multiclass is None:
        raise RuntimeError("evaluation returned no classification report")
    return report


def _intervals(result: ReproduceResult, rows: list[str], metrics: tuple[str, ...]) -> str:
    """One line per row: the headline figures with their 95 % patient-bootstrap intervals."""
    lines = []
    for row in rows:
        report = result.reports.get(row)
        if report is None or report.ci is None:
            continue
        summary = report.summary()
        figures = ", ".join(
            f"{m} {format_interval(summary.get(m), report.ci.get(m), 2)}" for m in metrics if summary.get(m) is not None
        )
        warning = "".join(f" WARNING: {w}" for w in report.warnings)
        lines.append(f"- {row}: {figures}{warning}")
    if not lines:
        return ""
    method = next(r.ci for r in result.reports.values() if r.ci is not None).describe()
    return "\n" + "\n".join(lines) + f"\n\n({method} per model)\n"


def _write_tables(result: ReproduceResult, say: Callable[[str], None]) -> None:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    texts = []
    if result.paper in ("a", "both"):
        if result.paper_a:
            result.table_a = paper_a_table(result.paper_a)
            save_report(result.paper_a, out / "paper_a.json", out / "paper_a.csv")
        text_a = (
            "## Paper A: ROP yes/no (test split)\n\n"
            + (result.table_a or "no model finished\n")
            + _intervals(
                result, list(result.paper_a), ("sensitivity", "specificity", "precision", "accuracy", "f1", "auroc")
            )
        )
        (out / "paper_a.md").write_text(text_a, encoding="utf-8")
        texts.append(text_a)
    if result.paper in ("b", "both"):
        if result.paper_b:
            result.table_b = paper_b_table(result.paper_b)
            save_report(result.paper_b, out / "paper_b.json", out / "paper_b.csv")
        seg = result.segmentation
        if seg is not None and seg.masks is not None:
            dice_ci = seg.ci.get("dice") if seg.ci is not None else None
            ap = "n/a (a semantic segmenter)" if seg.ap is None or seg.ap.ap is None else f"{seg.ap.ap:.3f}"
            seg_line = (
                f"Line segmenter on the test split: Dice {format_interval(seg.masks.mean_dice, dice_ci)}, AP@0.5 {ap}"
            )
        else:
            seg_line = "Line segmenter: not trained"
        text_b = (
            "## Paper B: stages 1-3 (test split)\n\n"
            + (result.table_b or "no model finished\n")
            + _intervals(result, list(result.paper_b), ("accuracy", "macro_f1"))
            + f"\n{seg_line}\n"
            + "".join(f"\nNote: {n}\n" for n in result.notes)
        )
        (out / "paper_b.md").write_text(text_b, encoding="utf-8")
        texts.append(text_b)
    for text in texts:
        say(text)

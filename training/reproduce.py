"""Rerun both source papers' experiments on a snapshot and print their result tables.

Paper A (ROP yes/no): ROPBaseCNN versus ROPResCNN, each at the operating threshold chosen on
validation data, evaluated on the test split → :func:`training.metrics.paper_a_table`.

Paper B (stages 1–3, on the stage 1–3 images only): a Mask R-CNN line segmenter (its test Dice
and AP@0.5 are reported too); the hybrid classifier trained on the reference line masks and
tested on the segmenter's PREDICTED masks; the classifier-only baseline; the segmentation-only
baseline (per-stage Mask R-CNN, the stage with the largest predicted area wins, no line = "no
line"). → :func:`training.metrics.paper_b_table` with the classes "no line", "stage 1..3" (the
classifiers never answer "no line", so that column is n/a for them).

All models share one patient-grouped split of the snapshot (records that carry a split keep it),
so no segmenter has seen a classifier's test image. ``scale="smoke"`` shrinks images, epochs and
batches so that the whole pipeline runs in about a minute on a CPU (tests, installation checks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import TrainConfig, recipe
from training.engine import RunControl, Terminal, fit
from training.evaluate import EvaluationReport, evaluate_predictor
from training.events import Event, Finished
from training.metrics import BinaryReport, MulticlassReport, multiclass_report, paper_a_table, paper_b_table, save_report
from training.predictor import NO_LINE, Predictor
from training.snapshot import Snapshot
from training.engine.setup import patient_split
from training.splits import PAPER_B_RATIOS, apply_splits

SCALES = ("full", "smoke")
#: (run name, table row, recipe, changes) of paper A and paper B, in the order they run.
PAPER_A_RUNS = (("paper_a_base", "ROPBaseCNN", "paper_a_base", {}),
                ("paper_a_res", "ROPResCNN", "paper_a_res", {}))
PAPER_B_RUNS = (("paper_b_line", "line segmenter", "paper_b_maskrcnn", {}),
                ("paper_b_hybrid", "Hybrid", "paper_b_hybrid", {}),
                ("paper_b_classifier", "Classifier-only", "paper_b_classifier", {}),
                ("paper_b_seg_only", "Segmentation-only", "paper_b_maskrcnn", {"architecture": "seg_only_baseline"}))
SMOKE = {"epochs": 1, "batch_size": 4, "max_batches_per_epoch": 3, "size_a": 64, "size_b": 80}


@dataclass
class ReproduceResult:
    """The two tables (Markdown), the reports behind them and every run's final event."""

    out_dir: Path
    paper_a: dict[str, BinaryReport] = field(default_factory=dict)
    paper_b: dict[str, MulticlassReport] = field(default_factory=dict)
    segmentation: EvaluationReport | None = None
    table_a: str = ""
    table_b: str = ""
    runs: dict[str, Terminal] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every run finished and both tables have all their rows."""
        return (all(isinstance(r, Finished) for r in self.runs.values())
                and len(self.paper_a) == len(PAPER_A_RUNS) and len(self.paper_b) == len(PAPER_B_RUNS) - 1)


def shared_splits(snapshot: Snapshot, seed: int = 0) -> Snapshot:
    """The snapshot with every unassigned record given a patient-grouped 6:3:1 split (in memory)."""
    if all(r.split is not None for r in snapshot):
        return snapshot
    assignment = patient_split(snapshot, PAPER_B_RATIOS, seed,
                               lambda r: r.stage if r.stage is not None else r.label_binary)
    return _hashed(snapshot.with_records(apply_splits(snapshot, assignment)))


def _hashed(snapshot: Snapshot) -> Snapshot:
    """The in-memory snapshot with its content hash computed once (every run's card records it)."""
    return dataclasses.replace(snapshot, stored_hash=snapshot.content_hash())


def run_config(name: str, recipe_name: str, changes: dict[str, Any], *, scale: str, epochs: int | None,
               image_size: int | None, device: str, seed: int) -> TrainConfig:
    """One experiment's configuration: the paper's recipe, shrunk for ``smoke``, with the overrides."""
    config = recipe(recipe_name, device=device, seed=seed, **changes)
    size = image_size
    updates: dict[str, Any] = {}
    if scale == "smoke":
        size = size or (SMOKE["size_a"] if name.startswith("paper_a") else SMOKE["size_b"])
        updates.update(epochs=SMOKE["epochs"], batch_size=min(config.batch_size, SMOKE["batch_size"]),
                       max_batches_per_epoch=SMOKE["max_batches_per_epoch"], early_stopping_patience=None)
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


def reproduce(snapshot: Snapshot | str | Path, out_dir: str | Path, *, scale: str = "full", epochs: int | None = None,
              image_size: int | None = None, device: str = "auto", seed: int = 0,
              on_event: Callable[[str, Event], None] | None = None, echo: Callable[[str], None] | None = print,
              control: RunControl | None = None) -> ReproduceResult:
    """Run paper A's and paper B's experiments (see the module docstring); tables are printed with
    ``echo`` and written to ``out_dir`` (``paper_a.md``/``.csv``/``.json``, ``paper_b.*``,
    ``line_segmentation/``), every run in its own sub-folder."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    say = echo or (lambda _text: None)
    snap = shared_splits(snapshot if isinstance(snapshot, Snapshot) else Snapshot.load(snapshot), seed)
    out = Path(out_dir)
    result = ReproduceResult(out)

    def train(name: str, recipe_name: str, changes: dict[str, Any], data: Snapshot) -> Predictor | None:
        config = run_config(name, recipe_name, changes, scale=scale, epochs=epochs, image_size=image_size,
                            device=device, seed=seed)
        say(f"{name}: training {config.architecture} ({config.task}, {config.epochs} epochs)")
        last: Any = None
        for event in fit(config, data, out / name, control=control):
            last = event
            if on_event is not None:
                on_event(name, event)
        result.runs[name] = last
        if not isinstance(last, Finished):
            say(f"{name}: {last.kind} — {getattr(last, 'reason', '')}")
            return None
        return Predictor.from_bundle(last.bundle_dir, device)

    for name, row, recipe_name, changes in PAPER_A_RUNS:
        predictor = train(name, recipe_name, changes, snap)
        if predictor is not None:
            result.paper_a[row] = _test(predictor, snap).binary  # type: ignore[assignment]

    stages = _hashed(snap.with_records(r for r in snap if r.stage3 is not None))
    line_name, _, line_recipe, line_changes = PAPER_B_RUNS[0]
    line = train(line_name, line_recipe, line_changes, stages)
    if line is not None:
        result.segmentation = _test(line, stages)
        result.segmentation.save(out / "line_segmentation")
    for name, row, recipe_name, changes in PAPER_B_RUNS[1:]:
        predictor = train(name, recipe_name, changes, stages)
        if predictor is None:
            continue
        if predictor.needs_line_mask:
            if line is None:
                result.notes.append("Hybrid not evaluated: the line segmenter did not train")
                continue
            predictor.mask_provider = line
        report = _test(predictor, stages)
        classes = list(stages.classes.get("stage3", ["stage 1", "stage 2", "stage 3"]))
        result.paper_b[row] = report.multiclass if predictor.task == "instance_segmentation" else \
            _four_class(report, classes)  # type: ignore[assignment]

    _write_tables(result, say)
    return result


def _test(predictor: Predictor, snapshot: Snapshot) -> EvaluationReport:
    report = evaluate_predictor(predictor, snapshot, "test")
    if predictor.task in ("binary", "multiclass") and report.binary is None and report.multiclass is None:
        raise RuntimeError("evaluation returned no classification report")
    return report


def _write_tables(result: ReproduceResult, say: Callable[[str], None]) -> None:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if result.paper_a:
        result.table_a = paper_a_table(result.paper_a)
        save_report(result.paper_a, out / "paper_a.json", out / "paper_a.csv")
    if result.paper_b:
        result.table_b = paper_b_table(result.paper_b)
        save_report(result.paper_b, out / "paper_b.json", out / "paper_b.csv")
    seg = result.segmentation
    seg_line = (f"Line segmenter on the test split: Dice {seg.masks.mean_dice:.3f}, AP@0.5 "
                f"{'n/a' if seg.ap is None or seg.ap.ap is None else f'{seg.ap.ap:.3f}'}"
                if seg is not None and seg.masks is not None else "Line segmenter: not trained")
    text_a = "## Paper A: ROP yes/no (test split)\n\n" + (result.table_a or "no model finished\n")
    text_b = ("## Paper B: stages 1-3 (test split)\n\n" + (result.table_b or "no model finished\n")
              + f"\n{seg_line}\n" + "".join(f"\nNote: {n}\n" for n in result.notes))
    (out / "paper_a.md").write_text(text_a, encoding="utf-8")
    (out / "paper_b.md").write_text(text_b, encoding="utf-8")
    say(text_a)
    say(text_b)

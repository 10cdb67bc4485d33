"""The end of a run: best weights → operating threshold on validation data → test report → bundle."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from torch import nn

from training.bundle import ModelCard, save_bundle, write_model_card_markdown
from training.config import TrainConfig
from training.evaluate import EvaluationReport, evaluate_predictor, probability_maps
from training.events import Log
from training.line_masks import LineMasks
from training.metrics import (
    MetricsInputError,
    binary_report,
    choose_mask_threshold,
    choose_operating_threshold,
    threshold_choice_dict,
)
from training.predictor import Predictor
from training.presets import Preset
from training.snapshot import Snapshot

BUNDLE_DIR = "bundle"
REPORT_DIR = "report"
PAPER_A_ARCHITECTURES = ("rop_base_cnn", "rop_res_cnn")


def card_notes(config: TrainConfig, preset: Preset, stage_mask_source: str | None) -> list[str]:
    """Notes for the model card: paper A's lost numbers and the values chosen, mask sources."""
    notes = []
    if config.architecture in PAPER_A_ARCHITECTURES or config.preset == "paper_a":
        ratio = "plain shuffling" if config.positive_fraction is None else f"{config.positive_fraction:g}"
        notes.append(
            "Paper A's text lost the learning rate, the positive:negative batch ratio, the L2 weight and "
            f"the plateau patience; values used here: learning rate {config.lr:g}, positive fraction per "
            f"batch {ratio}, L2 {config.l2:g}, plateau patience {config.plateau_patience} "
            f"(learning rate x{config.plateau_factor:g} on a validation-loss plateau)."
        )
    if config.task == "binary" and config.class_weighted:
        notes.append(
            "Class-weighted cross-entropy: ROP cases weighted by negatives / positives of the training split"
            + (
                f", on top of batches drawn {config.positive_fraction:g} positive (the loss leans towards ROP)"
                if config.positive_fraction is not None
                else ""
            )
            + "."
        )
    if preset.mask_channel and stage_mask_source:
        notes.append(
            f"Trained with {stage_mask_source} line masks as the second input channel; at prediction time "
            "feed the line segmenter's masks (Predictor.hybrid) as paper B does."
        )
    if config.oversample_stage1 > 1 and config.task == "stage3":
        notes.append(
            f"Stage-1 images of the training split were over-sampled x{config.oversample_stage1} by 0-5 % "
            "edge crops and 100-110 % zoom (validation and test splits hold originals only)."
        )
    return notes


def hybrid_masks_entry(preset: Preset, config: TrainConfig, line_masks: LineMasks | None) -> dict[str, Any] | None:
    """The card's ``metrics["line_masks"]`` of a hybrid: which masks its validation and test images
    were fed (None for a model without a mask channel, or one trained with empty masks)."""
    if not preset.mask_channel or config.mask_channel == "none":
        return None
    if line_masks is not None:
        model = line_masks.line_model
        return {
            "source": "predicted",
            "line_model": dict(model),
            "description": (
                "Validation (best epoch, operating threshold) and test images were fed the line model's "
                f"predicted masks: {model.get('architecture')} bundle {model.get('bundle')}, weights SHA-256 "
                f"{model.get('weights_sha256')} — what the model sees in use."
            ),
        }
    return {
        "source": "reference",
        "line_model": None,
        "description": (
            "Validation and test images were fed the reference (annotated) line masks: the figures are an "
            "upper bound of what the model does with a line model's predicted masks (train with "
            "--line-bundle, or evaluate with --line-bundle, for those)."
        ),
    }


def finish_run(
    *,
    model: nn.Module,
    config: TrainConfig,
    preset: Preset,
    classes: list[str],
    splits: dict[str, Snapshot],
    assignment: dict[str, str],
    snapshot_hash: str | None,
    out_dir: Path,
    training: dict[str, Any],
    line_masks: LineMasks | None = None,
) -> Generator[Log, None, tuple[Path, EvaluationReport, float | None]]:
    """Evaluate ``model`` (the best weights, in eval mode) and write the bundle and test report.

    Binary models get their operating threshold on the VALIDATION split
    (:func:`training.metrics.choose_operating_threshold`: ``config.target_sensitivity`` with a
    margin for small splits; its provenance goes to ``card.metrics["threshold_choice"]``), line segmenters their mask threshold (the cut-off of
    the probability map with the highest mean validation Dice); the test split is then evaluated
    at it. A hybrid's validation and test images are fed ``line_masks`` (the line model's
    predictions, ``fit(line_bundle=...)``) when given, else the reference masks; the card's
    ``metrics["line_masks"]`` says which, and which line model.
    """
    model.eval()
    mask_source = "empty" if config.mask_channel == "none" else "reference (annotated)"
    notes = card_notes(config, preset, mask_source)
    fed = hybrid_masks_entry(preset, config, line_masks)
    if fed is not None:
        notes.append(fed["description"])
    card = ModelCard.for_model(
        model,
        f"{config.architecture} {config.task}",
        classes=list(classes),
        preset=preset.to_dict(),
        config=config.to_dict(),
        snapshot_hash=snapshot_hash,
        notes=notes,
        extra={"training": {**training, "splits_by_id": assignment}},
    )
    if fed is not None:
        card.metrics["line_masks"] = fed
    predictor = Predictor(model, card)
    threshold, source = None, None
    if card.task == "binary":
        yield Log(
            f"choosing the operating threshold on {len(splits['val'])} validation images "
            f"(target sensitivity {config.target_sensitivity:g})"
        )
        val = evaluate_predictor(predictor, splits["val"], None, intervals=False, line_masks=line_masks)
        rows = val.predictions
        try:
            choice = choose_operating_threshold(
                [r["label"] for r in rows],
                [r["probability"] for r in rows],
                target_sensitivity=config.target_sensitivity,
                rule=config.threshold_rule,
                confidence=config.threshold_confidence,
                min_specificity=config.threshold_min_specificity,
            )
            threshold, source = choice.threshold, choice.describe()
            if fed is not None:
                source += f" (validation images fed {fed['source']} line masks)"
            card.metrics["threshold_choice"] = threshold_choice_dict(choice)
            yield Log(
                f"operating threshold {threshold:.3f} ({choice.bound_by}; empirical "
                f"{choice.empirical_threshold:.3f}): validation sensitivity {choice.val_sensitivity:.3f}"
                + (f", specificity {choice.val_specificity:.3f}" if choice.val_specificity is not None else "")
            )
        except MetricsInputError as exc:
            threshold = 0.5
            source = f"default 0.5: none could be chosen on validation data ({exc.reason})"
            card.notes.append(f"operating threshold 0.5: none could be chosen on validation data ({exc.reason})")
        card.threshold = threshold
        val.split = "val"
        val.binary = binary_report([r["label"] for r in rows], [r["probability"] for r in rows], threshold)
        card.metrics["validation"] = val.summary()
    elif card.task == "segmentation":
        yield Log(
            f"choosing the mask threshold on {len(splits['val'])} validation images (highest mean Dice, "
            "0.5 unless the gain is beyond the bootstrap noise)"
        )
        mask_choice = choose_mask_threshold(probability_maps(predictor, splits["val"], None))
        threshold = card.threshold = mask_choice.threshold
        at_half = dict(zip(mask_choice.thresholds, mask_choice.mean_dice_per_threshold.tolist(), strict=True)).get(0.5)
        card.metrics["validation"] = {
            "split": "val",
            "n": mask_choice.n,
            "dice": mask_choice.mean_dice,
            "dice_at_0.5": at_half,
            "best_threshold": mask_choice.best,
            "gain_lower_bound": mask_choice.gain_low,
            "dice_per_threshold": dict(
                zip(map(str, mask_choice.thresholds), mask_choice.mean_dice_per_threshold.tolist(), strict=True)
            ),
        }
        source = mask_choice.describe()
        yield Log(
            f"mask threshold {threshold:g}: validation Dice {mask_choice.mean_dice:.3f}"
            + (f" (at 0.5: {at_half:.3f})" if at_half is not None else "")
        )
    yield Log(f"evaluating the best weights on {len(splits['test'])} test images")
    test = evaluate_predictor(predictor, splits["test"], None, threshold=threshold, line_masks=line_masks)
    test.split = "test"
    card.metrics.update(test.summary())
    card.metrics["threshold_source"] = source if threshold is not None else None
    bundle_dir = save_bundle(out_dir / BUNDLE_DIR, model, card)
    (bundle_dir / "card.md").write_text(write_model_card_markdown(card), encoding="utf-8")
    test.bundle = str(bundle_dir)
    test.save(out_dir / REPORT_DIR)
    yield Log(f"bundle written to {bundle_dir}; test report in {out_dir / REPORT_DIR}")
    return bundle_dir, test, threshold

"""How a model version's figures and operating threshold read, the same in every part of the app.

One threshold, one truth: a binary model's operating threshold is chosen on validation data when
it is trained (``training.metrics.choose_operating_threshold``), stored in its card, and every
place that shows or applies it — the Model tab, the Models tab, the worklist's P(ROP) column, the
agreement dashboard, reports — labels it with :func:`threshold_label`, which says where it came
from (or that it is the 0.5 default because the card records none, or set by hand).

:func:`figure_rows` turns a card's test metrics (``metrics["ci95"]``: patient-bootstrap 95 %
intervals) into rows of a small table. Pure functions: no Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: (metric key, label) of the figures a version shows, per app task, headline first.
FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "binary": (
        ("auroc", "AUROC"),
        ("sensitivity", "Sensitivity"),
        ("specificity", "Specificity"),
        ("accuracy", "Accuracy"),
        ("precision", "Precision"),
        ("f1", "F1"),
    ),
    "stage": (
        ("accuracy", "Accuracy"),
        ("macro_f1", "Macro F1"),
        ("macro_precision", "Macro precision"),
        ("macro_recall", "Macro recall"),
    ),
    "segmentation": (("dice", "Dice"), ("iou", "IoU"), ("ap50", "AP@0.5")),
}
#: Where the 0.5 a predictor applies comes from when the card records no threshold.
NO_THRESHOLD = "default 0.5: the model card records no threshold chosen on validation data"
#: Scores this close to 1 mean the model's output is saturated: say so next to such a threshold.
SATURATED = 0.995


@dataclass(frozen=True)
class FigureRow:
    """One figure of a version: label, value and its 95 % interval (None when not known)."""

    key: str
    label: str
    value: float | None
    ci: tuple[float, float] | None

    def value_text(self) -> str:
        return "—" if self.value is None else f"{self.value:.2f}"

    def ci_text(self) -> str:
        return "—" if self.ci is None else f"{self.ci[0]:.2f}–{self.ci[1]:.2f}"

    def text(self) -> str:
        """``Sensitivity 0.95 (95 % CI 0.81–1.00)``."""
        return f"{self.label} {self.value_text()}" + (f" (95 % CI {self.ci_text()})" if self.ci else "")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def figure_rows(metrics: Mapping[str, Any], task: str) -> list[FigureRow]:
    """The figures of ``task`` present in a card's test ``metrics``, each with its 95 % CI."""
    found = metrics.get("ci95")
    intervals: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    keys = FIGURES.get(task) or tuple((k, k) for k, v in metrics.items() if _number(v) is not None)
    return [
        FigureRow(key, label, _number(metrics.get(key)), _interval(intervals.get(key)))
        for key, label in keys
        if _number(metrics.get(key)) is not None
    ]


def headline(metrics: Mapping[str, Any], task: str) -> FigureRow | None:
    """The figure that compares versions of one task at a glance (AUROC, accuracy, Dice)."""
    rows = figure_rows(metrics, task)
    return rows[0] if rows else None


def threshold_label(task: str, threshold: float | None, source: str | None, *, by_hand: bool = False) -> str:
    """``operating threshold 0.31 (chosen on the validation split (60 images, 18 ROP), …)``.

    A binary card without a threshold is applied at 0.5 by the predictor: the label says so. A
    threshold at or above :data:`SATURATED` gets its explanation (the model's scores crowd at 1).
    ``by_hand``: a threshold someone typed in to try (the dashboard), not the model's own.
    """
    noun = "mask threshold" if task == "segmentation" else "operating threshold"
    if by_hand:
        return f"threshold {threshold:.2f} (set by hand, not the model's {noun})"
    if threshold is None:
        return f"{noun} 0.50 ({NO_THRESHOLD})"
    if not source:
        where = "from the model card; where it was chosen is not recorded"
    elif source.startswith("default"):
        where = source
    else:
        where = f"chosen on the {source}"
    text = f"{noun} {threshold:.2f} ({where})"
    if task == "binary" and threshold >= SATURATED:
        text += (
            f"; the model's validation scores crowd near 1 (output saturated), so it calls ROP only at "
            f"P(ROP) ≥ {threshold:.4f}"
        )
    return text

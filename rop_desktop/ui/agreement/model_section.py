"""The dashboard's model section: the active ROP model against the reference standard.

A small table of the model's figures, each with its patient-bootstrap 95 % interval, under one
line that names the model and the threshold it was applied at — labelled as everywhere in the
app (:func:`rop_desktop.services.model_figures.threshold_label`) — and paper A's error reduction
per grader. It replaces a run-on sentence that mixed all of these (issue 17, items 6 and 7).
"""

from __future__ import annotations

from typing import Any

from rop_desktop.services.model_figures import FigureRow

from .data import DashboardData, fmt_percent

MODEL_FIGURE_COLUMNS = ("Figure", "Value", "95 % CI")
_FIGURES = (
    ("sensitivity", "Sensitivity"),
    ("specificity", "Specificity"),
    ("accuracy", "Accuracy"),
    ("auroc", "AUROC"),
)


def model_figures(model: Any) -> list[FigureRow]:
    """The comparison's figures (``ModelComparison``) with their intervals, AUROC last (it needs both classes)."""
    return [
        FigureRow(key, label, getattr(model, key), (model.ci95 or {}).get(key))
        for key, label in _FIGURES
        if getattr(model, key) is not None or key != "auroc"
    ]


def model_figure_rows(model: Any) -> list[list[str]]:
    """Rows of the figures table; proportions as percentages like the rest of the dashboard."""
    rows = []
    for f in model_figures(model):
        if f.key == "auroc":
            rows.append([f.label, f.value_text(), f.ci_text()])
        else:
            ci = "—" if f.ci is None else f"{fmt_percent(f.ci[0])} – {fmt_percent(f.ci[1])}"
            rows.append([f.label, fmt_percent(f.value), ci])
    rows.append(["Mean error reduction vs the graders", fmt_percent(model.mean_error_reduction), ""])
    return rows


def model_caption(data: DashboardData) -> str:
    """``tiny ROP on 60 images with a reference, operating threshold 0.31 (chosen on …).`` + notes."""
    model = data.report.model
    counts = f"TP {model.tp} · FP {model.fp} · TN {model.tn} · FN {model.fn}"
    label = data.threshold_label or f"threshold {model.threshold:.2f}"
    notes = " ".join(model.notes)
    return (
        f"{data.model_name or 'Active model'} on {model.n_images} images with a reference standard, at the "
        f"{label}. {counts}." + (f" {notes}" if notes else "")
    )

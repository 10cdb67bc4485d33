"""What the agreement dashboard shows, gathered off the UI thread, and how its numbers read.

:func:`compute_dashboard` asks :class:`~rop_desktop.services.agreement.AgreementService` for
every figure; when the study has an active binary model with cached probabilities
(:meth:`PredictionService.probabilities`), the model is compared with the reference standard
too. Both services load torch, so they are imported inside the function, which the dashboard
runs in a worker thread: opening the app never waits for them.

The agreement on the treatment decision (ETROP class per exam, ``exams.treatment_agreement``) —
the clinically important kappa — joins the report as one more field, ``"treatment class"``:
the tables, the pair matrix, the charts and the CSV export show it like the grade fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class DashboardData:
    """The report (an ``AgreementReport``) and why the model section is missing, if it is."""

    report: Any
    threshold: float
    model_name: str | None = None
    model_note: str = ""
    #: The threshold as every part of the app labels it (``model_figures.threshold_label``).
    threshold_label: str = ""


def compute_dashboard(study: Any, actor: Any, threshold: float | None = None) -> DashboardData:
    """Every figure of the dashboard as ``actor`` (a ``policy.Actor``) may see them (blocking: run it
    in a worker thread; the services refuse an account that may not read the agreement figures).

    ``threshold`` None (the default) applies the active model's own operating threshold, the one
    chosen on validation data and stored with the version — the same as the Model tab, the
    worklist and the reports; a number is a threshold someone typed in to try, labelled as such."""
    from rop_desktop.services.agreement import AgreementError, AgreementService
    from rop_desktop.services.exams import treatment_agreement
    from rop_desktop.services.model_figures import threshold_label
    from rop_desktop.services.predictions import PredictionService

    agreement = AgreementService(study, actor)
    predictions = PredictionService(study, actor)
    version = predictions.models.active("binary")
    if threshold is not None:
        label = threshold_label("binary", threshold, None, by_hand=True)
    elif version is not None:
        threshold, label = (version.threshold if version.threshold is not None else 0.5), version.threshold_label()
    else:
        threshold, label = 0.5, ""
    probabilities: dict[int, float] = {}
    note = ""
    if version is None:
        note = "No active binary ROP model: activate one to compare it with the reference standard."
    else:
        probabilities = {i: p for i, (p, _) in predictions.probabilities().items() if p is not None}
        if not probabilities:
            note = (
                f"The active model {version.name} has not predicted any image yet: run it on the study "
                "to compare it with the reference standard."
            )
    try:
        report = agreement.dashboard(probabilities or None, threshold)
    except AgreementError as exc:
        report = agreement.dashboard(None, threshold)
        note = f"Model not compared: {exc.reason}"
    report = replace(report, fields=[*report.fields, treatment_agreement(study, actor)])
    return DashboardData(report, threshold, version.name if version is not None else None, note, label)


def fmt_kappa(value: float | None) -> str:
    """A kappa (or any statistic in [-1, 1]) with two decimals; "—" when undefined."""
    return "—" if value is None else f"{value:.2f}"


def fmt_percent(value: float | None) -> str:
    """A proportion as a percentage with one decimal; "—" when undefined."""
    return "—" if value is None else f"{100.0 * value:.1f} %"


def mean(values: list[float | None]) -> float | None:
    """Mean of the defined values (None when none is)."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def short_name(name: str) -> str:
    """ "Dr. Avery" → "Avery" (axis and matrix labels)."""
    return name.split()[-1] if name.split() else name


def pair_label(a: str, b: str, width: int = 4) -> str:
    """ "Dr. Avery", "Dr. Boateng" → "Aver–Boat" (bar labels that fit side by side)."""
    return f"{short_name(a)[:width]}–{short_name(b)[:width]}"

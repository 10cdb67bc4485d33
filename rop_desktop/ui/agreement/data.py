"""What the agreement dashboard shows, gathered off the UI thread, and how its numbers read.

:func:`compute_dashboard` asks :class:`~rop_desktop.services.agreement.AgreementService` for
every figure; when the study has an active binary model with cached probabilities
(:meth:`PredictionService.probabilities`), the model is compared with the reference standard
too. Both services load torch, so they are imported inside the function, which the dashboard
runs in a worker thread: opening the app never waits for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DashboardData:
    """The report (an ``AgreementReport``) and why the model section is missing, if it is."""

    report: Any
    threshold: float
    model_name: str | None = None
    model_note: str = ""


def compute_dashboard(study: Any, actor: Any, threshold: float = 0.5) -> DashboardData:
    """Every figure of the dashboard as ``actor`` (a ``policy.Actor``) may see them (blocking: run it
    in a worker thread; the services refuse an account that may not read the agreement figures)."""
    from rop_desktop.services.agreement import AgreementError, AgreementService
    from rop_desktop.services.predictions import PredictionService

    agreement = AgreementService(study, actor)
    predictions = PredictionService(study, actor)
    version = predictions.models.active("binary")
    probabilities: dict[int, float] = {}
    note = ""
    if version is None:
        note = "No active binary ROP model: activate one to compare it with the reference standard."
    else:
        probabilities = {i: p for i, (p, _) in predictions.probabilities().items() if p is not None}
        if not probabilities:
            note = (f"The active model {version.name} has not predicted any image yet: run it on the study "
                    "to compare it with the reference standard.")
    try:
        report = agreement.dashboard(probabilities or None, threshold)
    except AgreementError as exc:
        report = agreement.dashboard(None, threshold)
        note = f"Model not compared: {exc.reason}"
    return DashboardData(report, threshold, version.name if version is not None else None, note)


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
    """"Dr. Avery" → "Avery" (axis and matrix labels)."""
    return name.split()[-1] if name.split() else name


def pair_label(a: str, b: str, width: int = 4) -> str:
    """"Dr. Avery", "Dr. Boateng" → "Aver–Boat" (bar labels that fit side by side)."""
    return f"{short_name(a)[:width]}–{short_name(b)[:width]}"

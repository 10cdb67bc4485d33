"""The agreement dashboard: percent agreement, Cohen's / weighted / Fleiss' kappa, each grader
against the others, references by method, and the active model against the reference.

Modules: :mod:`.dashboard` (``AgreementDashboard``), :mod:`.data` (``compute_dashboard`` and
number formats), :mod:`.tables`, :mod:`.charts` (pyqtgraph bars).
"""

from __future__ import annotations

from .dashboard import AgreementDashboard
from .data import DashboardData, compute_dashboard

__all__ = ["AgreementDashboard", "DashboardData", "compute_dashboard"]

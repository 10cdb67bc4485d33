"""Eye-level exams in the window: the exam strip and eye-level grade beside the canvas, the
treatment badge, the progression view (two visits side by side) and the Needs attention list.

Modules: :mod:`.badge` (``TreatmentBadge``), :mod:`.strip` (``ExamStrip``), :mod:`.eye_grade`
(``EyeGradeForm``), :mod:`.panel` (``ExamPanel``: the three together), :mod:`.progression`
(``ProgressionWindow``, ``LinkedViews``), :mod:`.attention` (``AttentionWindow``). Views only: they
receive the services' plain dataclasses and emit signals; ``ui.controllers.exams`` wires them.
"""

from __future__ import annotations

from .attention import AttentionWindow
from .badge import TreatmentBadge
from .eye_grade import EyeGradeForm
from .panel import ExamPanel
from .progression import LinkedViews, ProgressionWindow
from .strip import ExamStrip

__all__ = [
    "AttentionWindow",
    "ExamPanel",
    "ExamStrip",
    "EyeGradeForm",
    "LinkedViews",
    "ProgressionWindow",
    "TreatmentBadge",
]

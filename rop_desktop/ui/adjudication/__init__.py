"""The adjudicator's view and the vote settings dialog.

Modules: :mod:`.window` (``AdjudicationWindow``: queue, case, decision), :mod:`.queue_panel`,
:mod:`.votes_table` (grades side by side, IoU matrix), :mod:`.outlines` (legend and colours),
:mod:`.case_info` (reasons, hospital diagnosis, model), :mod:`.decision` (reference grade and
outline, Settle), :mod:`.history` (the image's audit trail), :mod:`.suggestion` (Qt-free
pre-fill and wording), :mod:`.vote_settings`, :mod:`.background` (one call off the UI thread),
:mod:`.notice` (non-blocking messages). At eye level (``votes.level`` = "eye"):
:mod:`.exam_window` (``ExamAdjudicationWindow``), :mod:`.exam_queue`, :mod:`.exam_case`,
:mod:`.exam_votes` (eye-level grades with treatment badges), :mod:`.exam_decision`.
"""

from __future__ import annotations

from .suggestion import describe, suggest_from_votes, suggested_reference
from .vote_settings import VoteSettingsDialog
from .window import AdjudicationWindow

__all__ = ["AdjudicationWindow", "VoteSettingsDialog", "describe", "suggest_from_votes", "suggested_reference"]

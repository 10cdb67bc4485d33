"""Opening studies: the recent list, for the window (which never imports the store itself).

``Study`` is re-exported so that the window's controllers can name the type of the study they
are handed (and pass on to the services) without importing ``rop_desktop.store``.
"""

from __future__ import annotations

from pathlib import Path

from rop_desktop.store import Study, recent_studies

__all__ = ["Study", "recent_study_folders"]


def recent_study_folders() -> list[Path]:
    return recent_studies()

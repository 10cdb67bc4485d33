"""Opening studies: the recent list, for the window (which never imports the store itself)."""

from __future__ import annotations

from pathlib import Path

from rop_desktop.store import recent_studies


def recent_study_folders() -> list[Path]:
    return recent_studies()

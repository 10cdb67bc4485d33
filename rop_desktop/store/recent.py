"""The recently opened studies: a small JSON list in the per-user config folder.

The folder is ``$ROP_DESKTOP_HOME`` when set, else ``platformdirs.user_config_dir("rop-desktop")``.
Most recent first, at most ``MAX_RECENT``; studies that no longer exist are left out. With
``ROP_DESKTOP_NO_RECENT=1`` nothing is recorded (tests, kiosks). A damaged list is ignored,
never fatal: it is only a convenience.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import platformdirs

from .study import DB_NAME

MAX_RECENT = 10
FILE_NAME = "recent_studies.json"

log = logging.getLogger(__name__)


def config_dir() -> Path:
    """The per-user settings folder of the app."""
    home = os.environ.get("ROP_DESKTOP_HOME")
    return Path(home) if home else Path(platformdirs.user_config_dir("rop-desktop"))


def recent_file() -> Path:
    return config_dir() / FILE_NAME


def recent_studies() -> list[Path]:
    """Study folders opened recently, most recent first, those that still exist only."""
    return [p for p in _load() if (p / DB_NAME).is_file()]


def add_recent(path: str | Path) -> None:
    """Put a study folder first in the list (no-op when ``ROP_DESKTOP_NO_RECENT=1``)."""
    if os.environ.get("ROP_DESKTOP_NO_RECENT") == "1":
        return
    folder = Path(path).expanduser().resolve()
    if folder.name == DB_NAME:
        folder = folder.parent
    entries = [folder] + [p for p in recent_studies() if p != folder]
    _save(entries[:MAX_RECENT])


def _load() -> list[Path]:
    file = recent_file()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable recent-studies list %s: %s", file, exc)
        return []
    if not isinstance(data, list):
        log.warning("ignoring the recent-studies list %s: not a JSON list", file)
        return []
    return [Path(item) for item in data if isinstance(item, str) and item]


def _save(entries: list[Path]) -> None:
    file = recent_file()
    tmp: str | None = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".recent-", dir=file.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump([str(p) for p in entries], handle, indent=1)
        os.replace(tmp, file)
    except OSError as exc:  # a read-only home must not stop a study from opening
        log.warning("cannot save the recent-studies list %s: %s", file, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)

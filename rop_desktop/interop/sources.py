"""Which files an import should read: expand folders, keep image and DICOM files, report the rest.

Plain data only: paths in, paths and problems out. Decoding is :mod:`rop_desktop.imaging.decode`'s
job; this module only looks at names and, for extension-less files, the DICOM preamble.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

#: File name extensions read by the import (lower case).
SOURCE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom", ".webp"})

#: A folder holding this file is a ROP Desktop study: its images are never imported again.
STUDY_MARKER = "study.sqlite"


class SourceProblem(NamedTuple):
    """A path the user gave that yields nothing, and why."""

    path: Path
    reason: str


class CollectedSources(NamedTuple):
    """``files`` to import, in a stable order, and ``problems`` with the paths given."""

    files: list[Path]
    problems: list[SourceProblem]


def collect_sources(paths: Sequence[str | Path]) -> CollectedSources:
    """Expand ``paths`` (files and folders, as dropped or chosen by the user) into source files.

    Folders are searched recursively in natural order (``2.png`` before ``10.png``), skipping
    hidden entries, study folders and symbolic links to folders. In folders, other files are
    ignored silently; a file named explicitly that is not an image or DICOM is a problem, as is
    a missing path or a folder without any source file. Each file is listed once.
    """
    files: list[Path] = []
    problems: list[SourceProblem] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for given in map(Path, paths):
        if given.is_dir():
            if (given / STUDY_MARKER).exists():
                problems.append(SourceProblem(given, "is a ROP Desktop study folder (not imported)"))
                continue
            before = len(files)
            _walk(given, add, problems)
            if len(files) == before:
                problems.append(SourceProblem(given, "no image or DICOM files in this folder"))
        elif given.is_file():
            if is_source_file(given):
                add(given)
            else:
                kind = given.suffix or "no extension"
                problems.append(SourceProblem(given, f"not an image or DICOM file ({kind})"))
        elif given.exists() or given.is_symlink():
            problems.append(SourceProblem(given, "not a regular file or folder"))
        else:
            problems.append(SourceProblem(given, "does not exist"))
    return CollectedSources(files, problems)


def is_source_file(path: Path) -> bool:
    """An image/DICOM extension, or no extension and the DICOM preamble ('DICM' at byte 128)."""
    suffix = path.suffix.lower()
    if suffix in SOURCE_EXTENSIONS:
        return True
    return suffix == "" and _has_dicom_preamble(path)


def sha256_bytes(data: bytes) -> str:
    """The hex SHA-256 of ``data`` (the content address of an imported image)."""
    return hashlib.sha256(data).hexdigest()


def _walk(folder: Path, add: Callable[[Path], None], problems: list[SourceProblem]) -> None:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: _natural_key(e.name))
    except OSError as exc:
        problems.append(SourceProblem(folder, f"cannot read folder ({exc.strerror or exc})"))
        return
    if any(e.name == STUDY_MARKER for e in entries):
        return
    for entry in entries:
        try:
            if _is_hidden(entry):
                continue
            if entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), add, problems)
            elif entry.is_file() and is_source_file(Path(entry.path)):
                add(Path(entry.path))
        except OSError as exc:
            problems.append(SourceProblem(Path(entry.path), f"cannot read ({exc.strerror or exc})"))


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    """Dot files (also macOS '._x' forks) and, on Windows, entries with the hidden attribute."""
    if entry.name.startswith("."):
        return True
    if os.name != "nt":
        return False
    attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attributes & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _has_dicom_preamble(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _natural_key(name: str) -> tuple[list[int | str], str]:
    """Sort key: digit runs compare as numbers, the rest case-insensitively."""
    parts: list[int | str] = [int(t) if t.isdigit() else t.casefold() for t in re.split(r"(\d+)", name)]
    return parts, name

"""Errors and per-item problems of the annotation-file readers.

A reader raises :class:`FormatError` only when a whole file is unusable (not JSON, not the
format at all). A bad region, shape or image inside a good file becomes a :class:`Problem`
and the rest of the file is still imported: "report per item, import the rest".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


class FormatError(ValueError):
    """A file that cannot be read at all: ``path``, ``where`` in it, and what is wrong."""

    def __init__(self, path: str | Path, where: str, message: str) -> None:
        self.path = str(path)
        self.where = where
        self.message = message
        super().__init__(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")


@dataclass(frozen=True)
class Problem:
    """One item that was skipped ("error") or imported with a fix ("warning")."""

    path: str
    where: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{prefix}{self.path}: {self.where}: {self.message}"


def json_error(path: str | Path, exc: Exception) -> FormatError:
    """A :class:`FormatError` for a JSON syntax error, with its line and column."""
    lineno, colno, msg = getattr(exc, "lineno", None), getattr(exc, "colno", None), getattr(exc, "msg", str(exc))
    where = f"line {lineno} column {colno}" if lineno is not None else ""
    return FormatError(path, where, f"invalid JSON: {msg}")


def read_json_object(path: str | Path) -> Mapping[str, Any]:
    """Read a UTF-8 JSON file whose top level is an object; :class:`FormatError` otherwise."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise json_error(p, exc) from exc
    except UnicodeDecodeError as exc:
        raise FormatError(p, "", f"not UTF-8 text ({exc.reason})") from exc
    if not isinstance(data, Mapping):
        raise FormatError(p, "top level", f"expected a JSON object, got {type(data).__name__}")
    return data

"""Arguments that accept a row or its id."""

from __future__ import annotations

from typing import Protocol


class HasId(Protocol):
    id: int


def id_of(row: HasId | int) -> int:
    """The primary key of ``row`` (a mapped object with an ``id``) or ``row`` itself if an int."""
    if isinstance(row, int):
        return row
    if row.id is None:
        raise ValueError(f"{row!r} has no id yet: flush the session first")
    return row.id

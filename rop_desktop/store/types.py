"""Column types shared by the models: UTC timestamps, enums stored as their values, JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

ENUM_LENGTH = 32
"""Room for every enum value, present and future (a VARCHAR, no CHECK: new values need no migration)."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps.

    SQLite has no time zones: values are converted to UTC before they are written and come back
    tagged UTC. A naive datetime is refused, so local wall-clock times never sneak in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware time (e.g. store.types.utcnow())")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_cls: type[Enum]) -> SAEnum:
    """A column type keeping a domain enum as its string *value* (e.g. ``Stage.S4A`` → ``"4A"``)."""
    return SAEnum(
        enum_cls,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        create_constraint=False,
        length=ENUM_LENGTH,
        validate_strings=True,
    )


def json_column(*, nullable: bool) -> JSON:
    """A JSON column; when nullable, Python ``None`` is SQL NULL rather than the JSON text ``null``.

    Values are plain Python (dict/list/str/number). Assign a new object to change one: in-place
    mutation of a loaded dict is not tracked.
    """
    return JSON(none_as_null=nullable)


JSONValue = Any
"""Anything ``json.dumps`` accepts."""

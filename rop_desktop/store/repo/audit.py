"""The audit trail and study-wide settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuditEvent, Grader, StudySetting
from ._refs import id_of


def add_audit(session: Session, entity: str, entity_id: int, action: str, *, grader: Grader | int | None = None,
              before: Any = None, after: Any = None) -> AuditEvent:
    """Record who did what to which row, with JSON-ready values before and after."""
    event = AuditEvent(entity=entity, entity_id=entity_id, action=action,
                       grader_id=id_of(grader) if grader is not None else None, before=before, after=after)
    session.add(event)
    session.flush()
    return event


def audit_trail(session: Session, entity: str | None = None, entity_id: int | None = None, *,
                limit: int | None = None) -> list[AuditEvent]:
    """Audit events, oldest first, optionally for one entity kind or one row."""
    stmt = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)
    if entity is not None:
        stmt = stmt.where(AuditEvent.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    """A study setting's value, or ``default`` when it was never set."""
    setting = session.get(StudySetting, key)
    return default if setting is None else setting.value


def set_setting(session: Session, key: str, value: Any) -> None:
    """Set a study setting to a JSON-ready value."""
    setting = session.get(StudySetting, key)
    if setting is None:
        session.add(StudySetting(key=key, value=value))
    else:
        setting.value = value
    session.flush()


def all_settings(session: Session) -> dict[str, Any]:
    """Every study setting that was set."""
    return {s.key: s.value for s in session.scalars(select(StudySetting))}

"""The audit trail and study-wide settings.

The audit trail is also the study's change feed (``services.changes``). A workstation must not
react to its own edits as if someone else had made them (rebuilding its worklist after every
submit), so the events written through an engine — one open study, one workstation — are
remembered once their transaction commits (never those rolled back, whose ids a database may
hand out again): :func:`own_events` tells a feed which of the events it read are this
workstation's. The newest :data:`MAX_OWN_EVENTS` are remembered.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.orm import Session

from ..schema import AuditEvent, Grader, StudySetting
from ._refs import id_of


def add_audit(
    session: Session,
    entity: str,
    entity_id: int,
    action: str,
    *,
    grader: Grader | int | None = None,
    before: Any = None,
    after: Any = None,
    image_id: int | None = None,
) -> AuditEvent:
    """Record who did what to which row, with JSON-ready values before and after; ``image_id``
    for an event about one image's work (its history is read by that column)."""
    row = AuditEvent(
        entity=entity,
        entity_id=entity_id,
        image_id=image_id,
        action=action,
        grader_id=id_of(grader) if grader is not None else None,
        before=before,
        after=after,
    )
    session.add(row)
    session.flush()
    _note_own(session, row.id)
    return row


# ---------------------------------------------------------------------------- this workstation's events
#: At most this many own events are remembered per engine (a process that writes without
#: ever reading its feed — a command-line import — forgets the oldest).
MAX_OWN_EVENTS = 50_000
_PENDING = "rop.own_audit_ids"
_OWN: weakref.WeakKeyDictionary[Engine, set[int]] = weakref.WeakKeyDictionary()
_OWN_LOCK = threading.Lock()


def _note_own(session: Session, event_id: int) -> None:
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    pending.append(event_id)


def _committed(session: Session) -> None:
    ids = session.info.get(_PENDING)
    if not ids:
        return
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    with _OWN_LOCK:
        own = _OWN.setdefault(engine, set())
        own.update(ids)
        if len(own) > MAX_OWN_EVENTS:
            for old in sorted(own)[: len(own) - MAX_OWN_EVENTS]:
                own.discard(old)
    ids.clear()


def _rolled_back(session: Session) -> None:
    ids = session.info.get(_PENDING)
    if ids:
        ids.clear()


def own_events(engine: Engine, event_ids: Iterable[int]) -> set[int]:
    """Which of ``event_ids`` were written through ``engine`` (this workstation's open study).

    Asking changes nothing: every feed of the study (a window's, a test's) gets the same answer."""
    with _OWN_LOCK:
        own = _OWN.get(engine)
        return {i for i in event_ids if i in own} if own else set()


def audit_trail(
    session: Session, entity: str | None = None, entity_id: int | None = None, *, limit: int | None = None
) -> list[AuditEvent]:
    """Audit events, oldest first, optionally for one entity kind or one row."""
    stmt = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)
    if entity is not None:
        stmt = stmt.where(AuditEvent.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def image_history(session: Session, image_id: int, entities: Iterable[str]) -> list[AuditEvent]:
    """The events of ``entities`` about one image, oldest first: one indexed statement."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.image_id == image_id, AuditEvent.entity.in_(tuple(entities)))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
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

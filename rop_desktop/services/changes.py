"""What other workstations changed in the study since we last looked: a change feed.

Every edit writes one ``audit_events`` row in its own short transaction, so "something changed"
is "an audit event appeared". :class:`ChangeFeed` reports those events as :class:`Change` values:

- **SQLite** (one workstation, or a few processes on one machine): ``poll()`` asks for the
  audit events after the last one it saw — one indexed query on the primary key.
- **PostgreSQL** (a shared study): a dedicated connection runs ``LISTEN rop_changes``; the
  trigger of migration 0002 sends ``'<entity>:<entity_id>:<audit id>'`` with every audit event,
  delivered at commit. ``poll()`` only drains notifications already received
  (``notifies(timeout=0)``): no round trip when nothing happened. A lost connection is reopened
  on the next poll, and the audit events committed meanwhile are read from the table, so no
  change is missed.

This workstation's own edits are left out (``own=False``, the default): they were made through
the same open study (its engine), the window already shows them, and reacting to them as if
another workstation had made them (rebuilding the worklist after every submit) is what made a
window freeze after each submit on a large study (issue 15). The store remembers which audit
events went through the engine once they commit (``store.repo.own_events``).

``poll()`` may wait on the network (a reconnect): call it off the UI thread, as
``rop_desktop.workers.change_watcher.ChangeWatcher`` does. One feed is used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rop_desktop.store import Study, repo
from rop_desktop.store.db import make_engine
from rop_desktop.store.schema import AuditEvent

CHANNEL = "rop_changes"
"""The PostgreSQL notification channel (see migration 0002_change_notify)."""

MAX_CHANGES = 1000
"""At most this many changes per poll; the rest come with the next one."""


class ChangeFeedError(RuntimeError):
    """The database cannot be asked for changes now (the reason says why)."""


@dataclass(frozen=True)
class Change:
    """One edit made in the study: ``entity`` (``"grade"``, ``"annotation"``, ``"reference"``…)
    and the changed row's id; ``event_id`` is the audit event that recorded it."""

    entity: str
    entity_id: int
    event_id: int


def parse_payload(payload: str) -> Change | None:
    """A change from a ``'<entity>:<entity_id>:<audit id>'`` notification; None if malformed."""
    entity, _, rest = payload.partition(":")
    entity_id, _, event_id = rest.partition(":")
    if not entity or not entity_id.isdigit() or not event_id.isdigit():
        return None
    return Change(entity, int(entity_id), int(event_id))


class ChangeFeed:
    """Edits committed since the feed was made (or last polled) by the other workstations (and,
    with ``own=True``, by this one too).

    Open to every account (no actor): a change names only the entity and row id, never what was
    graded or drawn; whoever reacts to it reads the rows through the guarded services.
    """

    __policy_open__ = "announces that a row changed (entity and id), never its content"

    def __init__(self, study: Study, *, own: bool = False) -> None:
        self.study = study
        self.own = own
        self.last_event_id = self._max_event_id()
        self._listen_engine: Engine | None = None
        self._raw: Any = None  # the pool's wrapper of that connection
        self._listener: Any = None  # the psycopg connection LISTENing on CHANNEL
        if study.backend == "postgresql":
            self._listen_engine = make_engine(study.url, poolclass=NullPool)
            self._listen()

    @property
    def listening(self) -> bool:
        """True while a PostgreSQL connection receives notifications (False on SQLite)."""
        return self._listener is not None

    def poll(self, timeout: float = 0.0) -> list[Change]:
        """The changes committed since the last call, oldest first (``[]`` when none).

        On PostgreSQL, ``timeout`` seconds are spent waiting for a first notification when none
        has arrived yet (0: never wait); SQLite answers at once. Raises ``ChangeFeedError`` when the database cannot be reached; the next call retries.
        """
        deadline = time.monotonic() + timeout
        while True:
            changes = self._others(self._poll(timeout))
            timeout = deadline - time.monotonic()
            if changes or timeout <= 0 or self._listen_engine is None:
                return changes  # (only this workstation's own arrived: wait on for the rest)

    def _others(self, changes: list[Change]) -> list[Change]:
        """The changes without those this workstation made (unless the feed reports its own)."""
        if self.own or not changes:
            return changes
        mine = repo.own_events(self.study.engine, [c.event_id for c in changes])
        return [c for c in changes if c.event_id not in mine] if mine else changes

    def _poll(self, timeout: float) -> list[Change]:
        if self._listen_engine is None:
            return self._read_events()
        if self._listener is None:  # lost earlier: reconnect, then catch up from the table
            self._listen()
            return self._read_events()
        try:
            notes = list(self._listener.notifies(timeout=0))
            if not notes and timeout > 0:
                notes = list(self._listener.notifies(timeout=timeout, stop_after=1))
                notes += self._listener.notifies(timeout=0)
        except Exception as exc:  # psycopg.OperationalError and kin: the connection is gone
            self._drop_listener()
            raise ChangeFeedError(f"lost the change notifications ({exc}); reconnecting") from exc
        changes = [c for c in (parse_payload(n.payload) for n in notes if n.channel == CHANNEL) if c]
        if changes:
            self.last_event_id = max(self.last_event_id, *(c.event_id for c in changes))
        return changes

    def close(self) -> None:
        """Stop listening and release the feed's own connection."""
        self._drop_listener()
        if self._listen_engine is not None:
            self._listen_engine.dispose()

    # ------------------------------------------------------------------ internals
    def _max_event_id(self) -> int:
        try:
            with self.study.session() as session:
                return int(session.scalar(select(func.max(AuditEvent.id))) or 0)
        except DBAPIError as exc:
            raise ChangeFeedError(f"cannot read the study's audit trail ({exc.orig})") from exc

    def _read_events(self) -> list[Change]:
        query = (
            select(AuditEvent.id, AuditEvent.entity, AuditEvent.entity_id)
            .where(AuditEvent.id > self.last_event_id)
            .order_by(AuditEvent.id)
            .limit(MAX_CHANGES)
        )
        try:
            with self.study.session() as session:
                rows = session.execute(query).all()
        except DBAPIError as exc:
            raise ChangeFeedError(f"cannot read the study's audit trail ({exc.orig})") from exc
        if rows:
            self.last_event_id = rows[-1][0]
        return [Change(entity, entity_id, event_id) for event_id, entity, entity_id in rows]

    def _listen(self) -> None:
        assert self._listen_engine is not None
        try:
            raw = self._listen_engine.raw_connection()
        except DBAPIError as exc:
            raise ChangeFeedError(f"cannot listen for changes ({exc.orig})") from exc
        conn = raw.driver_connection
        if conn is None:  # the pool detached it between the two calls
            raw.invalidate()
            raise ChangeFeedError("cannot listen for changes (the database connection was closed)")
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:  # psycopg.Error: the server went away in between
            raw.invalidate()
            raise ChangeFeedError(f"cannot listen for changes ({exc})") from exc
        self._raw = raw
        self._listener = conn

    def _drop_listener(self) -> None:
        raw, self._raw, self._listener = self._raw, None, None
        if raw is not None:
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                raw.invalidate()

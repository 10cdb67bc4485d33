"""Riding out a lost database connection: tell lost connections apart, and retry.

A shared study's server can vanish for a moment (network, server restart); a SQLite file can be
locked longer than its busy timeout. Such failures say nothing about the edit itself: the same
edit succeeds once the database answers again. :func:`is_connection_lost` recognises them
(``OperationalError``, or any driver error that invalidated the connection), and
:func:`with_retry` retries a callable on them. The window does not block on a retry: it keeps
unsent edits in ``rop_desktop.ui.controllers.connection.PendingEdits`` and retries them from a
timer, using :func:`is_connection_lost` to decide what to keep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")


class ConnectionLostError(RuntimeError):
    """The database stayed unreachable through every attempt; ``attempts`` says how many."""

    def __init__(self, attempts: int, cause: BaseException) -> None:
        super().__init__(f"the database did not answer after {attempts} attempt(s): {describe(cause)}")
        self.attempts = attempts


def is_connection_lost(exc: BaseException) -> bool:
    """True for a failure of the connection (worth retrying), not of the statement or its data."""
    if isinstance(exc, ConnectionLostError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def describe(exc: BaseException) -> str:
    """The driver's message on one line, without SQLAlchemy's SQL echo."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split()) or type(exc).__name__


def with_retry(fn: Callable[[], T], *, attempts: int = 5, backoff: float = 0.5,
               on_waiting: Callable[[int, BaseException], None] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, retried up to ``attempts`` times in all while the connection is lost.

    Waits ``backoff``, then twice that, and so on between attempts, calling
    ``on_waiting(attempt, exc)`` before each wait. Other errors pass through at once; a
    connection still lost after the last attempt raises ``ConnectionLostError``. Blocks: call it
    from a worker thread, never the UI thread.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if backoff < 0:
        raise ValueError(f"backoff must be zero or more seconds, not {backoff}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            if attempt == attempts:
                raise ConnectionLostError(attempts, exc) from exc
            if on_waiting is not None:
                on_waiting(attempt, exc)
            sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover

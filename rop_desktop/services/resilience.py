"""Riding out a lost database connection: tell lost connections apart from refused edits.

A shared study's server can vanish for a moment (network, server restart); a SQLite file can be
locked longer than its busy timeout. Such failures say nothing about the edit itself: the same
edit succeeds once the database answers again. :func:`is_connection_lost` recognises them
(``OperationalError``, or any driver error that invalidated the connection). The window does
not block on a retry: it keeps unsent edits in ``rop_desktop.ui.controllers.connection.PendingEdits``
and retries them from a timer, using :func:`is_connection_lost` to decide what to keep.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError


def is_connection_lost(exc: BaseException) -> bool:
    """True for a failure of the connection (worth retrying), not of the statement or its data."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def describe(exc: BaseException) -> str:
    """The driver's message on one line, without SQLAlchemy's SQL echo."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split()) or type(exc).__name__

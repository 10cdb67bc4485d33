"""What an adjudication-queue row shows, kept by the settle so that a page of the queue reads it.

A queue row names the image's vote tally, why the votes did not settle and who dissented. Working
that out means settling the image's votes again (``domain.votes.settle_votes``, ~0.1 ms an image
in Python), so a page of 100 disagreements cost ten times a page of ten. The settle
(``services.reference``) works it out anyway: it keeps the outcome of every open image in
``queue_tallies`` (:func:`keep`), with the marks of the votes and the rules it came from; a page
then reads the rows back (:func:`read_page`) and works out again only a row whose votes or rules
changed since (a workstation that could not write it, a rule change not yet recomputed) — and
leaves out a row whose status no longer holds, as the queue always did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.votes import VoteOutcome, VoteSettings
from rop_desktop.store.repo import queue as queues
from rop_desktop.store.repo.queue import KeptTally, SettleRow, VoteMark

#: PostgreSQL's SQLSTATE of a write that row-level security refuses.
_INSUFFICIENT_PRIVILEGE = "42501"
#: Bumped when the kept detail changes shape: older rows are then worked out again when read.
_FORMAT = 1

Votes = dict[str, tuple[int, GradeValues]]
Settle = Callable[[str | None, Votes, VoteSettings], VoteOutcome]


def rules_digest(settings: VoteSettings, hospital_diagnosis: str | None) -> str:
    """A digest of what, besides the votes, decides an image's outcome: the vote settings and —
    under the hospital tie rule — the hospital's diagnosis."""
    hospital = hospital_diagnosis if settings.tie_rule == "hospital" else None
    text = json.dumps([_FORMAT, settings.as_dict(), hospital], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _tally(outcome: VoteOutcome, mark: VoteMark | None, rules: str) -> KeptTally:
    detail: dict[str, Any] = {
        "status": outcome.status,
        "tally": outcome.tally,
        "reasons": list(outcome.reasons),
        "dissenters": list(outcome.dissenters),
    }
    return KeptTally(mark.votes if mark else 0, mark.mark if mark else 0, rules, detail)


def keep(
    session: Session,
    batch: Sequence[SettleRow],
    open_outcomes: dict[int, VoteOutcome],
    settings: VoteSettings,
) -> None:
    """After a settle of ``batch``: keep the outcome of each image it left open
    (``open_outcomes``), drop the row of every other; write only what changed."""
    ids = [row.image_id for row in batch]
    stored = queues.tallies_of(session, ids)
    marks = queues.vote_marks(session, [i for i in ids if i in open_outcomes])
    changes: dict[int, KeptTally | None] = {}
    for row in batch:
        outcome = open_outcomes.get(row.image_id)
        new = (
            None
            if outcome is None
            else _tally(outcome, marks.get(row.image_id), rules_digest(settings, row.hospital_diagnosis))
        )
        if stored.get(row.image_id) != new:
            changes[row.image_id] = new
    if not changes:
        return
    if session.get_bind().dialect.name != "postgresql":
        queues.store_tallies(session, changes)
        return
    # A shared study: a workstation whose row-level security hides some of an image's votes (a
    # study that never reveals them) may not write its tally — as it may not move the image in
    # the queue. Its write is refused in a savepoint; the queue works such a row out when read.
    try:
        with session.begin_nested():
            queues.store_tallies(session, changes)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise


def read_page(
    session: Session,
    ids: Sequence[int],
    status: str,
    headers: dict[int, queues.ImageHeader],
    settings: VoteSettings,
    settle: Settle,
) -> dict[int, tuple[int, dict[str, Any]]]:
    """image id → (number of votes, kept detail) for the page's images whose outcome is
    ``status``: the kept rows that still match their votes and rules as they are, the others
    worked out again with ``settle`` (one query for their votes). An image whose outcome is no
    longer ``status`` is absent."""
    kept = queues.tallies_of(session, ids)
    marks = queues.vote_marks(session, ids)
    out: dict[int, tuple[int, dict[str, Any]]] = {}
    stale: list[int] = []
    for image_id in ids:
        row, mark = kept.get(image_id), marks.get(image_id, VoteMark(0, 0))
        rules = rules_digest(settings, headers[image_id].hospital_diagnosis)
        if row is not None and (row.votes, row.mark, row.rules) == (mark.votes, mark.mark, rules):
            if row.detail.get("status") == status:
                out[image_id] = (row.votes, row.detail)
        else:
            stale.append(image_id)
    if stale:
        voted = [i for i in stale if i in marks]  # an image nobody voted on yet needs no read
        votes = queues.submitted_votes(session, voted) if voted else {}
        for image_id in stale:
            mine = votes.get(image_id, {})
            outcome = settle(headers[image_id].hospital_diagnosis, mine, settings)
            if outcome.status == status:
                out[image_id] = (len(mine), _tally(outcome, None, "").detail)
    return out

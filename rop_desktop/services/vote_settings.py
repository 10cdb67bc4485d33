"""Where a study keeps its vote rules: the one reader of the ``votes.settings`` study setting.

Image-level settlement (:mod:`.reference`) and eye-level settlement (:mod:`.exam_reference`) both
read it; it lives below both so neither imports the other for it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from rop_desktop.domain.votes import VoteSettings
from rop_desktop.store import repo

VOTE_SETTINGS_KEY = "votes.settings"


def vote_settings_in(session: Session) -> VoteSettings:
    """The vote settings read inside an open session."""
    stored = repo.get_setting(session, VOTE_SETTINGS_KEY)
    return VoteSettings() if stored is None else VoteSettings.from_dict(stored)

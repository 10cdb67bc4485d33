"""The study store: a study folder, its SQLAlchemy models, migrations and query helpers.

Typical use (services)::

    from rop_desktop.store import Study, repo

    with Study.open(folder) as study, study.session() as session:
        images = repo.list_images(session)
"""

from __future__ import annotations

from . import repo
from .errors import ImageStoreError, StoreError, StudyExistsError, StudyOpenError, StudyTooNewError
from .recent import add_recent, recent_studies
from .study import Study

__all__ = [
    "ImageStoreError",
    "StoreError",
    "Study",
    "StudyExistsError",
    "StudyOpenError",
    "StudyTooNewError",
    "add_recent",
    "recent_studies",
    "repo",
]

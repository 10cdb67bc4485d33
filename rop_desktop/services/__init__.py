"""The application's operations, each taking the signed-in actor (``policy``)."""

# Loaded with the package so that every session of every study keeps the eyes that need attention
# (a SQLAlchemy listener, ``attention``), whichever service wrote a grade or a reference.
from . import attention as _attention  # noqa: F401

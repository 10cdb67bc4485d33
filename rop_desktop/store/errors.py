"""Errors raised by the study store. Each carries a message fit to show a user."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class StudyOpenError(StoreError):
    """The folder, file or URL is not a study this app can open; ``reason`` says why."""

    def __init__(self, location: object, reason: str) -> None:
        self.location = str(location)
        self.reason = reason
        super().__init__(f"Cannot open the study at {self.location}: {reason}")


class StudyTooNewError(StudyOpenError):
    """The database was written by a newer app (its schema revision is unknown here).

    The database is left exactly as it was found.
    """

    def __init__(self, location: object, found: str, known_head: str) -> None:
        self.found = found
        self.known_head = known_head
        super().__init__(
            location,
            f"This study was saved by a newer version of ROP Desktop (schema {found}); "
            f"this version knows up to {known_head}. Update the app; the study was not changed.",
        )


class StudyExistsError(StoreError):
    """``Study.create`` was given a folder that already holds a study."""


class ImageStoreError(StoreError):
    """Image bytes could not be stored (hash mismatch, bad extension, disk error)."""

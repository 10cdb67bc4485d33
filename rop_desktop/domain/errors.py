"""The one shape of a refusal: an error whose ``reason`` is a sentence for the user.

The domain's errors subclass ``DomainError`` here, the services' ``ServiceError``
(:mod:`rop_desktop.services.errors`), and imaging, interop, demo and window errors this class
directly; each adds only what it carries beyond the reason. They stay ``ValueError``s, so code
that has always caught ``ValueError`` keeps working. (The store's errors, ``StoreError``, carry a
message and a location of their own; ``training`` has its own ``TrainingError``, as it imports
nothing of the app.)
"""

from __future__ import annotations


class Refusal(ValueError):
    """Something was refused or is malformed; ``reason`` says why, in words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DomainError(Refusal):
    """Base of the domain's errors (grades, votes, shapes, geometry, zones)."""

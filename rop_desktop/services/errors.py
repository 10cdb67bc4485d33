"""Base of the services' errors: a use case refused, with a ``reason`` for the user.

The access policy's :class:`~rop_desktop.services.policy.AccessDenied` and every service's own
error (``ExportError``, ``ExamError``, ``AccountError``…) subclass :class:`ServiceError`.
"""

from __future__ import annotations

from rop_desktop.domain.errors import Refusal


class ServiceError(Refusal):
    """A service operation could not be done; ``reason`` says why."""

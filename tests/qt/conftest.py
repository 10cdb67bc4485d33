"""Fixtures shared by the window tests: signing in to the demo study, and a guard that turns a
dialog waiting for an answer nobody gives (a password prompt opened with ``exec()``) into a test
failure instead of a hang.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from rop_desktop.services import accounts
from rop_desktop.services.demo_study import DEMO_PASSWORDS
from rop_desktop.services.policy import Actor

#: How often the guard looks for a blocking dialog; one seen on two looks in a row is closed.
GUARD_INTERVAL_MS = 1500


@pytest.fixture
def demo_actor() -> Callable[[object, str], Actor]:
    """``demo_actor(study, name)``: the demo account ``name`` signed in through the accounts
    service (the demo's elevated accounts with their published passwords, graders without)."""

    def sign_in(study: object, name: str) -> Actor:
        return accounts.sign_in(study, name, DEMO_PASSWORDS.get(name))

    return sign_in


@pytest.fixture(autouse=True)
def _no_blocking_dialogs(qapp: QApplication) -> Iterator[None]:
    """Close any application-modal dialog (``exec()``: a sign-in or password prompt, a message box)
    left waiting for more than one guard interval, and fail the test that opened it."""
    seen: set[int] = set()
    closed: list[str] = []

    def look() -> None:
        modal = QApplication.activeModalWidget()
        if not isinstance(modal, QDialog) or modal.windowModality() != Qt.WindowModality.ApplicationModal:
            seen.clear()
            return
        if id(modal) in seen:
            closed.append(f"{type(modal).__name__} “{modal.windowTitle()}”")
            modal.reject()
            seen.clear()
            return
        seen.add(id(modal))

    timer = QTimer()
    timer.setInterval(GUARD_INTERVAL_MS)
    timer.timeout.connect(look)
    timer.start()
    yield
    timer.stop()
    if closed:
        pytest.fail("a modal dialog waited for an answer nobody gave (closed by the guard): " + ", ".join(closed))

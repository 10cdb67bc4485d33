"""Sign-in at start: new grader profiles are open, elevated roles follow the admin rule,
passwords are asked for and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import AccountError, create_grader, new_profile, set_password
from rop_desktop.store import Study
from rop_desktop.ui.sign_in import sign_in


@pytest.fixture
def study(tmp_path: Path):
    with Study.create(tmp_path / "s") as s:
        yield s


def _answer_password(qtbot, texts: list[str]) -> None:
    """Type into the password dialogs as they open (one per entry)."""
    def answer() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, QInputDialog) and w.isVisible()),
                      None)
        if dialog is None:
            QTimer.singleShot(20, answer)
            return
        dialog.setTextValue(texts.pop(0))
        dialog.accept()
        if texts:
            QTimer.singleShot(20, answer)
    QTimer.singleShot(20, answer)


def test_anyone_may_add_a_grader_profile_but_not_an_admin_once_one_exists(study: Study) -> None:
    first_admin = new_profile(study, "Boss", Role.ADMIN)  # bootstrapping: no admin yet
    assert first_admin.role is Role.ADMIN
    assert new_profile(study, "New grader").role is Role.GRADER
    with pytest.raises(AccountError):
        new_profile(study, "Self-made adjudicator", Role.ADJUDICATOR)
    create_grader(study, first_admin.id, "Real adjudicator", Role.ADJUDICATOR)


def test_a_profile_with_a_password_asks_for_it(qtbot, study: Study) -> None:
    admin = new_profile(study, "Boss", Role.ADMIN)
    set_password(study, admin.id, admin.id, "correct horse battery")
    _answer_password(qtbot, ["wrong one", "correct horse battery"])
    info = sign_in(study, "Boss")
    assert info is not None and info.id == admin.id


def test_three_wrong_passwords_sign_nobody_in(qtbot, study: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = new_profile(study, "Boss", Role.ADMIN)
    set_password(study, admin.id, admin.id, "correct horse battery")
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)  # the closing notice, not under test
    _answer_password(qtbot, ["a", "b", "c"])
    assert sign_in(study, "Boss") is None


def test_no_password_no_question(study: Study) -> None:
    info = sign_in(study, "Fresh grader")
    assert info is not None and info.role is Role.GRADER

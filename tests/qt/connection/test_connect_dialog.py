"""The connect dialog refuses what would go wrong: no folder, a password in the URL, an empty folder without URL."""

from __future__ import annotations

from pathlib import Path

from rop_desktop.ui.connect_dialog import ConnectDialog


def test_connect_dialog_validation(qtbot, tmp_path: Path) -> None:
    dialog = ConnectDialog()
    qtbot.addWidget(dialog)
    dialog.accept()
    assert "folder" in dialog.error.text() and dialog.result() == 0
    dialog.folder.setText(str(tmp_path))
    dialog.url.setText("postgresql+psycopg://grader:secret@db/rop")
    dialog.accept()
    assert "password" in dialog.error.text().lower()
    dialog.url.setText("")
    dialog.accept()
    assert "no study" in dialog.error.text()
    dialog.url.setText("postgresql+psycopg:///?service=rop")
    dialog.accept()
    assert dialog.result() == 1 and dialog.choice() == (tmp_path, "postgresql+psycopg:///?service=rop")

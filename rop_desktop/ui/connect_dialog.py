"""Connect to a shared study: its folder on the share and, when it has none yet, the server URL."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

HELP = (
    "A shared study keeps its images in a folder every workstation reaches and its database on a "
    "PostgreSQL server. Pick the folder; a folder made with 'rop-desktop study create --db-url' already "
    "knows its server (study.server) and the URL can stay empty. Never type a password here: it comes "
    "from ~/.pgpass or a pg_service.conf entry (see docs/shared-study.md)."
)


class ConnectDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a shared study")
        self.setMinimumWidth(560)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("/mnt/rop/study-2026")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.url = QLineEdit()
        self.url.setPlaceholderText("postgresql+psycopg:///?service=rop   (optional)")
        self.error = QLabel()
        self.error.setStyleSheet("color: #e06060")
        form = QFormLayout()
        form.addRow("Study folder", row)
        form.addRow("Database URL", self.url)
        note = QLabel(HELP)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The shared study folder")
        if folder:
            self.folder.setText(folder)

    def choice(self) -> tuple[Path, str | None]:
        url = self.url.text().strip()
        return Path(self.folder.text().strip()).expanduser(), (url or None)

    def accept(self) -> None:
        folder, url = self.choice()
        if not self.folder.text().strip():
            self.error.setText("Choose the study folder.")
            return
        if (url and "password=" in url.lower()) or (url and "@" in url and ":" in url.split("@")[0].split("//")[-1]):
            self.error.setText("Leave the password out of the URL: put it in ~/.pgpass or a service file.")
            return
        if url is None and not (folder / "study.server").is_file() and not (folder / "study.sqlite").is_file():
            self.error.setText("This folder holds no study yet: give the database URL.")
            return
        super().accept()

"""The exam strip: every image of one eye at one visit as a thumbnail, the one on screen marked.

Thumbnails are the study's small cached JPEGs (a few per exam); an image without one shows its
name only. A click (or Enter) asks for that image: ``imageChosen(image_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

STATUS_MARK = {"submitted": "✓", "draft": "…", "todo": "○"}
THUMB = QSize(96, 72)


class ExamStrip(QListWidget):
    """See the module docstring. Items carry the image id (``Qt.UserRole``)."""

    imageChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSpacing(3)
        self.setFixedHeight(THUMB.height() + 46)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.itemClicked.connect(self._chosen)
        self.itemActivated.connect(self._chosen)

    def set_images(self, images: Sequence[object], current: int | None) -> None:
        """``images``: ``services.exams.ExamImage`` values, in strip order."""
        self.blockSignals(True)
        self.clear()
        for image in images:
            path: Path | None = getattr(image, "thumbnail", None)
            pixmap = QPixmap(str(path)) if path is not None and Path(path).is_file() else QPixmap()
            if pixmap.isNull():
                pixmap = QPixmap(THUMB)
                pixmap.fill(QColor("#202020"))
            mark = STATUS_MARK.get(getattr(image, "status", ""), "")
            name = str(getattr(image, "name", ""))
            item = QListWidgetItem(QIcon(pixmap), f"{mark} {name.rsplit('-', 1)[-1]}")
            item.setData(Qt.ItemDataRole.UserRole, int(image.image_id))  # type: ignore[attr-defined]
            item.setToolTip(f"{name} — {getattr(image, 'status', '')}")
            item.setSizeHint(QSize(THUMB.width() + 10, THUMB.height() + 30))
            self.addItem(item)
        self.blockSignals(False)
        self.mark_current(current)

    def image_ids(self) -> list[int]:
        return [int(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def mark_current(self, image_id: int | None) -> None:
        self.blockSignals(True)
        for i in range(self.count()):
            item = self.item(i)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) == image_id)
            if item.isSelected():
                self.scrollToItem(item)
        self.blockSignals(False)

    def _chosen(self, item: QListWidgetItem) -> None:
        self.imageChosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))

"""Worklist thumbnails read and scaled off the UI thread, newest request first.

The worklist asks for the thumbnail of a row only when the view paints that row; reading a JPEG
from the study's cache (a network share, for a shared study) and scaling it must not hold the
window. ``request(image_id, path)`` returns at once; ``loaded(image_id, QImage)`` arrives on the
UI thread (a null image when the file is missing or unreadable: the row shows none and the file
is not asked for again). Requests are served newest first, because a grader who scrolls wants the
rows on screen now, not those they scrolled past; at most ``max_pending`` wait (the oldest are
dropped and asked for again if their rows are painted again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage


class ThumbnailLoader(QObject):
    """Reads thumbnails in one background thread (see the module docstring)."""

    loaded = Signal(int, object)  # image id, QImage (null: none)
    _done = Signal(int, object)  # internal: relayed from the worker thread to the UI thread

    def __init__(self, height: int, *, max_pending: int = 256, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.height = height
        self.max_pending = max_pending
        self._pending: OrderedDict[int, Path] = OrderedDict()  # newest last
        self._lock = threading.Lock()
        self._busy = False
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rop-thumbnails")
        self._done.connect(self._relay)

    def request(self, image_id: int, path: Path) -> None:
        """Ask for the thumbnail of ``image_id`` (at ``path``); returns at once."""
        with self._lock:
            if self._stopped:
                return
            self._pending.pop(image_id, None)
            self._pending[image_id] = path
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
            if self._busy:
                return
            self._busy = True
        self._pool.submit(self._drain)

    def pending(self) -> int:
        """How many requests wait (for tests and the benchmark)."""
        with self._lock:
            return len(self._pending)

    def shutdown(self) -> None:
        """Drop what waits and stop the thread (idempotent)."""
        with self._lock:
            self._stopped = True
            self._pending.clear()
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ worker thread
    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._stopped or not self._pending:
                    self._busy = False
                    return
                image_id, path = self._pending.popitem(last=True)
            self._done.emit(image_id, self._read(path))

    def _read(self, path: Path) -> QImage:
        image = QImage(str(path))
        if image.isNull() or image.height() <= self.height:
            return image
        return image.scaledToHeight(self.height, Qt.TransformationMode.SmoothTransformation)

    # ------------------------------------------------------------------ UI thread
    def _relay(self, image_id: int, image: QImage) -> None:
        if not self._stopped:
            self.loaded.emit(image_id, image)

"""Decode images off the UI thread, newest request first, with a small cache and prefetch.

Switching images must feel instant and never block the window: ``request(id)`` returns at once;
``loaded(id, data)`` arrives on the UI thread when the image is decoded. A request superseded by
a newer one before it finished is still cached but not announced (the grader has moved on).
``prefetch(id)`` decodes the likely next image in the background.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal


class _LoaderThread(QThread):
    done = Signal(int, object, bool)  # image id, data, announce
    error = Signal(int, str, bool)

    def __init__(
        self, load: Callable[[int], Any], cache: OrderedDict[int, Any], cache_size: int, lock: threading.Lock
    ) -> None:
        super().__init__()
        self._lock = lock
        self.setObjectName("rop-image-loader")
        self._load = load
        self._cache = cache
        self._cache_size = cache_size
        self.jobs: queue.Queue[tuple[int, bool] | None] = queue.Queue()
        self.latest: int | None = None

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            image_id, announce = job
            if announce and image_id != self.latest:
                continue  # superseded before we started
            with self._lock:
                data = self._cache.get(image_id)
            if data is None:
                try:
                    data = self._load(image_id)
                except Exception as exc:  # noqa: BLE001 - shown to the user, the loader goes on
                    self.error.emit(image_id, str(exc), announce and image_id == self.latest)
                    continue
                with self._lock:
                    self._cache[image_id] = data
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            self.done.emit(image_id, data, announce and image_id == self.latest)


class ImageLoader(QObject):
    loaded = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, load: Callable[[int], Any], cache_size: int = 6, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._thread = _LoaderThread(load, self._cache, cache_size, self._lock)
        self._thread.done.connect(self._on_done)
        self._thread.error.connect(self._on_error)
        self._thread.start()

    def request(self, image_id: int) -> None:
        self._thread.latest = image_id
        with self._lock:
            cached = self._cache.get(image_id)
            if cached is not None:
                self._cache.move_to_end(image_id)
        if cached is not None:  # instant path, still on the UI thread
            self.loaded.emit(image_id, cached)
            return
        self._thread.jobs.put((image_id, True))

    def prefetch(self, image_id: int | None) -> None:
        if image_id is None:
            return
        with self._lock:
            known = image_id in self._cache
        if not known:
            self._thread.jobs.put((image_id, False))

    def is_cached(self, image_id: int) -> bool:
        """Whether the image is decoded and waiting (a prefetch finished)."""
        with self._lock:
            return image_id in self._cache

    def forget(self, image_id: int | None = None) -> None:
        """Drop a cached image (all when None), e.g. after it was re-imported."""
        with self._lock:
            if image_id is None:
                self._cache.clear()
            else:
                self._cache.pop(image_id, None)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        if not self._thread.isRunning():
            return True
        self._thread.jobs.put(None)
        return self._thread.wait(timeout_ms)

    def _on_done(self, image_id: int, data: Any, announce: bool) -> None:
        if announce and image_id == self._thread.latest:
            self.loaded.emit(image_id, data)

    def _on_error(self, image_id: int, message: str, announce: bool) -> None:
        if announce and image_id == self._thread.latest:
            self.failed.emit(image_id, message)

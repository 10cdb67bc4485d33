"""Import images into the open study with progress and cancel (the work runs in a worker thread)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from rop_desktop.workers.runner import GeneratorWorker


class ImportDialog(QDialog):
    """Shows an import's progress; Cancel stops it between two files (whole images only).

    ``start(factory)`` runs ``factory()`` — a generator of ImportProgress returning an
    ImportSummary — in a GeneratorWorker. ``finishedImport(summary_or_None)`` fires at the end.
    """

    finishedImport = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import images")
        self.setMinimumWidth(560)
        self.label = QLabel("Preparing …")
        self.bar = QProgressBar()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("Files that could not be imported are listed here.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.buttons)
        self.worker: GeneratorWorker | None = None
        self.summary: Any = None
        self.cancelled = False

    def start(self, factory: Callable[[], Iterator[Any]]) -> None:
        self.worker = GeneratorWorker(factory)
        self.worker.setParent(self)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_done)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.errored.connect(self._on_error)
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.cancelled = True
            self.label.setText("Cancelling after the current file …")
            self.worker.abort()
        else:
            self.reject()

    def _on_progress(self, p: Any) -> None:
        self.bar.setMaximum(max(1, p.total))
        self.bar.setValue(p.done)
        self.label.setText(
            f"{p.done} of {p.total}: {p.current} — imported {p.imported}, duplicates {p.duplicates}, failed {p.failed}"
        )
        if p.problem is not None:
            self.log.appendPlainText(f"{p.problem.path}: {p.problem.reason}")

    def _finish(self, text: str) -> None:
        self.label.setText(text)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(self.accept)
        self.finishedImport.emit(self.summary)

    def _on_done(self, summary: Any) -> None:
        self.summary = summary
        self.bar.setValue(self.bar.maximum())
        text = "Done: " + ", ".join(summary.lines()[:3])
        if summary.unmatched_manifest_rows:
            self.log.appendPlainText(summary.lines()[-1].strip())
        for problem in summary.manifest_problems:
            self.log.appendPlainText(f"manifest: {problem}")
        self._finish(text)

    def _on_aborted(self) -> None:
        self._finish(
            f"Cancelled. {self.bar.value()} of {self.bar.maximum()} files were handled; "
            "the images imported so far are complete."
        )

    def _on_error(self, exc: BaseException) -> None:
        self._finish(f"The import stopped: {exc}")

    def done(self, result: int) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.cancel()
            self.worker.wait(30_000)
        super().done(result)

"""Import and export annotation files (VIA, labelme, COCO, masks, grade CSV) from the window.

The import dialog lists the attribute / flag / label names found in the chosen file in a small
mapping table (one combo per name) and runs
:func:`~rop_desktop.services.annotation_io.import_annotations` in a worker thread; the export
dialog runs :func:`~rop_desktop.services.annotation_io.export_annotations`. Both act for the
signed-in actor, show the service's summary or the reason it refused (importing is for admins;
a grader exports their own work only), and never touch the store themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.services import policy
from rop_desktop.services.accounts import list_accounts
from rop_desktop.services.annotation_io import (
    EXHAUSTIVE_FORMATS,
    FORMATS,
    REFERENCE,
    AnnotationIOError,
    export_annotations,
    import_annotations,
)
from rop_desktop.services.annotation_io_attributes import MAPPING_TARGETS, list_attribute_names
from rop_desktop.services.policy import Action, Actor
from rop_desktop.services.studies import Study
from rop_desktop.workers.runner import GeneratorWorker

#: The mapping combo's first entry: leave the name as the file has it (recognised by its usual name).
AS_NAMED = "(as named)"
#: The graders table's first entry: the file's grader gets an account of its own ("imported: G1").
NEW_ACCOUNT = "(a new import account)"
#: Formats read from a folder rather than one file.
FOLDER_FORMATS = ("labelme", "masks")
FILE_FILTERS = {
    "via": "VIA project (*.json)",
    "labelme": "labelme (*.json)",
    "coco": "COCO (*.json)",
    "grades_csv": "Grades CSV (*.csv)",
}


def _call(fn: Callable[[], Any]) -> Any:
    """A generator that does ``fn()`` and returns its result: one-shot work for a GeneratorWorker."""
    return fn()
    yield  # pragma: no cover - makes this a generator


class _WorkerDialog(QDialog):
    """A dialog whose main action runs off the UI thread; ``finishedWork(result or None)`` at the end."""

    finishedWork = Signal(object)

    def __init__(self, title: str, action: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.run_button = self.buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.rejected.connect(self.reject)
        self.run_button.clicked.connect(self.run)
        self.worker: GeneratorWorker | None = None

    def run(self) -> None:  # overridden
        raise NotImplementedError

    def _start(self, fn: Callable[[], Any]) -> None:
        self.run_button.setEnabled(False)
        self.status.setText("Working …")
        self.worker = GeneratorWorker(lambda: _call(fn))
        self.worker.setParent(self)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)
        self.worker.start()

    def _returned(self, result: Any) -> None:
        self.run_button.setEnabled(True)
        self.show_result(result)
        self.finishedWork.emit(result)

    def _errored(self, exc: BaseException) -> None:
        self.run_button.setEnabled(True)
        self.fail(getattr(exc, "reason", None) or str(exc))
        self.finishedWork.emit(None)

    def show_result(self, result: Any) -> None:  # overridden
        raise NotImplementedError

    def fail(self, reason: str) -> None:
        """Show why nothing was done."""
        self.status.setText(f"Nothing was done: {reason}")
        self.log.appendPlainText(reason)

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.shutdown()
        super().done(result)


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(edit, 1)
    layout.addWidget(button)
    return row


class AnnotationImportDialog(_WorkerDialog):
    """Format, file or folder, the receiving account, the attribute mapping, the accounts of a
    grades CSV's graders and the import's two switches; Import runs the import.

    Without an account named, the items land under a new import account (``imported: <file>``);
    a named account keeps everything it has submitted (the summary lists the conflicts). The
    options are the command line's: *Graders in the file* is ``--grader-map``, *An image listed
    without outlines is "no ROP"* ``--empty-means-negative`` (on by default for the formats whose
    files list every image) and *Replace an earlier import* ``--replace``."""

    def __init__(self, study: Study, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__("Import annotations", "Import", parent)
        self.study = study
        self.actor = actor
        self.format = QComboBox()
        self.format.addItems(FORMATS)
        self.path = QLineEdit()
        self.path.setPlaceholderText("annotation file (a folder for labelme and masks)")
        self.grader = QLineEdit()
        self.grader.setPlaceholderText("empty: a new account “imported: <file name>”")
        self.grader.setToolTip("An existing account to import into; its submitted work is never overwritten")
        self.mapping = QTableWidget(0, 2)
        self.mapping.setHorizontalHeaderLabels(["Name in the file", "Means"])
        self.mapping.horizontalHeader().setStretchLastSection(True)
        self.mapping.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.mapping.verticalHeader().hide()
        self._combos: dict[str, QComboBox] = {}  # the table's rows: name in the file -> its combo
        self.graders_label = QLabel("Graders in the file (each gets a new import account unless you name one):")
        self.graders_table = QTableWidget(0, 2)
        self.graders_table.setHorizontalHeaderLabels(["Grader in the file", "Account"])
        self.graders_table.horizontalHeader().setStretchLastSection(True)
        self.graders_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.graders_table.verticalHeader().hide()
        self._grader_combos: dict[str, QComboBox] = {}  # grader label in the file -> its account combo
        self.empty_negative = QCheckBox("An image the file lists without any outline is graded “no ROP”")
        self.empty_negative.setToolTip(
            "VIA, labelme and COCO files list every image they were used on, so an image without"
            " outlines was looked at and found clear; a mask folder or a grades CSV need not"
        )
        self.replace = QCheckBox("Replace what an earlier import of this file stored (never a person's work)")
        self.replace.setToolTip(
            "Without it, a value that differs from an earlier import under the same import account"
            " is listed as a conflict and kept"
        )
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("File", _path_row(self.path, self.browse))
        form.addRow("Into account", self.grader)
        form.addRow("", self.empty_negative)
        form.addRow("", self.replace)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Attribute, flag and label names found in the file:"))
        layout.addWidget(self.mapping, 1)
        layout.addWidget(self.graders_label)
        layout.addWidget(self.graders_table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.buttons)
        self.format.currentTextChanged.connect(lambda _fmt: self.read_names())
        self.format.currentTextChanged.connect(self._format_defaults)
        self.path.editingFinished.connect(self.read_names)
        self._format_defaults(self.format.currentText())
        self._show_graders([])

    def _format_defaults(self, fmt: str) -> None:
        """The import's defaults for ``fmt``: "no ROP" for an image without outlines where the
        format's files list every image; not offered for a grades CSV, which has no outlines."""
        self.empty_negative.setChecked(fmt in EXHAUSTIVE_FORMATS)
        self.empty_negative.setEnabled(fmt != "grades_csv")

    def browse(self) -> None:
        fmt = self.format.currentText()
        if fmt in FOLDER_FORMATS:
            chosen = QFileDialog.getExistingDirectory(self, f"{fmt} folder")
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, f"{fmt} file", "", FILE_FILTERS[fmt])
        if chosen:
            self.set_source(fmt, chosen)

    def set_source(self, fmt: str, path: str | Path) -> None:
        """Choose the format and file (as Browse does) and list the file's names."""
        self.format.blockSignals(True)
        self.format.setCurrentText(fmt)
        self.format.blockSignals(False)
        self._format_defaults(fmt)
        self.path.setText(str(path))
        self.read_names()

    def read_names(self) -> None:
        """Fill the mapping table with the names of the chosen file (or show why it cannot be read)."""
        self.mapping.setRowCount(0)
        self._combos.clear()
        self._show_graders([])
        if not self.path.text().strip():
            return
        try:
            found = list_attribute_names(self.format.currentText(), self.path.text().strip())
        except AnnotationIOError as exc:
            self.status.setText(f"Cannot read the file: {exc.reason}")
            return
        names = found.all()
        self._show_graders(found.graders)
        self.status.setText(f"{len(names)} name(s) found; map those the importer would not recognise.")
        for row, name in enumerate(names):
            self.mapping.insertRow(row)
            self.mapping.setCellWidget(row, 0, QLabel(name))
            combo = QComboBox()
            combo.addItems([AS_NAMED, *MAPPING_TARGETS])
            self.mapping.setCellWidget(row, 1, combo)
            self._combos[name] = combo

    def _show_graders(self, labels: list[str]) -> None:
        """One row per grader the file names, with a combo of the study's active accounts."""
        self.graders_table.setRowCount(0)
        self._grader_combos.clear()
        self.graders_label.setVisible(bool(labels))
        self.graders_table.setVisible(bool(labels))
        if not labels:
            return
        accounts = [a.name for a in list_accounts(self.study, self.actor, include_inactive=False)]
        for row, label in enumerate(labels):
            self.graders_table.insertRow(row)
            self.graders_table.setCellWidget(row, 0, QLabel(label))
            combo = QComboBox()
            combo.addItems([NEW_ACCOUNT, *accounts])
            combo.setToolTip(f"New import account: “imported: {label}”; an existing account keeps its submitted work")
            self.graders_table.setCellWidget(row, 1, combo)
            self._grader_combos[label] = combo

    def file_graders(self) -> list[str]:
        """The graders of the file listed in the graders table, in order."""
        return list(self._grader_combos)

    def grader_combo(self, label: str) -> QComboBox:
        """The account combo of the file's grader ``label`` (KeyError when the file names no such grader)."""
        return self._grader_combos[label]

    def chosen_grader_map(self) -> dict[str, str]:
        """``grader_map`` as :func:`import_annotations` takes it (graders left to a new account omitted)."""
        return {
            label: combo.currentText()
            for label, combo in self._grader_combos.items()
            if combo.currentText() != NEW_ACCOUNT
        }

    def names(self) -> list[str]:
        """The names listed in the mapping table, in order."""
        return list(self._combos)

    def combo(self, name: str) -> QComboBox:
        """The mapping combo of ``name`` (KeyError when the file has no such name)."""
        return self._combos[name]

    def chosen_mapping(self) -> dict[str, str]:
        """The mapping as :func:`import_annotations` takes it (names left "as named" are omitted)."""
        return {
            name: self.combo(name).currentText() for name in self.names() if self.combo(name).currentText() != AS_NAMED
        }

    def run(self) -> None:
        fmt, path = self.format.currentText(), self.path.text().strip()
        if not path:
            self.fail("choose an annotation file first")
            return
        grader, mapping, grader_map = (
            self.grader.text().strip() or None,
            self.chosen_mapping(),
            self.chosen_grader_map(),
        )
        negatives = self.empty_negative.isChecked() if self.empty_negative.isEnabled() else None
        replace = self.replace.isChecked()
        study, actor = self.study, self.actor
        self.log.clear()
        self._start(
            lambda: import_annotations(
                study,
                actor,
                fmt,
                path,
                into_grader=grader,
                mapping=mapping,
                grader_map=grader_map or None,
                empty_means_negative=negatives,
                replace=replace,
            )
        )

    def show_result(self, summary: Any) -> None:
        self.status.setText(
            f"Imported {summary.annotations} outline(s) and {summary.grades} grade(s) "
            f"with {len(summary.errors)} error(s) and {len(summary.warnings)} warning(s)."
        )
        self.log.setPlainText("\n".join(summary.lines()))


class AnnotationExportDialog(_WorkerDialog):
    """Format, whose annotations (every grader, the reference standard or one grader), folder.

    An account that may not export other graders' work (a grader) is offered its own only."""

    ALL = "Every grader"
    REFERENCE_TEXT = "Reference standard"

    def __init__(self, study: Study, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__("Export annotations", "Export", parent)
        self.study = study
        self.actor = actor
        self.format = QComboBox()
        self.format.addItems(FORMATS)
        self.whose = QComboBox()
        if policy.allowed(study, actor, Action.EXPORT_ALL):
            self.whose.addItems([self.ALL, self.REFERENCE_TEXT, *(a.name for a in list_accounts(study, actor))])
        else:
            self.whose.addItem(actor.name)
        self.per_grader = QCheckBox("One mask per grader (masks only)")
        self.copy_images = QCheckBox("Copy the images too (pseudonymous names)")
        self.include_comments = QCheckBox("Include grader comments (identity values replaced)")
        self.include_comments.setToolTip("Free text is where names slip in: off unless an admin ticks it")
        self.include_comments.setVisible(policy.allowed(study, actor, Action.IDENTITY))
        self.folder = QLineEdit()
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Annotations of", self.whose)
        form.addRow("", self.per_grader)
        form.addRow("", self.copy_images)
        form.addRow("", self.include_comments)
        form.addRow("Folder", _path_row(self.folder, self.browse))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.buttons)

    def browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export into folder")
        if chosen:
            self.folder.setText(chosen)

    def graders(self) -> list[str] | str | None:
        """The ``graders`` argument of :func:`export_annotations` for the current choice."""
        whose = self.whose.currentText()
        if whose == self.ALL:
            return None
        return REFERENCE if whose == self.REFERENCE_TEXT else [whose]

    def run(self) -> None:
        folder = self.folder.text().strip()
        if not folder:
            self.fail("choose a folder first")
            return
        fmt, graders = self.format.currentText(), self.graders()
        per_grader, copy_images = self.per_grader.isChecked(), self.copy_images.isChecked()
        comments = self.include_comments.isChecked()
        study, actor = self.study, self.actor
        self._start(
            lambda: export_annotations(
                study,
                actor,
                fmt,
                folder,
                graders=graders,
                per_grader=per_grader,
                copy_images=copy_images,
                include_comments=comments,
            )
        )

    def show_result(self, written: Any) -> None:
        self.status.setText(f"Written: {written}")
        self.log.appendPlainText(str(written))

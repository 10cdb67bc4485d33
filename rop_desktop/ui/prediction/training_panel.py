"""The "Train" tab: what to train, Start / Pause / Cancel, live progress, curves and log.

A view: it shows what it is given and emits what the user asks for; the model controller runs
the training worker. :meth:`TrainingPanel.request` reads the form as a :class:`TrainRequest`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.workers.training_worker import RunChoices, RunOutcome, TrainRequest

TASK_LABELS = (("binary", "Binary ROP (yes / no)"), ("stage", "Stage 1–3"), ("segmentation", "Line segmentation"))
#: Headline metrics of a version per app task, in the order shown.
KEY_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "sensitivity", "specificity"),
    "stage": ("accuracy", "macro_f1"),
    "segmentation": ("dice", "iou"),
}
LOG_LINES = 2000


def format_seconds(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12 s``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def metrics_text(task: str, metrics: dict[str, Any]) -> str:
    """``AUROC 0.91 · sensitivity 0.95 · specificity 0.80`` from a version's or run's test metrics."""
    parts = []
    for key in KEY_METRICS.get(task, ()):
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{'AUROC' if key == 'auroc' else key.replace('_', ' ')} {value:.2f}")
    n = metrics.get("n")
    return " · ".join(parts) + (f" (test n = {n})" if n else "") if parts else "no test metrics"


class TrainingPanel(QWidget):
    startRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    cancelRequested = Signal()
    taskChanged = Signal(str)
    architectureChanged = Signal(str)
    autoUpdateChanged = Signal(object)  # int or None
    activateRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.task_combo = QComboBox()
        for value, label in TASK_LABELS:
            self.task_combo.addItem(label, value)
        self.arch_combo = QComboBox()
        self.epochs = _spin(1, 1000)
        self.minutes = _spin(0, 24 * 60)
        self.minutes.setSpecialValueText("no limit")  # 0: the epochs decide
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip(
            "Wall-clock budget: the learning-rate schedule fits it and the best weights "
            "are kept (as rop-train train --minutes)"
        )
        self.batch_size = _spin(1, 1024)
        self.image_size = _spin(16, 2048, step=16)
        self.device_combo = QComboBox()
        self.init_combo = QComboBox()
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItem("recipe default", None)
        for name in ("adam", "adamw", "sgd"):
            self.optimizer_combo.addItem(name, name)
        self.lr_edit = QLineEdit()
        self.lr_edit.setPlaceholderText("recipe default")
        validator = QDoubleValidator(1e-12, 1e15, 12, self.lr_edit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr_edit.setValidator(validator)
        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        fields = QWidget()
        adv = QFormLayout(fields)
        adv.setContentsMargins(0, 0, 0, 0)
        adv.addRow("Optimizer", self.optimizer_combo)
        adv.addRow("Learning rate", self.lr_edit)
        QVBoxLayout(self.advanced).addWidget(fields)
        fields.setVisible(False)
        self.advanced.toggled.connect(fields.setVisible)

        self.auto_check = QCheckBox()
        self.auto_check.setToolTip("Start a fine-tuning run of this task after this many new reference labels")
        self.auto_every = _spin(1, 9999)
        self.auto_every.setValue(50)
        self.auto_every.setSuffix(" new labels")
        auto = QHBoxLayout()
        auto.setContentsMargins(0, 0, 0, 0)
        auto.addWidget(self.auto_check)
        auto.addWidget(self.auto_every, 1)
        auto_row = QWidget()
        auto_row.setLayout(auto)
        auto_row.setToolTip(self.auto_check.toolTip())

        form = QFormLayout()
        form.addRow("Task", self.task_combo)
        form.addRow("Architecture", self.arch_combo)
        form.addRow("Epochs", self.epochs)
        form.addRow("Time budget", self.minutes)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Image size", self.image_size)
        form.addRow("Device", self.device_combo)
        form.addRow("Start from", self.init_combo)
        form.addRow("Auto-update", auto_row)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("startTraining")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setObjectName("trainingStatus")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setObjectName("trainingResult")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.activate_button = QPushButton("Activate this version")
        self.activate_button.setVisible(False)
        from rop_desktop.ui.prediction.curves import TrainingCurves  # pyqtgraph: only windows with a Train tab load it

        self.curves = TrainingCurves()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setMinimumHeight(110)
        self.log.setObjectName("trainingLog")

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        layout.addWidget(self.activate_button)
        layout.addWidget(self.curves)
        layout.addWidget(QLabel("Log"))
        layout.addWidget(self.log, 1)
        for combo in (self.task_combo, self.arch_combo, self.device_combo, self.init_combo, self.optimizer_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self._version_id: int | None = None
        self.task_combo.currentIndexChanged.connect(lambda _i: self.taskChanged.emit(self.task()))
        self.arch_combo.currentIndexChanged.connect(lambda _i: self.architectureChanged.emit(self.architecture()))
        self.start_button.clicked.connect(self.startRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.pause_button.clicked.connect(self._on_pause_button)
        self.activate_button.clicked.connect(lambda: self._version_id and self.activateRequested.emit(self._version_id))
        self.auto_check.toggled.connect(lambda _on: self._emit_auto())
        self.auto_every.valueChanged.connect(lambda _v: self._emit_auto() if self.auto_check.isChecked() else None)
        self.set_running(False)

    # ------------------------------------------------------------------ the form
    def task(self) -> str:
        return self.task_combo.currentData()

    def architecture(self) -> str:
        return self.arch_combo.currentData() or ""

    def set_task(self, task: str) -> None:
        self.task_combo.setCurrentIndex(max(0, self.task_combo.findData(task)))

    def set_architectures(self, names: Sequence[str], default: str) -> None:
        """The task's architectures (fast ones first), ``default`` selected."""
        self.arch_combo.blockSignals(True)
        self.arch_combo.clear()
        for name in names:
            self.arch_combo.addItem(name, name)
        self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData(default)))
        self.arch_combo.blockSignals(False)
        self.architectureChanged.emit(self.architecture())

    def set_architecture(self, name: str) -> None:
        self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData(name)))

    def set_devices(self, devices: Sequence[tuple[str, str]], default: str = "cpu") -> None:
        """``[(device, label)]``; the CPU is always offered."""
        self.device_combo.clear()
        self.device_combo.addItem("CPU", "cpu")
        for device, name in devices:
            self.device_combo.addItem(f"{name} ({device})", device)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(default)))

    def set_choices(self, choices: RunChoices) -> None:
        """The recipe's defaults and the starting weights available for the architecture."""
        self.epochs.setValue(choices.epochs)
        self.batch_size.setValue(choices.batch_size)
        self.image_size.setValue(choices.image_size)
        self.set_starting_weights(choices)

    def set_starting_weights(self, choices: RunChoices) -> None:
        """Fine-tune (the default once a version of this architecture is active) / ImageNet / random."""
        self.init_combo.clear()
        if choices.finetune_from is not None:
            self.init_combo.addItem(f"Fine-tune {choices.finetune_from.name} (active)", "finetune")
        self.init_combo.addItem(
            "ImageNet (local cache)" if choices.imagenet else "ImageNet (not in the local cache)", "imagenet"
        )
        items = self.init_combo.model()
        if isinstance(items, QStandardItemModel):  # a QComboBox's own model: items can be disabled
            item = items.item(self.init_combo.count() - 1)
            if item is not None:
                item.setEnabled(choices.imagenet)
        self.init_combo.addItem("Random", "random")
        self.init_combo.setCurrentIndex(
            0
            if choices.finetune_from is not None
            else (self.init_combo.findData("imagenet") if choices.imagenet else self.init_combo.findData("random"))
        )

    def set_advanced(self, optimizer: str | None = None, lr: float | None = None) -> None:
        """Fill the advanced options (a test forcing a diverging run uses this like a user would)."""
        self.advanced.setChecked(optimizer is not None or lr is not None)
        self.optimizer_combo.setCurrentIndex(max(0, self.optimizer_combo.findData(optimizer)))
        self.lr_edit.setText("" if lr is None else f"{lr:g}")

    def overrides(self) -> dict[str, Any]:
        if not self.advanced.isChecked():
            return {}
        out: dict[str, Any] = {}
        if self.optimizer_combo.currentData():
            out["optimizer"] = self.optimizer_combo.currentData()
        text = self.lr_edit.text().strip()
        if text:
            with contextlib.suppress(ValueError):  # not a number: the preset's rate stands
                out["lr"] = float(text)
        return out

    def request(self) -> TrainRequest:
        return TrainRequest(
            self.task(),
            self.architecture(),
            self.epochs.value(),
            self.batch_size.value(),
            self.image_size.value(),
            self.device_combo.currentData() or "cpu",
            self.init_combo.currentData() or "random",
            self.overrides(),
            minutes=self.minutes.value() or None,
        )

    def set_auto_update(self, every: int | None) -> None:
        self.auto_check.blockSignals(True)
        self.auto_check.setChecked(bool(every))
        if every:
            self.auto_every.setValue(int(every))
        self.auto_check.blockSignals(False)

    def _emit_auto(self) -> None:
        self.autoUpdateChanged.emit(self.auto_every.value() if self.auto_check.isChecked() else None)

    # ------------------------------------------------------------------ a run
    def set_running(self, running: bool) -> None:
        for widget in (
            self.task_combo,
            self.arch_combo,
            self.epochs,
            self.minutes,
            self.batch_size,
            self.image_size,
            self.device_combo,
            self.init_combo,
            self.advanced,
            self.start_button,
        ):
            widget.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.pause_button.setText("Pause")

    def run_begins(self, description: str) -> None:
        self.set_running(True)
        self.curves.clear()
        self.progress.setValue(0)
        self.progress.setFormat("preparing …")
        self.result.clear()
        self.activate_button.setVisible(False)
        self.status.setText(description)
        self.append_log(description)

    def show_started(self, n_train: int, n_val: int, n_test: int, device: str, init: str) -> None:
        self.status.setText(
            f"Training on {device}: {n_train} train / {n_val} validation / {n_test} test images; "
            f"starting weights: {init}."
        )

    def show_progress(
        self, epoch: int, epochs: int, batch: int, batches: int, loss: float, images_per_s: float, eta_s: float
    ) -> None:
        done = ((epoch - 1) * batches + batch) / max(epochs * batches, 1)
        self.progress.setValue(int(round(1000 * min(done, 1.0))))
        self.progress.setFormat(f"epoch {epoch}/{epochs} · batch {batch}/{batches} · ETA {format_seconds(eta_s)}")
        self.status.setText(f"loss {loss:.4f} · {images_per_s:.1f} images/s")
        self.curves.add_batch(epoch, batch, batches, loss)

    def show_paused(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.progress.setFormat(self.progress.format().split(" (paused)")[0] + " (paused)")

    def _on_pause_button(self) -> None:
        if self.pause_button.text() == "Resume":
            self.resumeRequested.emit()
        else:
            self.pause_button.setText("Pausing …")
            self.pause_button.setEnabled(False)
            self.pauseRequested.emit()

    def enable_pause_button(self) -> None:
        self.pause_button.setEnabled(True)

    def append_log(self, message: str, level: str = "info") -> None:
        prefix = "" if level == "info" else f"[{level}] "
        self.log.appendPlainText(prefix + message.rstrip())

    def show_outcome(self, task: str, outcome: RunOutcome) -> None:
        """The run's end: the new version with its test metrics, or the reason it failed."""
        self.set_running(False)
        if outcome.status == "finished" and outcome.version is not None:
            v = outcome.version
            self.progress.setValue(1000)
            self.progress.setFormat("finished")
            self._version_id = v.id
            self.result.setText(
                f"New model version #{v.id} “{v.name}” ({v.architecture}): "
                f"{metrics_text(task, outcome.test_metrics or v.metrics)}."
            )
            self.activate_button.setVisible(not v.active)
            self.status.setText("Finished. The version is listed in the Models tab.")
        elif outcome.status == "cancelled":
            self.progress.setFormat("cancelled")
            self.status.setText("Cancelled: the run stopped; no version was registered.")
        else:
            self.progress.setFormat("failed")
            category = f" ({outcome.category.replace('_', ' ')})" if outcome.category else ""
            self.status.setText(f"The run failed{category}: {outcome.reason}")
        self.append_log(self.status.text(), "info" if outcome.status == "finished" else "warning")

    def version_activated(self) -> None:
        self.activate_button.setVisible(False)

    def result_version(self) -> int | None:
        """The id of the version the last finished run registered."""
        return self._version_id


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    return spin

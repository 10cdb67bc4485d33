"""Toolbar widgets for the display: mode, brightness, contrast, gamma, field of view."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from rop_desktop.imaging.display import DISPLAY_MODES, DisplaySettings

MODE_LABEL = {"original": "Original", "green": "Green channel", "clahe": "CLAHE (model view)"}


def _slider(lo: int, hi: int, value: int, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setFixedWidth(90)
    s.setToolTip(tip)
    s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return s


class DisplayBar(QWidget):
    settingsChanged = Signal(object)  # DisplaySettings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = DisplaySettings()
        self.mode = QComboBox()
        for mode in DISPLAY_MODES:
            self.mode.addItem(MODE_LABEL.get(mode, mode), mode)
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.brightness = _slider(-100, 100, 0, "Brightness")
        self.contrast = _slider(25, 300, 100, "Contrast (%)")
        self.gamma = _slider(30, 300, 100, "Gamma (x100)")
        self.fov = QCheckBox("FOV")
        self.fov.setToolTip("Outline the camera's field of view")
        self.fov.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reset = QToolButton()
        self.reset.setText("Reset")
        self.reset.setToolTip("Reset the display (Shift+C)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for label, widget in (("", self.mode), ("☀", self.brightness), ("◐", self.contrast), ("γ", self.gamma)):
            if label:
                layout.addWidget(QLabel(label))
            layout.addWidget(widget)
        layout.addWidget(self.fov)
        layout.addWidget(self.reset)
        layout.addStretch(1)
        self.mode.currentIndexChanged.connect(self._emit)
        for s in (self.brightness, self.contrast, self.gamma):
            s.valueChanged.connect(self._emit)
        self.fov.toggled.connect(self._emit)
        self.reset.clicked.connect(lambda: self.set_settings(DisplaySettings(), emit=True))

    def settings(self) -> DisplaySettings:
        return self._settings

    def set_settings(self, settings: DisplaySettings, *, emit: bool = False) -> None:
        widgets = (self.mode, self.brightness, self.contrast, self.gamma, self.fov)
        for w in widgets:
            w.blockSignals(True)
        self.mode.setCurrentIndex(max(0, self.mode.findData(settings.mode)))
        self.brightness.setValue(round(settings.brightness))
        self.contrast.setValue(round(settings.contrast * 100))
        self.gamma.setValue(round(settings.gamma * 100))
        self.fov.setChecked(settings.show_fov)
        for w in widgets:
            w.blockSignals(False)
        self._settings = settings
        if emit:
            self.settingsChanged.emit(settings)

    def cycle_mode(self) -> None:
        self.mode.setCurrentIndex((self.mode.currentIndex() + 1) % self.mode.count())

    def _emit(self) -> None:
        self._settings = replace(
            self._settings,
            mode=self.mode.currentData(),
            brightness=float(self.brightness.value()),
            contrast=self.contrast.value() / 100.0,
            gamma=self.gamma.value() / 100.0,
            show_fov=self.fov.isChecked(),
        )
        self.settingsChanged.emit(self._settings)

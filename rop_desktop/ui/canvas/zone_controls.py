"""Toolbar widgets for the zone rings: on / off and their opacity (the canvas draws them)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSlider, QWidget

from .landmarks import DEFAULT_OPACITY


class ZoneRingsControls(QWidget):
    """ "Zones" check box and an opacity slider; ``visibleChanged(bool)``, ``opacityChanged(float)``."""

    visibleChanged = Signal(bool)
    opacityChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QCheckBox("Zones")
        self.toggle.setChecked(True)
        self.toggle.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.toggle.setToolTip(
            "ICROP3 zone rings around the optic disc: zone I (2 × disc–fovea distance), posterior "
            "zone II (+2 disc diameters), zone II (estimated). Place the disc and fovea with the "
            "Landmarks tool (D). Shortcut: R"
        )
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity.setFixedWidth(70)
        self.opacity.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity.setToolTip("Opacity of the zone rings")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.opacity)
        self.toggle.toggled.connect(self._toggled)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100.0))

    def flip(self) -> None:
        """Switch the rings on / off (the R key)."""
        self.toggle.toggle()

    def _toggled(self, on: bool) -> None:
        self.opacity.setEnabled(on)
        self.visibleChanged.emit(on)

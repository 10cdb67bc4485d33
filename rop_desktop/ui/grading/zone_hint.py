"""The grade panel's zone suggestion: what the disc, fovea and ridge outline say, and Accept.

The suggestion is computed in the domain (``domain.zones.suggest_zone``) and handed over as a
plain :class:`~rop_desktop.domain.zones.ZoneSuggestion`; a refused one shows its reason in grey.
Accepting sets the grade's zone; the host stores the grader's decision (accepted or overridden)
beside the suggestion.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from rop_desktop.domain.labels import Zone
from rop_desktop.domain.zones import ZoneSuggestion

from . import keymap, style


class ZoneHint(QWidget):
    """One line under the zone buttons: "Suggested: Posterior zone II  [Accept]" (see the module docstring)."""

    acceptRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._suggestion: ZoneSuggestion | None = None
        self._current: Zone | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(4)
        self.label = QLabel("", self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.accept_button = QToolButton(self)
        self.accept_button.setText("Accept")
        self.accept_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_button.setToolTip(
            "Set the zone to the suggestion\nShortcut: " + keymap.hint_for_command(keymap.Command.ACCEPT_ZONE)
        )
        self.accept_button.clicked.connect(self.acceptRequested)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.accept_button)
        self.setVisible(False)

    @property
    def suggestion(self) -> ZoneSuggestion | None:
        return self._suggestion

    def set_suggestion(self, suggestion: ZoneSuggestion | None, current: Zone | None) -> None:
        """Show ``suggestion`` against the zone graded now (None hides the line)."""
        self._suggestion, self._current = suggestion, current
        self._refresh()

    def set_current(self, current: Zone | None) -> None:
        self._current = current
        self._refresh()

    def _refresh(self) -> None:
        s = self._suggestion
        self.setVisible(s is not None)
        if s is None:
            return
        tip = s.reason + ("\n" + "\n".join(s.notes) if s.notes else "")
        self.label.setToolTip(tip)
        self.setToolTip(tip)
        if s.zone is None:
            self.label.setText(f"<span style='color:{style.MISSING}'>No zone suggestion: {s.reason}</span>")
            self.accept_button.setVisible(False)
            return
        agreed = self._current is s.zone
        color = style.ZONE_COLORS.get(s.zone, style.MISSING)
        state = " — <b>accepted</b>" if agreed else ""
        if not agreed and self._current is not None:
            state = f" — you chose {self._current.label}"
        warn = " ⚠" if s.notes else ""
        self.label.setText(
            f"Suggested: <b style='color:{color}'>{s.zone.label}</b>{state}{warn}"
            f"<br><span style='color:{style.MISSING}'>{s.distance_df:.2f} disc–fovea distances "
            "from the disc</span>"
        )
        self.accept_button.setVisible(not agreed)

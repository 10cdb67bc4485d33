"""The adjudication view: the queue, one case at a time, and the adjudicator's decision.

Left: the queue (to decide / too few votes) and the image's history. Centre: the image on a
read-only canvas with every grader's outlines (one colour each, a checkbox each) and the
reference outline being chosen; below it every grader's grade (dissent highlighted), the
reasons, the hospital diagnosis, the model's prediction and the outline IoU. Right: the
reference grade, pre-filled from the votes, the outline choice and Settle.

Everything goes through :class:`~rop_desktop.services.reference.ReferenceService` (which
refuses graders); images are decoded and models run in worker threads. Signals:
``caseShown(image_id)`` once a case's image and outlines are on screen, ``settled(image_id,
ReferenceState)`` after a decision is stored, ``conflicted(image_id, ReferenceState | None)``
when another adjudicator decided the image first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget

from rop_desktop.services.policy import AccessDenied as PermissionDenied
from rop_desktop.services.reference import VOTE_METHODS, AdjudicationError, ConflictError
from rop_desktop.ui.canvas import ImageCanvas
from rop_desktop.ui.display_bar import DisplayBar
from rop_desktop.ui.grading import GradingShortcuts
from rop_desktop.workers.image_loader import ImageLoader

from .background import BackgroundCalls
from .case_info import CaseInfo, model_text
from .decision import DecisionPanel, Geometry
from .history import HistoryTable, entries_from_audit, entries_from_case
from .notice import show_notice
from .outlines import REFERENCE_COLOR, REFERENCE_LAYER, OutlineLegend
from .queue_panel import QueuePanel
from .suggestion import describe, suggested_reference
from .votes_table import VotesTable

if TYPE_CHECKING:
    from rop_desktop.services.reference import AdjudicationCase


#: The side columns' share of the window's width, and their bounds in pixels: the canvas column
#: takes the rest (at 1366 px it needs ~690 px for the outline legend, so the queue gets ~320).
QUEUE_SHARE, QUEUE_PX = 0.28, (200, 500)
DECISION_SHARE, DECISION_PX = 0.26, (350, 420)

RULE_LABELS = {
    "majority": "Majority of the graders",
    "union": "Union (any grader)",
    "intersection": "Intersection (every grader)",
}


def column_widths(width: int) -> list[int]:
    """Queue, canvas and decision column widths for a window ``width`` px wide: the side columns
    take their share within their bounds, the canvas the rest (and every later change of width)."""

    def share(fraction: float, bounds: tuple[int, int]) -> int:
        return int(min(max(width * fraction, bounds[0]), bounds[1]))

    queue, decision = share(QUEUE_SHARE, QUEUE_PX), share(DECISION_SHARE, DECISION_PX)
    return [queue, max(300, width - queue - decision - 16), decision]


def _box(title: str, *widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(3)
    caption = QLabel(title)
    caption.setStyleSheet("font-weight: bold;")
    layout.addWidget(caption)
    for widget in widgets:
        layout.addWidget(widget)
    return box


class AdjudicationWindow(QWidget):
    """See the module docstring. ``predict(image_id)`` returns the active models' output (an
    ``ImagePrediction``) or None; ``history(image_id)`` the image's audit records."""

    caseShown = Signal(int)
    settled = Signal(int, object)
    conflicted = Signal(int, object)

    def __init__(
        self,
        service: Any,
        load_image: Callable[[int], Any],
        *,
        predict: Callable[[int], Any] | None = None,
        history: Callable[[int], Sequence[Any]] | None = None,
        title: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("AdjudicationWindow")
        self.setWindowTitle(f"Adjudication — {title}" if title else "Adjudication")
        self.resize(1560, 960)
        self.service = service
        self._predict = predict
        self._history = history
        self.case: AdjudicationCase | None = None  #: the case on screen
        self.shown: int | None = None  #: the image whose pixels are on the canvas
        self.last_notice: QMessageBox | None = None
        self._consensus: dict[str, list[Any]] = {}
        self._predicting: int | None = None
        self._predict_next: int | None = None
        self._sized = False
        self.loader = ImageLoader(load_image, parent=self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.calls = BackgroundCalls(self)
        self._build()
        #: The grading keys (Y / N, 0–5, Z, P, …, Enter) edit the reference grade here too; Enter settles.
        self.shortcuts = GradingShortcuts(self, self.decision.grade)

    # ================================================================= layout
    def _build(self) -> None:
        self.queue = QueuePanel()
        self.queue.imageSelected.connect(self._on_queue_selected)
        self.refresh_button = QPushButton("Refresh queue")
        self.refresh_button.clicked.connect(self.refresh_queue)
        self.history = HistoryTable()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(_box("Adjudication queue", self.queue, self.refresh_button))
        left.addWidget(_box("History of this image", self.history))
        left.setSizes([520, 380])

        self.header = QLabel("Pick an image in the queue.")
        self.header.setStyleSheet("font-weight: bold; padding: 2px 6px;")
        self.header.setMinimumWidth(1)  # a long file name is cut, never the canvas
        self.legend = OutlineLegend()
        self.legend.toggled.connect(lambda _layer, _on: self._draw_outlines())
        self.display_bar = DisplayBar()
        self.canvas = ImageCanvas()
        self.canvas.setObjectName("canvas")
        self.canvas.set_tool("pan")  # read-only: nothing here edits a grader's polygons
        self.display_bar.settingsChanged.connect(self.canvas.set_display_settings)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        for widget in (self.header, self.legend, self.display_bar):
            top_layout.addWidget(widget)
        top_layout.addWidget(self.canvas, 1)
        self.votes = VotesTable()
        self.info = CaseInfo()
        below = QScrollArea()
        below.setWidgetResizable(True)
        below.setWidget(_box("Grades", self.votes, self.info))
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(top)
        centre.addWidget(below)
        centre.setSizes([550, 410])

        self.decision = DecisionPanel()
        self.decision.settleRequested.connect(self.settle)
        self.decision.geometryChanged.connect(self._on_geometry)
        self.decision.reviseRequested.connect(self._revise)
        self.decision.setEnabled(False)
        right = QScrollArea()
        right.setWidgetResizable(True)
        right.setWidget(self.decision)
        right.setMinimumWidth(350)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for index, column in enumerate((left, centre, right)):
            self.splitter.addWidget(column)
            self.splitter.setStretchFactor(index, 1 if index == 1 else 0)
        #: the columns follow the window's width (column_widths) until the user drags a divider
        self.columns_by_user = False
        self.splitter.splitterMoved.connect(lambda _pos, _index: setattr(self, "columns_by_user", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

    # ================================================================= queue
    def refresh_queue(self) -> list[int]:
        """Reload both queue lists; returns the images to decide (a refusal is shown, the lists stay)."""
        current = self.case.image_id if self.case is not None else None
        try:
            to_decide, insufficient = self.service.queue(), self.service.insufficient()
        except PermissionDenied as exc:  # the account lost its role since the view opened
            self.last_notice = show_notice(self, "Adjudication", exc.reason, QMessageBox.Icon.Warning)
            return self.queue.image_ids()
        self.queue.set_items(to_decide, insufficient, current)
        return self.queue.image_ids()

    def open_first(self) -> int | None:
        """Open the first image to decide (None: the queue is empty)."""
        ids = self.queue.image_ids()
        if ids:
            self.open_case(ids[0])
            return ids[0]
        return None

    # ================================================================= one case
    def _on_queue_selected(self, image_id: int) -> None:
        if self.case is None or image_id != self.case.image_id:  # never reset a decision being made
            self.open_case(image_id)

    def open_case(self, image_id: int, *, message: tuple[str, str] = ("", "info")) -> None:
        """Show the image's case (grades, votes, outlines) and start decoding its pixels."""
        try:
            case = self.service.case(image_id)
            self._consensus = {rule: self.service.consensus_shapes(image_id, rule) for rule in RULE_LABELS}
        except (AdjudicationError, PermissionDenied) as exc:
            self.last_notice = show_notice(self, "Adjudication", exc.reason, QMessageBox.Icon.Warning)
            return
        self.case = case
        self.queue.select(image_id, emit=False)
        eye = case.eye.value if case.eye is not None else "eye ?"
        date = case.exam_date.isoformat() if case.exam_date else "date ?"
        self.header.setText(f"{case.patient} · {eye} · {date} · {case.original_name} · {case.width}×{case.height}")
        self.legend.set_graders([(g.name, len(g.shapes)) for g in case.graders])
        self.votes.set_case(case)
        self.info.set_case(case)
        self._show_decision(case)
        self.decision.show_message(*message)
        self.history.set_entries(self._history_entries(image_id, case))
        self.decision.setEnabled(True)
        self.shown = None
        self.loader.request(image_id)
        self._request_prediction(image_id)

    def _show_decision(self, case: AdjudicationCase, *, editable: bool | None = None) -> None:
        ref = case.reference
        human = ref is not None and ref.method not in VOTE_METHODS
        editable = (not human) if editable is None else editable
        if ref is None:
            current = "No reference yet: the votes did not settle this image."
        else:
            when = ref.decided_at.astimezone().strftime("%Y-%m-%d %H:%M")
            current = f"Stored: {describe(ref.values)} — {ref.method}, by {ref.decided_by or 'the votes'}, {when}"
        hint = (
            "Pre-filled from the votes (a tie takes the more severe value). Change what you disagree with, then settle."
            if ref is None
            else "Pre-filled with the stored reference."
            if editable
            else ""
        )
        self.decision.set_decision(suggested_reference(case), editable=editable, current=current, hint=hint)
        options: list[tuple[str, Geometry]] = [(label, ("consensus", rule)) for rule, label in RULE_LABELS.items()]
        options += [
            (f"{g.name}'s outline ({len(g.shapes)} polygon(s))", ("grader", g.name)) for g in case.graders if g.shapes
        ]
        self.decision.set_geometry_options(options, self._default_geometry(case))
        self._on_geometry(redraw=False)

    def _default_geometry(self, case: AdjudicationCase) -> Geometry:
        geometry = ((case.reference.detail or {}).get("geometry") or {}) if case.reference is not None else {}
        if geometry.get("source") == "grader" and geometry.get("grader"):
            return ("grader", str(geometry["grader"]))
        if geometry.get("rule"):
            return ("consensus", str(geometry["rule"]))
        if not self._consensus.get("majority") and self._consensus.get("union"):
            return ("consensus", "union")  # the majority drew nothing: offer what was drawn
        return ("consensus", "majority")

    def _revise(self) -> None:
        if self.case is not None:
            self._show_decision(self.case, editable=True)
            self._draw_outlines()

    def _history_entries(self, image_id: int, case: AdjudicationCase) -> list[Any]:
        if self._history is not None:
            return entries_from_audit(self._history(image_id))
        return entries_from_case(case)

    # ================================================================= outlines
    def chosen_shapes(self) -> list[Any]:
        """The polygons of the reference outline chosen now."""
        choice = self.decision.chosen_outline()
        if choice is None or self.case is None:
            return []
        kind, name = choice
        if kind == "grader":
            return [s for g in self.case.graders if g.name == name for s in g.shapes]
        return list(self._consensus.get(name, []))

    def _on_geometry(self, redraw: bool = True) -> None:
        shapes = self.chosen_shapes()
        self.decision.set_polygon_stages([s.stage for s in shapes])
        choice = self.decision.chosen_outline()
        note = ""
        if choice is not None and not shapes:
            note = "This outline is empty: the reference will have no line outline."
        elif choice == ("consensus", "union") and not self._consensus.get("majority"):
            note = "No area was outlined by a majority of the graders; the union is pre-selected."
        self.decision.set_geometry_note(note)
        if redraw:
            self._draw_outlines()

    def _draw_outlines(self) -> None:
        if self.case is None or self.shown != self.case.image_id:
            return
        for grader in self.case.graders:
            shown = grader.shapes if self.legend.visible(grader.name) else ()
            self.canvas.set_reference_shapes(f"grader:{grader.name}", shown, self.legend.color(grader.name))
        reference = self.chosen_shapes() if self.legend.visible(REFERENCE_LAYER) else []
        self.canvas.set_reference_shapes(REFERENCE_LAYER, reference, REFERENCE_COLOR)

    def outline_layers(self) -> list[str]:
        """The outline layers drawn on the canvas now ("grader:<name>", "reference outline")."""
        return self.canvas.backdrop.reference_names()

    # ================================================================= pixels and model
    def _on_loaded(self, image_id: int, data: Any) -> None:
        if self.case is None or image_id != self.case.image_id:
            return
        self.canvas.set_image(data.rgb, (), data.fov)
        self.shown = image_id
        self._draw_outlines()
        self.caseShown.emit(image_id)

    def _on_load_failed(self, image_id: int, message: str) -> None:
        if self.case is not None and image_id == self.case.image_id:
            self.canvas.clear()
            self.header.setText(f"{self.header.text()} — {message}")
            self.caseShown.emit(image_id)

    def _request_prediction(self, image_id: int) -> None:
        if self._predict is None:
            return
        if self._predicting is not None:
            self._predict_next = image_id
            return
        self._predicting = image_id
        self.info.set_model("Looking for an active model …")
        predict = self._predict
        self.calls.start(
            lambda: predict(image_id),
            lambda result: self._on_prediction(image_id, result),
            lambda exc: self._on_prediction(image_id, None, str(exc)),
        )

    def _on_prediction(self, image_id: int, result: Any, error: str = "") -> None:
        self._predicting = None
        if self.case is not None and image_id == self.case.image_id:
            self.info.set_model(f"The model could not run: {error}" if error else model_text(result))
        pending, self._predict_next = self._predict_next, None
        if pending is not None and pending != image_id:
            self._request_prediction(pending)

    # ================================================================= deciding
    def settle(self) -> None:
        """Store the decision on screen (``settled``), then open the next image to decide."""
        case = self.case
        if case is None or not self.decision.editable:
            return
        values = self.decision.values()
        choice = self.decision.chosen_outline()
        kind, name = choice if choice is not None else ("consensus", None)
        try:
            state = self.service.adjudicate(
                case.image_id,
                values,
                polygons_from=name if kind == "grader" else None,
                consensus_rule=name if kind == "consensus" else None,
                comment=values.comment,
                expected_version=case.version,
            )
        except ConflictError as exc:
            self._on_conflict(case.image_id, exc)
            return
        except (AdjudicationError, PermissionDenied) as exc:
            self.decision.show_message(exc.reason, "error")
            return
        done = f"Settled {case.original_name}: {describe(state.values)}."
        eye = case.eye.value if case.eye is not None else "eye ?"
        self.queue.add_settled(
            case.image_id,
            f"{case.patient} · {eye}\n{case.original_name}",
            describe(state.values),
            f"{state.method} by {state.decided_by}",
        )
        self.settled.emit(case.image_id, state)
        remaining = self.refresh_queue()  # in image order, without the image just settled
        following = next((i for i in remaining if i > case.image_id), remaining[0] if remaining else None)
        if following is None:
            self.open_case(case.image_id, message=(done + " The queue is empty.", "ok"))
        else:
            self.open_case(following, message=(done, "ok"))

    def _on_conflict(self, image_id: int, exc: ConflictError) -> None:
        current = exc.current
        if current is not None:
            when = current.decided_at.astimezone().strftime("%Y-%m-%d %H:%M")
            state = (
                f"Current reference: {describe(current.values)} — {current.method}, "
                f"by {current.decided_by or 'the votes'}, {when}."
            )
        else:
            state = "The image has no reference now."
        text = f"{exc.reason}\n\n{state}"
        self.last_notice = show_notice(self, "Decided meanwhile", text, QMessageBox.Icon.Warning)
        self.refresh_queue()
        self.open_case(image_id, message=(text, "warning"))
        self.conflicted.emit(image_id, current)

    # ================================================================= window life
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            self._fit_screen()
            self._fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._sized and not self.columns_by_user:
            QTimer.singleShot(0, self, self._fit_columns)  # once the layout has given the splitter its new width

    def _fit_columns(self) -> None:
        if not self.columns_by_user:
            self.splitter.setSizes(column_widths(self.splitter.width()))

    def _fit_screen(self) -> None:
        """Never open larger than the screen (1366x768 laptops): the window fits, not the user."""
        screen = self.screen()
        if screen is None:
            return
        available = screen.availableGeometry()
        if available.width() < self.minimumSizeHint().width():
            return  # a screen the view cannot fit anyway (an 800 px test screen): leave it to the window manager
        if self.width() > available.width() or self.height() > available.height():
            self.resize(min(self.width(), available.width()), min(self.height(), available.height()))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the decoding thread and wait for a model still running."""
        self.loader.shutdown()
        self.calls.shutdown()

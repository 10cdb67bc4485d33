"""The eye-level adjudication view: the exams the eye-level votes did not settle, one at a time.

Opened by *Reference → Adjudication queue…* when the study votes at eye level (``votes.level`` =
"eye"; at image level :class:`~.window.AdjudicationWindow` opens). Left: the queue of exams
(:mod:`.exam_queue`). Centre: the exam — its images as a strip, the chosen one on the canvas,
every grader's confirmed eye-level grade with its treatment badge and the vote's outcome
(:mod:`.exam_case`). Right: the eye-level reference, pre-filled from the majority, and *Settle*
(:mod:`.exam_decision`).

Every call goes through :class:`~rop_desktop.services.exam_reference.ExamReferenceService`,
which refuses graders. A decision carries the version of the reference the adjudicator saw: when
someone settled the exam meanwhile, nothing is overwritten — the window says so and shows the
exam again as it is now. Signals: ``caseShown(exam_id, eye)`` once a case's first image is on
screen, ``settled(exam_id, eye, ExamReferenceState)``, ``conflicted(exam_id, eye, state | None)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget

from rop_desktop.domain.labels import Eye
from rop_desktop.domain.votes import METHODS
from rop_desktop.services.exam_reference import ExamAdjudicationError, ExamReferenceConflict
from rop_desktop.services.policy import AccessDenied

from .exam_case import ExamCaseView
from .exam_decision import ExamDecisionPanel, suggest_eye_reference
from .exam_queue import ExamQueuePanel, ExamRef, exam_title
from .notice import show_notice
from .suggestion import describe
from .window import column_widths

if TYPE_CHECKING:
    from rop_desktop.services.exam_reference import ExamCase, ExamReferenceState

#: How the votes settle a reference; any other method is a person's decision, kept until revised.
VOTE_METHODS = frozenset(METHODS)


def _column(title: str, *widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    caption = QLabel(title)
    caption.setStyleSheet("font-weight: bold;")
    layout.addWidget(caption)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def reference_text(state: ExamReferenceState | None) -> str:
    """The stored eye-level reference in one line, with who decided and when."""
    if state is None:
        return "No eye-level reference yet: the votes did not settle this exam."
    when = state.decided_at.astimezone().strftime("%Y-%m-%d %H:%M")
    klass = state.classification.klass.label
    return f"Stored: {describe(state.values)} · {klass} — {state.method}, by {state.decided_by or 'the votes'}, {when}"


class ExamAdjudicationWindow(QWidget):
    """See the module docstring. ``load_image(image_id)`` decodes an image (worker thread)."""

    caseShown = Signal(int, str)
    settled = Signal(int, str, object)
    conflicted = Signal(int, str, object)

    def __init__(
        self, service: Any, load_image: Callable[[int], Any], *, title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("ExamAdjudicationWindow")
        self.setWindowTitle(f"Eye-level adjudication — {title}" if title else "Eye-level adjudication")
        self.resize(1560, 960)
        self.service = service
        self.case: ExamCase | None = None
        self.last_notice: QMessageBox | None = None
        self._sized = False
        self.queue = ExamQueuePanel()
        self.queue.examSelected.connect(self._on_queue_selected)
        self.refresh_button = QPushButton("Refresh queue")
        self.refresh_button.clicked.connect(self.refresh_queue)
        self.view = ExamCaseView(load_image)
        self.view.imageShown.connect(self._on_image_shown)
        self.decision = ExamDecisionPanel()
        self.decision.settleRequested.connect(self.settle)
        self.decision.reviseRequested.connect(self._revise)
        self.decision.setEnabled(False)
        right = QScrollArea()
        right.setWidgetResizable(True)
        right.setWidget(self.decision)
        right.setMinimumWidth(350)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for index, column in enumerate((_column("Eye-level queue", self.queue, self.refresh_button), self.view, right)):
            self.splitter.addWidget(column)
            self.splitter.setStretchFactor(index, 1 if index == 1 else 0)
        #: the columns follow the window's width (``column_widths``) until the user drags a divider
        self.columns_by_user = False
        self.splitter.splitterMoved.connect(lambda _pos, _index: setattr(self, "columns_by_user", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

    # ================================================================= queue
    def refresh_queue(self) -> list[ExamRef]:
        """Reload both lists; returns the exams to decide (a refusal is shown, the lists stay)."""
        try:
            to_decide, too_few = self.service.queue(), self.service.insufficient()
        except AccessDenied as exc:
            self.last_notice = show_notice(self, "Adjudication", exc.reason, QMessageBox.Icon.Warning)
            return self.queue.exam_keys()
        self.queue.set_items(to_decide, too_few, self._key())
        return self.queue.exam_keys()

    def open_first(self) -> ExamRef | None:
        """Open the first exam to decide (None: the queue is empty)."""
        keys = self.queue.exam_keys()
        if keys:
            self.open_case(*keys[0])
            return keys[0]
        return None

    def _key(self) -> ExamRef | None:
        return (self.case.exam_id, self.case.eye.value) if self.case is not None else None

    def _on_queue_selected(self, exam_id: int, eye: str) -> None:
        if (exam_id, eye) != self._key():  # never reset a decision being made
            self.open_case(exam_id, eye)

    # ================================================================= one case
    def open_case(self, exam_id: int, eye: str, *, message: tuple[str, str] = ("", "info")) -> None:
        """Show the exam's case and its first image; pre-fill the decision."""
        try:
            case = self.service.case(exam_id, Eye(eye))
        except (ExamAdjudicationError, AccessDenied) as exc:
            self.last_notice = show_notice(self, "Adjudication", exc.reason, QMessageBox.Icon.Warning)
            return
        self.case = case
        self.queue.select((exam_id, eye), emit=False)
        self._show_decision(case)
        self.decision.show_message(*message)
        self.decision.setEnabled(True)
        self.view.set_case(case)

    def _show_decision(self, case: ExamCase, *, editable: bool | None = None) -> None:
        human = case.reference is not None and case.reference.method not in VOTE_METHODS
        editable = (not human) if editable is None else editable
        if case.reference is None:
            hint = "Pre-filled from the majority of the eye-level grades (a tie takes the more severe answer)."
        else:
            hint = "Pre-filled with the stored reference." if editable else ""
        self.decision.set_decision(
            suggest_eye_reference(case), editable=editable, current=reference_text(case.reference), hint=hint
        )

    def _revise(self) -> None:
        if self.case is not None:
            self._show_decision(self.case, editable=True)

    def _on_image_shown(self, _image_id: int) -> None:
        if self.case is not None:
            self.caseShown.emit(self.case.exam_id, self.case.eye.value)

    # ================================================================= deciding
    def settle(self) -> None:
        """Store the decision on screen (``settled``), then open the next exam to decide."""
        case = self.case
        if case is None or not self.decision.editable:
            return
        values = self.decision.values()
        try:
            state = self.service.adjudicate(
                case.exam_id,
                case.eye,
                values,
                comment=self.decision.comment.text().strip(),
                expected_version=case.version,
            )
        except ExamReferenceConflict as exc:
            self._on_conflict(case, exc)
            return
        except (ExamAdjudicationError, AccessDenied) as exc:
            self.decision.show_message(exc.reason, "error")
            return
        key = (case.exam_id, case.eye.value)
        title = exam_title(case)
        summary = f"{describe(state.values)} · {state.classification.klass.label}"
        self.queue.add_settled(key, exam_title(case), summary, f"{state.method} by {state.decided_by}")
        self.settled.emit(case.exam_id, case.eye.value, state)
        done = f"Settled {title}: {summary}."
        remaining = self.refresh_queue()
        following = next((k for k in remaining if k > key), remaining[0] if remaining else None)
        if following is None:
            self.open_case(*key, message=(done + " The queue is empty.", "ok"))
        else:
            self.open_case(*following, message=(done, "ok"))

    def _on_conflict(self, case: ExamCase, exc: ExamReferenceConflict) -> None:
        now = (
            reference_text(exc.current).replace("Stored:", "Current reference:")
            if exc.current
            else "The exam has no eye-level reference now."
        )
        text = f"{exc.reason}\n\n{now}\n\nYour decision was not stored."
        self.last_notice = show_notice(self, "Decided meanwhile", text, QMessageBox.Icon.Warning)
        self.refresh_queue()
        self.open_case(case.exam_id, case.eye.value, message=(text, "warning"))
        self.conflicted.emit(case.exam_id, case.eye.value, exc.current)

    # ================================================================= window life
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            screen = self.screen()
            if screen is not None:  # never open larger than the screen (1366x768 laptops)
                available = screen.availableGeometry()
                self.resize(min(self.width(), available.width()), min(self.height(), available.height()))
            self._fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._sized and not self.columns_by_user:
            QTimer.singleShot(0, self, self._fit_columns)  # once the layout has given the splitter its width

    def _fit_columns(self) -> None:
        if not self.columns_by_user:
            self.splitter.setSizes(column_widths(self.splitter.width()))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the decoding thread."""
        self.view.shutdown()

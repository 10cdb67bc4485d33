"""The window's parts wired together: the one object the composition root builds for a window.

``app.build_window`` creates the services, controllers and workers of a main window in the order
they depend on each other and hands each one what it needs, explicitly; :class:`Wiring` keeps
them, typed, and the window holds it as its one non-widget attribute (``window.wiring``). Whoever
holds a window — the account switch, the self-test, the tests — reaches a part by its name here
(``window.wiring.workspace``), never through attributes hung on the window.

The main window itself does not import this module (the controllers import the window): it types
the attribute loosely, and :meth:`Wiring.of` gives it back typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rop_desktop.services.grading import GradingService
from rop_desktop.services.policy import Actor
from rop_desktop.services.studies import Study
from rop_desktop.ui.controllers.accounts import AccountsController
from rop_desktop.ui.controllers.exams import ExamController
from rop_desktop.ui.controllers.interop_menu import InteropMenu
from rop_desktop.ui.controllers.landmarks import LandmarksController
from rop_desktop.ui.controllers.prediction import ModelController
from rop_desktop.ui.controllers.reference import ReferenceController
from rop_desktop.ui.controllers.study_menu import StudyMenu
from rop_desktop.ui.controllers.workspace import WorkspaceController
from rop_desktop.ui.grading import GradePanel, GradingShortcuts
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.workers.change_watcher import ChangeWatcher


@dataclass(frozen=True, eq=False)
class Wiring:
    """Everything a main window was built with, for the account signed in to it."""

    window: MainWindow
    #: The signed-in account and the study (on PostgreSQL: the connection as that account's role).
    actor: Actor
    study: Study
    #: The grading service every controller shares (its actor is :attr:`actor`).
    grading: GradingService
    grade_panel: GradePanel
    grading_shortcuts: GradingShortcuts
    #: Worklist, canvas and grade form: the image on screen and the edits waiting for the database.
    workspace: WorkspaceController
    study_menu: StudyMenu
    accounts: AccountsController
    reference: ReferenceController
    interop: InteropMenu
    #: The Model, Train and Models tabs (``ui/prediction/``).
    prediction: ModelController
    landmarks: LandmarksController
    exams: ExamController
    #: Other workstations' edits (a worker polling or listening to the study).
    changes: ChangeWatcher

    @staticmethod
    def of(window: MainWindow) -> Wiring:
        """The wiring of a window built by ``app.build_window``."""
        wiring = window.wiring
        if not isinstance(wiring, Wiring):
            raise TypeError("this window was not built by app.build_window: it has no wiring")
        return wiring

"""Open the window: the study (or the demo study), sign-in, the main window and its controllers."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:  # the window's modules load Qt: imported where used, for a fast start
    from rop_desktop.services.policy import Actor
    from rop_desktop.store import Study
    from rop_desktop.ui.controllers.workspace import WorkspaceController
    from rop_desktop.ui.main_window import MainWindow
    from rop_desktop.ui.sign_in import AccountMemory
    from rop_desktop.ui.wiring import Wiring
    from rop_desktop.workers.change_watcher import ChangeWatcher


def data_dir() -> Path:
    """Per-user data folder (studies such as the demo); ``$ROP_DESKTOP_HOME`` overrides it."""
    home = os.environ.get("ROP_DESKTOP_HOME")
    return Path(home) / "data" if home else Path(platformdirs.user_data_dir("rop-desktop"))


def demo_study_dir() -> Path:
    return data_dir() / "demo-study"


def build_window(study: Study, actor: Actor, *, memory: AccountMemory | None = None) -> MainWindow:
    """The main window wired to its services for the signed-in ``actor``; used by run_app,
    File → Switch grader… and the tests. Its parts are in ``window.wiring`` (see :func:`wire_window`)."""
    return wire_window(study, actor, memory=memory).window


def wire_window(study: Study, actor: Actor, *, memory: AccountMemory | None = None) -> Wiring:
    """Build the main window and its controllers for ``actor`` on ``study``, each handed what it
    needs, in the order they depend on each other; the :class:`~rop_desktop.ui.wiring.Wiring` that
    keeps them is also the window's ``wiring``. ``memory`` remembers the account signed in on this
    workstation (default: the per-user settings file)."""
    from rop_desktop.services.grading import GradingService
    from rop_desktop.ui.controllers.accounts import install_account_menus
    from rop_desktop.ui.controllers.exams import install_exam_features
    from rop_desktop.ui.controllers.interop_menu import install_interop_menu
    from rop_desktop.ui.controllers.keys import bind_window_keys
    from rop_desktop.ui.controllers.landmarks import install_landmark_features
    from rop_desktop.ui.controllers.prediction import install_model_features
    from rop_desktop.ui.controllers.reference import install_reference_features
    from rop_desktop.ui.controllers.study_menu import StudyMenu
    from rop_desktop.ui.controllers.workspace import WorkspaceController
    from rop_desktop.ui.grading import GradePanel, GradingShortcuts
    from rop_desktop.ui.main_window import MainWindow
    from rop_desktop.ui.wiring import Wiring

    remembered = memory if memory is not None else workstation_memory()
    service = GradingService(study, actor)
    window = MainWindow(study.name)
    panel = GradePanel()
    window.add_side_panel(panel, "Grade")
    shortcuts = GradingShortcuts(window, panel)
    workspace = WorkspaceController(window, service, panel)
    bind_window_keys(window, shortcuts)
    study_menu = StudyMenu(window, study, service.actor, open_study_in_new_window, workspace.reload_study_lists)

    def switch(new_actor: Actor, new_study: Study, note: str | None) -> MainWindow:
        return switch_account(window, new_study, new_actor, memory=remembered, note=note)

    accounts = install_account_menus(
        window, study, service.actor, study_menu=study_menu, switch=switch, edits=workspace.edits, memory=remembered
    )
    reference = install_reference_features(window, study, service)
    interop = install_interop_menu(window, study, service.actor, workspace.reload_study_lists)
    workspace.gradeSubmitted.connect(reference.on_grade_submitted)
    prediction = install_model_features(window, study, service, workspace)
    landmarks = install_landmark_features(
        window, study, service, workspace=workspace, panel=panel, shortcuts=shortcuts
    )  # disc, fovea, zone rings
    exams = install_exam_features(
        window, study, service, workspace=workspace, grade_panel=panel, shortcuts=shortcuts
    )  # eye-level exams, progression
    changes = watch_other_workstations(window, study, workspace)
    changes.changed.connect(reference.on_changes)  # queue and tallies
    window.worklist.set_proxy(prediction.worklist_columns)

    def next_todo_rule(checked: bool) -> None:
        versions = prediction.versions

        def uncertain_first(current: int | None) -> int | None:
            return versions.most_uncertain_after(current) or service.next_todo(current)

        workspace.next_todo_policy = uncertain_first if checked else service.next_todo

    window.uncertain_first_action.toggled.connect(next_todo_rule)
    wiring = Wiring(
        window=window,
        actor=service.actor,
        study=study,
        grading=service,
        grade_panel=panel,
        grading_shortcuts=shortcuts,
        workspace=workspace,
        study_menu=study_menu,
        accounts=accounts,
        reference=reference,
        interop=interop,
        prediction=prediction,
        landmarks=landmarks,
        exams=exams,
        changes=changes,
    )
    window.wiring = wiring
    window.canvas.setFocus()
    freeze_long_lived_objects()
    return wiring


def freeze_long_lived_objects() -> None:
    """The libraries and the window are ~500,000 long-lived Python objects: a full garbage
    collection walking them holds the interpreter for 0.1-0.4 s, whichever thread triggered it —
    a frozen window. Frozen, later collections walk only what the work itself allocates (issue 15).
    They are unfrozen at exit, so that the interpreter's shutdown still releases them."""
    global _UNFREEZE_AT_EXIT
    gc.freeze()
    if not _UNFREEZE_AT_EXIT:
        atexit.register(gc.unfreeze)
        _UNFREEZE_AT_EXIT = True


_UNFREEZE_AT_EXIT = False


#: Main windows opened by File → Switch grader… (each keeps a reference until it is destroyed).
_SWITCHED_WINDOWS: set[MainWindow] = set()
#: The study the process opened; connections made for one account (PostgreSQL roles) are others.
_OPENED: list[Study] = []


def _close_with(window: MainWindow, study: Study) -> None:
    """Close ``study`` when ``window`` goes, unless it is the study the process opened."""
    if study not in _OPENED:
        window.on_shutdown(study.close)


def show_connection_note(window: MainWindow, note: str | None) -> None:
    """A warning about the database connection (e.g. no database role of the account's own)."""
    if note:
        window.statusBar().showMessage(note, 30_000)
        window.setToolTip(note)


def switch_account(
    old: MainWindow, study: Study, actor: Actor, *, memory: AccountMemory | None = None, note: str | None = None
) -> MainWindow:
    """Sign ``old``'s account out and ``actor`` in: a new window for ``actor`` on ``study`` (the
    same study; on PostgreSQL connected as ``actor``'s own database role), where the old one was,
    started on its first image; the old window closes (its workers stop, its settings are
    stored) and is deleted, and a database connection opened for its account only is closed with
    it. Returns the new window."""
    wiring = wire_window(study, actor, memory=memory)
    window = wiring.window
    show_connection_note(window, note)
    _close_with(window, study)
    window.setGeometry(old.geometry())
    _SWITCHED_WINDOWS.add(window)
    window.destroyed.connect(lambda _obj=None, w=window: _SWITCHED_WINDOWS.discard(w))
    window.show()
    wiring.workspace.start()
    old.close()
    old.deleteLater()
    return window


def workstation_memory() -> AccountMemory:
    """The account last signed in per study on this workstation, in the per-user settings folder."""
    from PySide6.QtCore import QSettings

    from rop_desktop.store.recent import config_dir
    from rop_desktop.ui.sign_in import AccountMemory

    return AccountMemory(QSettings(str(config_dir() / "workstation.ini"), QSettings.Format.IniFormat))


def watch_other_workstations(window: MainWindow, study: Study, workspace: WorkspaceController) -> ChangeWatcher:
    """Follow other workstations' edits (LISTEN/NOTIFY on PostgreSQL, a cheap poll on SQLite);
    ``workspace`` reads again the worklist rows they touched."""
    from rop_desktop.services.changes import ChangeFeed
    from rop_desktop.workers.change_watcher import ChangeWatcher

    watcher = ChangeWatcher(ChangeFeed(study), parent=window)
    watcher.changed.connect(workspace.apply_changes)  # the rows they touched, not the whole list
    watcher.failed.connect(lambda text: window.statusBar().showMessage(text, 10_000))
    watcher.restored.connect(lambda: window.statusBar().showMessage("Connection to the study restored.", 5000))
    window.on_shutdown(watcher.stop)
    watcher.start()
    return watcher


def open_study_in_new_window(folder: Path, db_url: str | None = None) -> None:
    """Start another app process on ``folder`` (each window owns one study)."""
    from PySide6.QtCore import QProcess

    args = ["--study", str(folder)] + (["--db-url", db_url] if db_url else [])
    if not getattr(sys, "frozen", False):
        args = ["-m", "rop_desktop", *args]
    QProcess.startDetached(sys.executable, args)


def run_app(
    study: Path | None = None,
    demo: bool = False,
    grader: str | None = None,
    screenshot: Path | None = None,
    db_url: str | None = None,
) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from rop_desktop.services.demo_study import DEMO_GRADER, ensure_demo_study
    from rop_desktop.store import StoreError, Study, add_recent, recent_studies
    from rop_desktop.ui.sign_in import sign_in_connected
    from rop_desktop.ui.style import apply_style

    running = QApplication.instance()
    app = running if isinstance(running, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("ROP Desktop")
    app.setOrganizationName("ROP Desktop")
    apply_style(app)
    if demo:
        folder = demo_study_dir()
        if not (folder / "study.sqlite").exists():
            print(f"Creating the demo study in {folder} …", file=sys.stderr)
        folder = ensure_demo_study(folder)
    elif study is not None:
        folder = study
    elif recent := recent_studies():
        folder = recent[0]
    else:
        from PySide6.QtWidgets import QFileDialog

        chosen = QFileDialog.getExistingDirectory(None, "Open or create a study folder")
        if not chosen:
            return 0
        folder = Path(chosen)
    try:
        opened = Study.open_or_create(folder, url=db_url)
    except StoreError as exc:
        QMessageBox.critical(None, "ROP Desktop", str(exc))
        print(f"rop-desktop: {exc}", file=sys.stderr)
        return 2
    add_recent(opened.root)
    if grader is None and demo and screenshot is not None:
        grader = DEMO_GRADER
    memory = workstation_memory()
    _OPENED.append(opened)
    signed = sign_in_connected(opened, grader, memory=memory, fallback=DEMO_GRADER if demo else None)
    if signed is None:
        print("rop-desktop: nobody signed in.", file=sys.stderr)
        opened.close()
        return 0
    wiring = wire_window(signed.study, signed.actor, memory=memory)
    window = wiring.window
    show_connection_note(window, signed.note)
    _close_with(window, signed.study)
    window.show()
    wiring.workspace.start()
    if screenshot is not None:

        def grab() -> None:
            window.grab().save(str(screenshot))
            window.close()

        QTimer.singleShot(1500, grab)
    code = app.exec()
    opened.close()
    return code

"""One grader on two workstations: the later edit is refused with the current state, never silently
written over the other."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from rop_desktop.app import build_window
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services.grading import GradingService
from rop_desktop.store import Study


def test_a_grade_changed_elsewhere_is_shown_not_overwritten(qtbot, demo_study_dir: Path, account) -> None:
    here = Study.open(demo_study_dir)
    grader = account(here, "Dr. Two Desks")
    window = build_window(here, grader)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=15_000) as shown:
        window.wiring.workspace.start()
    image = shown.args[0]
    with Study.open(demo_study_dir) as there_study:  # the same grader at another workstation
        GradingService(there_study, grader).save_draft(
            image, GradeValues(rop=RopPresence.YES, stage=Stage.S3, quality=Quality.GRADABLE))
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_1)  # this window still shows "not graded"
    assert "changed on another workstation" in window.statusBar().currentMessage()
    assert window.wiring.grade_panel.values().stage is Stage.S3  # the current state is shown
    stored = GradingService(here, grader).my_grade(image)
    assert stored.values.stage is Stage.S3  # nothing was overwritten
    qtbot.keyClick(window.canvas, Qt.Key.Key_2)  # now editing the version on screen works
    assert GradingService(here, grader).my_grade(image).values.stage is Stage.S2
    window.close()
    here.close()

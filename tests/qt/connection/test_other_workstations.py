"""Another workstation's submission reaches an open window without a restart."""

from __future__ import annotations

from pathlib import Path

from rop_desktop.app import build_window
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services.grading import GradingService
from rop_desktop.store import Study


def test_the_window_follows_a_submission_made_elsewhere(qtbot, demo_study_dir: Path, account) -> None:
    mine = Study.open(demo_study_dir)
    window = build_window(mine, account(mine, "Here"))
    qtbot.addWidget(window)
    window.show()
    seen: list[str] = []
    window.wiring.changes.changed.connect(lambda changes: seen.extend(c.entity for c in changes))
    with Study.open(demo_study_dir) as elsewhere:  # a second connection: another workstation
        other = GradingService(elsewhere, account(elsewhere, "There"))
        image = other.next_todo()
        other.submit(image, GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE))
    window.wiring.changes.poll_now()
    qtbot.waitUntil(lambda: "grade" in seen, timeout=15_000)  # the demo's own grades carry no audit rows
    window.close()
    mine.close()

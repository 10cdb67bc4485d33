"""Nothing lost on a crash: the real app, killed with SIGKILL in the middle of grading an image,
leaves its polygon and its draft grade in a sound database that opens normally afterwards."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shapely.geometry import Polygon

from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services.accounts import sign_in
from rop_desktop.services.demo_study import DEMO_GRADER
from rop_desktop.services.grading import GradingService
from rop_desktop.store import Study

GRADER = DEMO_GRADER  # the demo study's grader: no password, nothing graded yet
OUTLINE = [(200.0, 150.0), (320.0, 150.0), (260.0, 250.0)]
READY_TIMEOUT_S = 60.0

# The app as a user runs it (offscreen): sign in, build the window, open the first image, draw a
# polygon with real mouse clicks, grade with real keys (Y, 2: a draft, not submitted), say READY, spin.
APP = r"""
import ast
import sys
from PySide6.QtCore import QEventLoop, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from rop_desktop.app import build_window
from rop_desktop.services.accounts import sign_in
from rop_desktop.store import Study

folder, grader_name, outline = sys.argv[1], sys.argv[2], ast.literal_eval(sys.argv[3])
app = QApplication(sys.argv[:1])
study = Study.open(folder)
window = build_window(study, sign_in(study, grader_name, None))
window.resize(1400, 900)
window.show()
window.activateWindow()
if not QTest.qWaitForWindowActive(window):
    sys.exit("the window never became active")
loop = QEventLoop()
window.wiring.workspace.imageShown.connect(lambda _image: loop.quit())
window.wiring.workspace.start()
loop.exec()
canvas = window.canvas
canvas.setFocus()
QTest.keyClick(canvas, Qt.Key.Key_G)
assert canvas.tool() == "polygon", canvas.tool()
for x, y in [*outline, outline[0]]:
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(QPointF(x, y)))
assert len(canvas.shapes()) == 1, canvas.shapes()
QTest.keyClick(canvas, Qt.Key.Key_Y)
QTest.keyClick(canvas, Qt.Key.Key_2)
print("READY", window.wiring.workspace.shown, flush=True)
app.exec()
"""


def wait_for_ready(proc: subprocess.Popen[str]) -> str:
    """The READY line of the app (fails with its stderr if it exits or takes too long)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        readable, _, _ = select.select([proc.stdout], [], [], 0.5)
        if readable:
            line = proc.stdout.readline()
            if line.startswith("READY"):
                return line
            if line == "" and proc.poll() is not None:
                break
    proc.kill()
    proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    pytest.fail(f"the app never said READY (exit {proc.returncode}):\n{stderr[-3000:]}")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_mid_grading_keeps_the_polygon_and_the_draft(demo_study_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ROP_DESKTOP_HOME": str(tmp_path / "home"),
           "ROP_DESKTOP_NO_RECENT": "1"}
    proc = subprocess.Popen([sys.executable, "-c", APP, str(demo_study_dir), GRADER, repr(OUTLINE)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        image = int(wait_for_ready(proc).split()[1])
        assert proc.poll() is None, "the app should still be running"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    connection = sqlite3.connect(demo_study_dir / "study.sqlite")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()

    with Study.open(demo_study_dir) as study:
        service = GradingService(study, sign_in(study, GRADER, None))
        (shape,) = service.my_shapes(image)
        assert Polygon(shape.points).is_valid
        assert all(abs(x - ex) <= 1.2 and abs(y - ey) <= 1.2 for (x, y), (ex, ey) in zip(shape.points, OUTLINE, strict=False))
        grade = service.my_grade(image)
        assert grade.exists and not grade.submitted
        assert (grade.values.rop, grade.values.stage, grade.values.quality) == (
            RopPresence.YES, Stage.S2, Quality.GRADABLE)
        rows = {row.image_id: row.status for row in service.worklist()}
        assert rows[image] == "draft" and len(rows) > 10
        assert service.next_todo() == image  # grading resumes where it stopped

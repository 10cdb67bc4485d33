"""Start-up: the window shows its first image before torch is imported (issue 17).

torch and the training engine take 2-8 s and ~1 GB to import; the window needs them only when a
model runs (a prediction, a training run, a report). Each role's window is built in a fresh
interpreter — in this test process torch is already loaded — and must show its first image
with ``torch`` absent from ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN, DEMO_GRADER, DEMO_PASSWORDS

#: Builds the real window (app.build_window), shows it offscreen and waits for the first image.
SCRIPT = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from rop_desktop.app import build_window
from rop_desktop.services import accounts
from rop_desktop.store import Study
study = Study.open(sys.argv[1])
window = build_window(study, accounts.sign_in(study, sys.argv[2], sys.argv[3] or None))
built = "torch" in sys.modules
window.resize(1366, 768)
window.show()
shown = []
window.wiring.workspace.imageShown.connect(lambda image_id: (shown.append(image_id), app.quit()))
QTimer.singleShot(30_000, app.quit)
window.wiring.workspace.start()
app.exec()
print(json.dumps({"built": built, "shown": shown[:1], "torch": "torch" in sys.modules,
                  "training": sorted(m for m in sys.modules if m.split(".")[0] in ("torchvision", "torchmetrics"))}))
window.close()
study.close()
"""


@pytest.mark.parametrize("name", [DEMO_GRADER, DEMO_ADJUDICATOR, DEMO_ADMIN])
def test_the_window_shows_its_first_image_without_importing_torch(demo_study_dir: Path, name: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(demo_study_dir), name, DEMO_PASSWORDS.get(name) or ""],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["shown"], "the first image was not shown within 30 s"
    assert state == {"built": False, "shown": state["shown"], "torch": False, "training": []}

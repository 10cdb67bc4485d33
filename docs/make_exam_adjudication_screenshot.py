"""README screenshot of eye-level adjudication (docs/screenshot-exam-adjudication.png).

    ROP_DESKTOP_HOME=/tmp/rop-shots QT_QPA_PLATFORM=offscreen \
        .venv/bin/python docs/make_exam_adjudication_screenshot.py

A private copy of the demo study switched to eye-level voting by its admin, signed in as the demo
adjudicator: *Reference → Adjudication queue…* at 1366x768 on the first exam to decide, with the
reference pre-filled from the graders' eye-level grades.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from docs.make_reference_screenshots import settle, wait_for  # noqa: E402
from rop_desktop.app import demo_study_dir  # noqa: E402
from rop_desktop.services.accounts import sign_in  # noqa: E402
from rop_desktop.services.demo_study import (  # noqa: E402
    DEMO_ADJUDICATOR,
    DEMO_ADMIN,
    DEMO_PASSWORDS,
    ensure_demo_study,
)
from rop_desktop.services.exams import set_vote_level  # noqa: E402
from rop_desktop.services.grading import GradingService  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.controllers.reference import install_reference_features  # noqa: E402
from rop_desktop.ui.main_window import MainWindow  # noqa: E402
from rop_desktop.ui.style import apply_style  # noqa: E402


def main() -> int:
    app = QApplication(sys.argv[:1])
    apply_style(app)
    copy = Path(tempfile.mkdtemp()) / "demo"
    shutil.copytree(ensure_demo_study(demo_study_dir()), copy)
    study = Study.open(copy)
    set_vote_level(study, sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN]), "eye")
    adjudicator = sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    window = MainWindow(study.name)
    controller = install_reference_features(window, study, GradingService(study, adjudicator))
    window.show()
    view = controller.open_adjudication()
    view.resize(1366, 768)
    wait_for(app, lambda: view.view.shown is not None)
    settle(app)
    view.grab().save(str(REPO / "docs" / "screenshot-exam-adjudication.png"))
    window.close()
    study.close()
    shutil.rmtree(copy.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

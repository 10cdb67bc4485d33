"""README screenshots of the Reference menu.

    ROP_DESKTOP_HOME=/tmp/rop-shots xvfb-run -a -s "-screen 0 1700x1100x24" \
        .venv/bin/python docs/make_reference_screenshots.py

A private copy of the demo study, votes recomputed, signed in as the demo adjudicator: the
adjudication view on the first 2–2 ROP split (docs/screenshot-adjudication.png) and the
agreement dashboard (docs/screenshot-agreement.png).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import demo_study_dir  # noqa: E402
from rop_desktop.services.accounts import sign_in  # noqa: E402
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_PASSWORDS, ensure_demo_study  # noqa: E402
from rop_desktop.services.grading import GradingService  # noqa: E402
from rop_desktop.services.reference import ReferenceService, recompute_references  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.controllers.reference import install_reference_features  # noqa: E402
from rop_desktop.ui.main_window import MainWindow  # noqa: E402
from rop_desktop.ui.style import apply_style  # noqa: E402


def wait_for(app: QApplication, predicate, timeout_s: float = 60.0) -> None:
    import time

    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get ready in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, frames: int = 30) -> None:
    import time

    for _ in range(frames):
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    app = QApplication(sys.argv[:1])
    apply_style(app)
    copy = Path(tempfile.mkdtemp()) / "demo"
    shutil.copytree(ensure_demo_study(demo_study_dir()), copy)
    study = Study.open(copy)
    adjudicator = sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    recompute_references(study, adjudicator)
    split = next(i.image_id for i in ReferenceService(study, adjudicator).queue()
                 if i.tally["rop"] == {"no": 2, "yes": 2})
    window = MainWindow(study.name)
    controller = install_reference_features(window, study, GradingService(study, adjudicator))
    window.show()

    view = controller.open_adjudication()
    view.resize(1600, 1000)
    view.open_case(split)
    wait_for(app, lambda: view.shown == split and not view.calls.busy())
    settle(app)
    view.grab().save(str(REPO / "docs" / "screenshot-adjudication.png"))

    dashboard = controller.open_dashboard()
    dashboard.resize(1500, 1000)
    wait_for(app, lambda: dashboard.data is not None)
    settle(app)
    dashboard.grab().save(str(REPO / "docs" / "screenshot-agreement.png"))
    window.close()
    study.close()
    shutil.rmtree(copy.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Layout check: the main window, the adjudication view and the agreement dashboard at laptop and
desktop screen sizes, as PNGs to look at (issue 17: nothing cut, nothing only readable maximised).

    ROP_DESKTOP_HOME=/tmp/rop-shots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python docs/make_layout_screenshots.py /tmp/layout [1366x768 1920x1080 …]

A fresh small demo study (six patients), votes recomputed, signed in as the demo adjudicator
(every tab and menu); writes ``main-WxH.png``, ``adjudication-WxH.png`` and ``dashboard-WxH.png``
into the folder. Under ``xvfb-run -s "-screen 0 1366x768x24"`` the screen itself is that size.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "docs"))

from make_reference_screenshots import settle, wait_for  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import build_window  # noqa: E402
from rop_desktop.services.accounts import sign_in  # noqa: E402
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_PASSWORDS, build_demo_study  # noqa: E402
from rop_desktop.services.reference import ReferenceService, recompute_references  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.style import apply_style  # noqa: E402

SIZES = ((1366, 768), (1920, 1080))


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in arg.split("x")) for arg in sys.argv[2:]] or list(SIZES)
    app = QApplication(sys.argv[:1])
    apply_style(app)
    work = Path(tempfile.mkdtemp(prefix="rop-layout-"))
    study = Study.open(build_demo_study(work / "demo", n_patients=6))
    adjudicator = sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    recompute_references(study, adjudicator)
    case = ReferenceService(study, adjudicator).queue()[0].image_id
    window = build_window(study, adjudicator)
    try:
        for width, height in sizes:
            window.resize(width, height)
            window.show()
            if window.wiring.workspace.shown is None:
                window.wiring.workspace.start()
            wait_for(app, lambda: window.wiring.workspace.shown is not None)
            settle(app)
            window.grab().save(str(out / f"main-{width}x{height}.png"))
            view = window.wiring.reference.open_adjudication()
            view.resize(width, height)
            view.open_case(case)
            wait_for(app, lambda: view.shown == case and not view.calls.busy())  # noqa: B023 - waited on inside this iteration
            settle(app)
            view.grab().save(str(out / f"adjudication-{width}x{height}.png"))
            dashboard = window.wiring.reference.open_dashboard()
            dashboard.resize(width, height)
            wait_for(app, lambda: dashboard.data is not None)  # noqa: B023 - waited on inside this iteration
            settle(app)
            dashboard.grab().save(str(out / f"dashboard-{width}x{height}.png"))
            print(f"{width}x{height}: written to {out}")
    finally:
        window.close()
        study.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

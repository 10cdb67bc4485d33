"""Screenshots for the README, taken from the real app on the demo study.

    ROP_DESKTOP_HOME=/tmp/rop-shots xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python docs/make_screenshots.py

Builds (once) the demo study, opens it as a fresh grader (added by the demo admin), picks a stage-3 image, draws the
ridge as a polygon the way a grader would (through the canvas's undo stack, stored at once),
sets a partial grade, and grabs the window into docs/screenshot-workspace.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import build_window, demo_study_dir  # noqa: E402
from rop_desktop.domain.grades import GradeValues  # noqa: E402
from rop_desktop.domain.labels import LesionType, Quality, RopPresence, Stage, Zone  # noqa: E402
from rop_desktop.domain.shapes import Shape, new_shape_id  # noqa: E402
from rop_desktop.services import accounts  # noqa: E402
from rop_desktop.services.demo_study import DEMO_ADMIN, DEMO_PASSWORDS, TRUTH_FILE, ensure_demo_study  # noqa: E402
from rop_desktop.services.identity import original_file_names  # noqa: E402
from rop_desktop.services.policy import Actor  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.style import apply_style  # noqa: E402


def wait_for(app: QApplication, predicate, timeout_s: float = 20.0) -> None:
    import time

    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the window did not show the image in time")
        app.processEvents()
        time.sleep(0.01)


READER = "Dr. Reader (demo)"


def reader(study: Study) -> Actor:
    """The screenshot's grader, signed in; the demo admin adds the account on the first run."""
    if READER not in {c.name for c in accounts.sign_in_choices(study)}:
        admin = accounts.sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])
        accounts.create_account(study, admin, READER)
    return accounts.sign_in(study, READER, None)


def main() -> int:
    app = QApplication(sys.argv[:1])
    apply_style(app)
    folder = ensure_demo_study(demo_study_dir())
    truth = json.loads((folder / TRUTH_FILE).read_text())
    name, entry = next((n, e) for n, e in truth["images"].items()
                       if e["truth"]["stage"] == "3" and e["truth"]["lesions"] and e["eye"] == "OD")
    study = Study.open(folder)
    grader = reader(study)
    with study.session() as session:  # the demo's file names live in the identity table
        image_id = next(i for i, names in original_file_names(session).items() if name in names)
    window = build_window(study, grader)
    window.resize(1500, 920)
    window.show()
    shown: list[int] = []
    window.wiring.workspace.imageShown.connect(shown.append)
    window.wiring.workspace.open_image(image_id)
    wait_for(app, lambda: image_id in shown)
    lesion = entry["truth"]["lesions"][0]
    shape = Shape(id=new_shape_id(), points=[tuple(p) for p in lesion["points"]], lesion_type=LesionType.RIDGE,
                  stage=Stage.S3)
    window.canvas.add_shape(shape)
    window.wiring.grade_panel.set_values(GradeValues(quality=Quality.GRADABLE, rop=RopPresence.YES, stage=Stage.S3,
                                              zone=Zone.II), submitted=False)
    window.canvas.select(shape.id)
    for _ in range(20):
        app.processEvents()
    out = REPO / "docs" / "screenshot-workspace.png"
    window.grab().save(str(out))
    print(out)
    window.wiring.grading_shortcuts.toggle_help()  # the F1 overlay
    for _ in range(20):
        app.processEvents()
    help_out = REPO / "docs" / "screenshot-shortcuts.png"
    window.grab().save(str(help_out))
    print(help_out)
    window.wiring.grading_shortcuts.toggle_help()
    window.close()
    study.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

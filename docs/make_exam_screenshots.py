"""Screenshots of the eye-level features for the README, from the real app on the demo study.

    ROP_DESKTOP_HOME=/tmp/rop-shots QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_exam_screenshots.py

(or under ``xvfb-run -a -s "-screen 0 1600x1000x24"``). At 1366x768, the size of a ward laptop:

* ``docs/screenshot-zones.png`` — a grader places the optic disc and the fovea with the Landmarks
  tool and outlines the ridge; the zone rings are drawn and the grade panel suggests the zone;
* ``docs/screenshot-exam.png`` — the *Eye exam* tab: the strip of one eye's images at one visit and
  the eye-level grade pre-filled from the grader's image grades, with its treatment badge;
* ``docs/screenshot-progression.png`` — the demo adjudicator's progression view of an infant seen
  three times: the visits, the worsening flagged, two visits side by side aligned by the landmarks.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import build_window, demo_study_dir  # noqa: E402
from rop_desktop.domain.grades import GradeValues  # noqa: E402
from rop_desktop.domain.labels import LesionType, Stage  # noqa: E402
from rop_desktop.domain.shapes import Shape, new_shape_id  # noqa: E402
from rop_desktop.services import accounts  # noqa: E402
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN, DEMO_PASSWORDS, TRUTH_FILE, ensure_demo_study  # noqa: E402
from rop_desktop.services.exams import ExamService  # noqa: E402
from rop_desktop.services.grading import GradingService  # noqa: E402
from rop_desktop.services.identity import original_file_names  # noqa: E402
from rop_desktop.services.policy import Actor  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.grading import SetField  # noqa: E402
from rop_desktop.ui.style import apply_style  # noqa: E402

SIZE = (1366, 768)
READER = "Dr. Reader (demo)"


def settle(app: QApplication, predicate=lambda: True, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(30):
        app.processEvents()


def reader(study: Study) -> Actor:
    if READER not in {c.name for c in accounts.sign_in_choices(study)}:
        admin = accounts.sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])
        accounts.create_account(study, admin, READER)
    return accounts.sign_in(study, READER, None)


def show(app: QApplication, window, image_id: int) -> None:
    if window.wiring.workspace.current == image_id:  # on screen already: read it again through another image
        show(app, window, window.wiring.workspace.service.next_todo(image_id) or image_id + 1)
    shown: list[int] = []
    window.wiring.workspace.imageShown.connect(shown.append)
    window.wiring.workspace.open_image(image_id)
    settle(app, lambda: image_id in shown)


def main() -> int:
    app = QApplication(sys.argv[:1])
    apply_style(app)
    folder = ensure_demo_study(demo_study_dir())
    truth = json.loads((folder / TRUTH_FILE).read_text())
    study = Study.open(folder)
    with study.session() as session:
        ids = {name: image_id for image_id, names in original_file_names(session).items() for name in names}

    # 1. zones: a stage-2/3 posterior-pole image with its fovea in view
    name, entry = next((n, e) for n, e in truth["images"].items()
                       if e["truth"]["stage"] in ("2", "3") and e["truth"]["lesions"] and e["view"] == 1
                       and e["truth"]["zone"] in ("posterior II", "I"))
    grader = reader(study)
    window = build_window(study, grader)
    window.resize(*SIZE)
    window.show()
    show(app, window, ids[name])
    canvas = window.canvas
    canvas.set_tool("landmarks")
    tool = canvas.tool_object("landmarks")
    dx, dy, dr = entry["truth"]["disc"]
    fx, fy = entry["truth"]["fovea"]
    tool.place("disc", (dx + 0.5, dy + 0.5), radius=dr)
    tool.place("fovea", (fx + 0.5, fy + 0.5))
    lesion = entry["truth"]["lesions"][0]
    canvas.set_new_shape_defaults(LesionType.RIDGE, Stage.parse(entry["truth"]["stage"]))
    canvas.add_shape(Shape(id=new_shape_id(), points=[(x + 0.5, y + 0.5) for x, y in lesion["points"]],
                           lesion_type=LesionType.RIDGE, stage=Stage.parse(entry["truth"]["stage"])))
    graded = GradeValues.from_dict(entry["truth"])
    for key in ("quality", "rop", "stage", "plus"):
        window.wiring.grade_panel.apply(SetField(key, getattr(graded, key)))
    settle(app)
    window.grab().save(str(REPO / "docs" / "screenshot-zones.png"))
    print(REPO / "docs" / "screenshot-zones.png")

    # 2. the exam strip: an eye with two views at one visit, both graded by the reader
    exams = ExamService(study, grader)
    two = next(n for n, e in truth["images"].items() if e["view"] == 2 and e["truth"]["stage"] in ("1", "2", "3"))
    state = exams.state(ids[two])
    grading = GradingService(study, grader)
    for image in state.info.images:
        image_name = next(n for n, i in ids.items() if i == image.image_id and n in truth["images"])
        values = GradeValues.from_dict(truth["images"][image_name]["grades"]["Dr. Avery"]["values"])
        grading.submit(image.image_id, values)
    show(app, window, state.info.images[0].image_id)
    window.side_tabs.setCurrentWidget(window.wiring.exams.panel)
    window.wiring.exams.refresh()
    settle(app)
    window.grab().save(str(REPO / "docs" / "screenshot-exam.png"))
    print(REPO / "docs" / "screenshot-exam.png")
    window.close()

    # 3. progression: the adjudicator, an infant seen three times
    judge = accounts.sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    window = build_window(study, judge)
    window.resize(*SIZE)
    window.show()
    attention = ExamService(study, judge).reference_needs_attention()
    target = next(a for a in attention if any("Type 1" in r for r in a.reasons))
    show(app, window, target.image_ids[0])
    view = window.wiring.exams.open_progression()
    view.resize(*SIZE)
    left, right = view.canvases["left"], view.canvases["right"]
    settle(app, lambda: left.image_size() is not None and right.image_size() is not None)
    left.set_zoom(left.zoom() * 1.6)
    settle(app)
    view.grab().save(str(REPO / "docs" / "screenshot-progression.png"))
    print(REPO / "docs" / "screenshot-progression.png")
    window.close()
    study.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

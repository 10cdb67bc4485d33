"""Build the demo study: synthetic images imported through the real import path, four demo
graders' submitted grades and polygons, and an adjudicator.

Built in a temporary folder beside the target and renamed into place at the end, so an
interrupted build never leaves a half-made demo study behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from rop_desktop.demo import generate_demo, write_demo_files
from rop_desktop.domain.coordinates import centre_to_corner
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Role, Stage
from rop_desktop.store import Study, repo

from .accounts import GRADER_PASSWORD_SETTING, create_account, create_first_admin, set_study_setting, sign_in
from .demo_exams import add_exam_work
from .identity import original_file_names
from .importer import run_import
from .policy import Actor, open_operation
from .reference import settle_images

DEMO_ADJUDICATOR = "Dr. Adjudicator"
DEMO_ADMIN = "Demo admin"
DEMO_GRADER = "Demo user"
#: The demo study's elevated accounts and their passwords (printed in the sign-in dialog and the
#: README: the demo holds synthetic images only). Graders sign in without a password.
DEMO_PASSWORDS = {DEMO_ADMIN: "demo-admin-pw", DEMO_ADJUDICATOR: "demo-adjudicator-pw"}
TRUTH_FILE = "demo_truth.json"


@open_operation("builds a new demo study in an empty folder, with its own accounts")
def build_demo_study(
    folder: str | Path, *, seed: int = 0, n_patients: int = 20, size: tuple[int, int] = (640, 480)
) -> Path:
    """Create the demo study in ``folder`` (which must not hold a study yet); returns the folder."""
    target = Path(folder).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=target.parent))
    try:
        files = write_demo_files(generate_demo(seed=seed, n_patients=n_patients, size=size), work / "source")
        with Study.create(work / "study", name="ROP Desktop demo study") as study:
            admin = create_first_admin(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])
            # synthetic images only: the demo's graders sign in without a password, on any database
            set_study_setting(study, admin, GRADER_PASSWORD_SETTING, False)
            create_account(study, admin, DEMO_ADJUDICATOR, Role.ADJUDICATOR, password=DEMO_PASSWORDS[DEMO_ADJUDICATOR])
            create_account(study, admin, DEMO_GRADER, Role.GRADER)
            summary = run_import(study, admin, [files.folder], files.manifest)
            if summary.failed:
                raise RuntimeError("demo import failed: " + "; ".join(f"{f.path}: {f.reason}" for f in summary.failed))
            truth = json.loads(files.truth.read_text(encoding="utf-8"))
            _add_grades(study, truth)
            settle_images(study)  # majority votes settle what they can; ties wait for the adjudicator
        shutil.copy2(files.truth, work / "study" / TRUTH_FILE)
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target} is not empty")
        if target.exists():
            target.rmdir()
        (work / "study").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@open_operation("the demo study, built on first use")
def ensure_demo_study(folder: str | Path, **kwargs: object) -> Path:
    """The demo study in ``folder``, built on first use."""
    folder = Path(folder).expanduser().resolve()
    if not (folder / "study.sqlite").is_file():
        build_demo_study(folder, **kwargs)  # type: ignore[arg-type]
    return folder


@open_operation("signs in as the demo study's admin with its published password (demo and tests)")
def demo_admin(study: Study) -> Actor:
    """The demo study's admin, signed in with the password the README prints."""
    return sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])


def _add_grades(study: Study, truth: dict) -> None:
    with study.session() as session:
        graders = {g["name"]: repo.get_or_create_grader(session, g["name"], Role.GRADER) for g in truth["graders"]}
        imported_as = original_file_names(session)  # the demo's file names, kept as identity
        by_name = {name: image for image in repo.list_images(session) for name in imported_as.get(image.id, ())}
        for file_name, entry in truth["images"].items():
            image = by_name[file_name]
            for grader_name, grade in entry["grades"].items():
                grader = graders[grader_name]
                repo.upsert_grade(session, image, grader, GradeValues.from_dict(grade["values"]), submitted=True)
                for polygon in grade.get("polygons", []):
                    stage = polygon.get("stage")
                    # the demo writes pixel-centre coordinates; the app stores pixel corners
                    ring = [list(centre_to_corner(p)) for p in polygon["points"]]
                    repo.add_annotation(
                        session,
                        image,
                        grader,
                        [ring],
                        LesionType.parse(polygon["type"]),
                        stage=Stage.parse(stage) if stage else None,
                        source="drawn",
                    )
        add_exam_work(session, truth, by_name, graders)  # landmarks, zone decisions, eye-level grades (issue 18)

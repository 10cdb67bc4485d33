"""A small study made through the real command line, for the command-line access tests.

``study create --admin``, ``import --as`` and ``graders add`` build it exactly as a site would;
the grading itself goes through the grading service (the command line does not grade):

* img0: Dr. A and Dr. B each submitted ROP stage 2 with one outline of their own.
* img1: Dr. A has a draft (stage 1); Dr. B drew an outline but submitted nothing.
* img2: nobody graded it.

Graders have no password (the study allows it); the admin and the adjudicator have one. On
PostgreSQL (``ROP_TEST_DB=postgresql``) every account with a password also gets its own
database role, which the fixture drops at the end (roles outlive the test's database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.cli import run
from rop_desktop.cli_auth import NEW_PASSWORD_ENV, PASSWORD_ENV
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services.accounts import GRADER_PASSWORD_SETTING, set_study_setting, sign_in
from rop_desktop.services.grading import GradingService
from rop_desktop.services.identity import original_file_names
from rop_desktop.store import Study, pg_roles

ADMIN_PW = "admin password 1"
JUDGE_PW = "judge password 1"


@pytest.fixture(autouse=True)
def _backend(study_backend: str) -> str:
    return study_backend


@dataclass
class Outcome:
    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli("graders", "list", ..., password=..., new_password=...)``: ``rop-desktop`` in-process.

    ``password`` / ``new_password`` set ``$ROP_DESKTOP_PASSWORD`` / ``$ROP_DESKTOP_NEW_PASSWORD``
    for the call (None: unset). stdin is never a terminal here, so nothing is ever prompted.
    """

    def call(*argv: object, password: str | None = None, new_password: str | None = None) -> Outcome:
        with monkeypatch.context() as env:
            for name, value in ((PASSWORD_ENV, password), (NEW_PASSWORD_ENV, new_password)):
                if value is None:
                    env.delenv(name, raising=False)
                else:
                    env.setenv(name, value)
            capsys.readouterr()
            code = run([str(a) for a in argv])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return call


def grade(rop: str, stage: str) -> GradeValues:
    return GradeValues(rop=RopPresence.parse(rop), stage=Stage.parse(stage), quality=Quality.GRADABLE)


def box(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return Shape(id=new_shape_id(), points=((x0, y0), (x1, y0), (x1, y1), (x0, y1)), lesion_type=LesionType.RIDGE,
                 stage=Stage.S2)


@dataclass
class CliStudy:
    folder: Path
    images: dict[str, int]  # the file name it was imported under → image id

    def open(self) -> Study:
        return Study.open(self.folder)


@pytest.fixture
def cli_study(tmp_path: Path, cli: Cli, _backend: str) -> Iterator[CliStudy]:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.circle(img, (32, 24), 20, (150, 60 + 50 * i, 40), -1)
        cv2.imwrite(str(src / f"img{i}.png"), img)
    folder = tmp_path / "study"
    assert cli("study", "create", folder, "--admin", "Admin", password=ADMIN_PW).code == 0
    with Study.open(folder) as study:  # PostgreSQL studies want grader passwords by default
        set_study_setting(study, sign_in(study, "Admin", ADMIN_PW), GRADER_PASSWORD_SETTING, False)
    assert cli("import", "--study", folder, "--as", "Admin", "--quiet", src, password=ADMIN_PW).code == 0
    for name in ("Dr. A", "Dr. B"):
        added = cli("graders", "add", name, "--study", folder, "--as", "Admin", password=ADMIN_PW, new_password="")
        if _backend == "postgresql":  # added, but no database role without a password
            assert added.code == 1 and "needs a password" in added.err
        else:
            assert added.code == 0
    assert cli("graders", "add", "Dr. Judge", "--role", "adjudicator", "--study", folder, "--as", "Admin",
               password=ADMIN_PW, new_password=JUDGE_PW).code == 0
    with Study.open(folder) as study:
        with study.session() as session:
            images = {names[0]: image_id for image_id, names in original_file_names(session).items()}
        a = GradingService(study, sign_in(study, "Dr. A", ""))
        a.save_shape(images["img0.png"], box(5, 5, 20, 20))
        a.submit(images["img0.png"], grade("yes", "2"))
        a.save_draft(images["img1.png"], grade("yes", "1"))
        b = GradingService(study, sign_in(study, "Dr. B", ""))
        b.save_shape(images["img0.png"], box(30, 5, 50, 20))
        b.submit(images["img0.png"], grade("yes", "2"))
        b.save_shape(images["img1.png"], box(8, 8, 30, 30))  # never submitted
    yield CliStudy(folder, images)
    drop_database_roles(folder)


def drop_database_roles(folder: Path) -> None:
    """Drop the PostgreSQL roles the commands made for the study in ``folder`` (nothing on SQLite)."""
    with Study.open(folder) as study:
        if study.backend == "postgresql":
            with study.engine.begin() as conn:
                pg_roles.drop_study_roles(conn)

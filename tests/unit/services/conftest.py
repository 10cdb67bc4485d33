"""A hand-made study for the reference, agreement, export and account tests.

Eight tiny PNG fundus-like images (64x48) imported through the real import with a manifest
(patient codes, eyes, dates, hospital diagnoses), four graders A–D, an adjudicator and an admin
made through the account service; grades and polygons go through the grading service.
The database is SQLite, or PostgreSQL with ``ROP_TEST_DB=postgresql`` (``tests/unit/conftest.py``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, Role, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services import accounts
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.grading import GradingService
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import Actor
from rop_desktop.store import Study, repo

HOSPITAL = ["stage 2", "no ROP", "ROP stage 1", "normal", "stage 3 plus", "", "stage 2", "no ROP"]


def grade(rop: str, stage: str | None = None, **more: object) -> GradeValues:
    """A gradable grade: ``grade("yes", "2")``; stage defaults to 0 for "no"."""
    if stage is None:
        stage = "0" if rop == "no" else "1"
    return GradeValues(rop=RopPresence.parse(rop), stage=Stage.parse(stage), quality=Quality.GRADABLE,
                       **more)  # type: ignore[arg-type]


UNGRADABLE = GradeValues(rop=RopPresence.NA, stage=Stage.NA, quality=Quality.UNGRADABLE)


def rect(x0: float, y0: float, x1: float, y1: float, stage: str = "2") -> Shape:
    """An axis-aligned rectangle shape (pixel-corner coordinates)."""
    return Shape(id=new_shape_id(), points=((x0, y0), (x1, y0), (x1, y1), (x0, y1)), lesion_type=LesionType.RIDGE,
                 stage=Stage.parse(stage))


@dataclass
class HandStudy:
    study: Study
    images: list[int]
    graders: dict[str, Actor]  # "A".."D" → their signed-in account
    adjudicator: Actor
    admin: Actor

    def submit(self, grader: str, image: int, values: GradeValues, shapes: Sequence[Shape] = ()) -> None:
        service = GradingService(self.study, self.graders[grader])
        for shape in shapes:
            service.save_shape(image, shape)
        service.submit(image, values)

    def votes(self, image: int, *values: GradeValues, shapes: Sequence[Sequence[Shape]] = ()) -> None:
        """Submit one grade per grader A, B, C, D (in that order), with optional shapes each."""
        for k, (name, value) in enumerate(zip("ABCD", values, strict=False)):
            self.submit(name, image, value, shapes[k] if k < len(shapes) else ())

    def name_of(self, image_id: int) -> str:
        with self.study.session() as session:
            return next(i.original_name for i in repo.list_images(session, image_ids=[image_id]))


@pytest.fixture(autouse=True)
def _backend(study_backend: str) -> str:
    """Every services test runs on the backend ``ROP_TEST_DB`` names."""
    return study_backend


PASSWORD = "correct horse battery"  # = tests/conftest.py TEST_PASSWORD


def as_actor(info: object) -> Actor:
    return Actor(info.id, info.name, info.role)  # type: ignore[attr-defined]


@pytest.fixture
def hand(tmp_path: Path, _backend: str, fast_hashes: None) -> Iterator[HandStudy]:
    src = tmp_path / "src"
    src.mkdir()
    rows = []
    for i in range(len(HOSPITAL)):
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.circle(img, (32, 24), 22, (160, 70 + 15 * i, 50 + 7 * i), -1)
        cv2.imwrite(str(src / f"img{i}.png"), img)
        rows.append({"file": f"img{i}.png", "patient": f"P{i // 2 + 1:03d}", "eye": "OD" if i % 2 == 0 else "OS",
                     "exam_date": f"2026-02-{i + 1:02d}", "hospital_diagnosis": HOSPITAL[i], "camera": "RetCam 3",
                     "gestational_age": "26.0", "birth_weight": "800"})
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    study = Study.create(tmp_path / "study", name="Hand study")
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)  # PostgreSQL's default is on
    summary = run_import(study, admin, [src], manifest)
    assert not summary.failed
    graders = {n: as_actor(create_account(study, admin, f"Dr. {n}")) for n in "ABCD"}
    adjudicator = as_actor(create_account(study, admin, "Dr. Judge", Role.ADJUDICATOR, password=PASSWORD))
    with study.session() as session:
        images = [i.id for i in repo.list_images(session)]
    yield HandStudy(study, images, graders, adjudicator, admin)
    study.close()

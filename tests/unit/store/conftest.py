"""Fixtures of the store tests: a real study folder in tmp_path, and row makers.

The database is SQLite, or PostgreSQL with ``ROP_TEST_DB=postgresql`` (``tests/unit/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from rop_desktop.domain.labels import Eye, Role
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Grader, Image


@pytest.fixture(autouse=True)
def _backend(study_backend: str) -> str:
    """Every store test runs on the backend ``ROP_TEST_DB`` names."""
    return study_backend


@pytest.fixture
def study(tmp_path: Path, _backend: str) -> Iterator[Study]:
    opened = Study.create(tmp_path / "study", name="Test study")
    yield opened
    opened.close()


def _image(session: Session, code: str = "P001", n: int = 0, eye: Eye | None = Eye.OD) -> Image:
    patient = repo.get_or_create_patient(session, code)
    exam = repo.get_or_create_exam(session, patient, camera="RetCam 3")
    sha = f"{n:064x}"
    return repo.add_image(session, exam=exam, file=f"{sha[:2]}/{sha}.png", original_name=f"img{n}.png",
                          sha256=sha, width=64, height=48, format="png", bytes=1234, eye=eye)


def _grader(session: Session, name: str = "Dr A", role: Role = Role.GRADER) -> Grader:
    return repo.get_or_create_grader(session, name, role)


@pytest.fixture
def make_image() -> Callable[..., Image]:
    """``make_image(session, code="P001", n=0, eye=Eye.OD)``: patient + exam + image row."""
    return _image


@pytest.fixture
def make_grader() -> Callable[..., Grader]:
    """``make_grader(session, name="Dr A", role=Role.GRADER)``."""
    return _grader


def insert_legacy_images(conn: Connection, n: int) -> None:
    """Images 1..n of one patient's one exam, written in plain SQL: a migration test's study is at
    an older revision than the ORM's tables, so rows go in by the columns every revision has."""
    conn.execute(text("INSERT INTO patients (id, code, created_at) VALUES (1, 'P1', CURRENT_TIMESTAMP)"))
    conn.execute(text("INSERT INTO exams (id, patient_id) VALUES (1, 1)"))
    for i in range(1, n + 1):
        conn.execute(
            text("INSERT INTO images (id, exam_id, file, original_name, sha256, width, height, format, "
                 "imported_at, bytes) VALUES (:i, 1, 'aa/x.png', :n, :s, 64, 48, 'png', CURRENT_TIMESTAMP, 1)"),
            {"i": i, "n": f"img{i}.png", "s": f"{i:064x}"},
        )

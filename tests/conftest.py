"""Shared fixtures. Qt runs offscreen; real files live in pytest's tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROP_DESKTOP_NO_RECENT", "1")  # tests never write the user's recent-studies list

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HVDROPDB = SHARED_DATA / "hvdropdb-ridge-neo"


@pytest.fixture(scope="session")
def hvdropdb() -> Path:
    """The real HVDROPDB ridge images (../shared/data); the test is skipped when absent."""
    if not (HVDROPDB / "images").is_dir():
        pytest.skip(f"real data not found at {HVDROPDB}")
    return HVDROPDB


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny models on 2 shared cores: one intra-op thread is fastest and keeps runs repeatable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def torch_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch cache (``TORCH_HOME``): the user's downloaded weights never leak into a test,
    so every model starts from random weights unless a test puts a file there."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings, recent studies and caches go to a temp folder, never the user's home."""
    home = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("ROP_DESKTOP_HOME", str(home))


@pytest.fixture(autouse=True)
def _no_dangling_workers(request: pytest.FixtureRequest):
    """Like napari: a test that leaves a worker thread running fails."""
    yield
    import sys

    runner = sys.modules.get("rop_desktop.workers.runner")
    if runner is None:
        return
    left = runner.running_workers()
    for worker in left:
        worker.shutdown(10_000)
    assert not left, f"{len(left)} worker thread(s) still running at the end of {request.node.name}"


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo study (6 patients), built once per test session through the real import."""
    from rop_desktop.services.demo_study import build_demo_study

    return build_demo_study(tmp_path_factory.mktemp("demo-template") / "demo", n_patients=6)


@pytest.fixture
def demo_study_dir(_demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the small demo study for one test."""
    import shutil

    target = tmp_path / "demo-study"
    shutil.copytree(_demo_template, target)
    return target


TEST_PASSWORD = "correct horse battery"
_HASHES: dict[str, str] = {}


@pytest.fixture
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash each test password once per session (scrypt costs ~0.2 s a call); salts repeat, tests only."""
    from rop_desktop.services import accounts

    real = accounts.hash_password
    monkeypatch.setattr(accounts, "hash_password", lambda pw: _HASHES.setdefault(pw, real(pw)))


@pytest.fixture
def account(fast_hashes: None):
    """Factory: ``account(study, name, role="grader", password=None) -> Actor``, an account made as
    test set-up (straight into the store, not through the rule under test). Elevated accounts get
    ``TEST_PASSWORD`` unless another is given; an existing name returns that account."""
    from rop_desktop.domain.labels import Role
    from rop_desktop.services import accounts
    from rop_desktop.services.policy import Actor
    from rop_desktop.store import repo

    def make(study, name: str, role: object = "grader", password: str | None = None) -> Actor:
        role = Role.parse(role)
        if password is None and role is not Role.GRADER:
            password = TEST_PASSWORD
        with study.session() as session:
            grader = repo.get_or_create_grader(session, name, role)
            grader.role = role
            if password:
                grader.password_hash = accounts.hash_password(password)
            session.flush()
            return Actor(grader.id, grader.name, grader.role)

    return make


@pytest.fixture
def make_study(tmp_path: Path, account):
    """Factory: a new study in ``tmp_path`` holding ``n`` tiny fundus-like PNGs (a coloured disc on
    black, each a different colour so no two are duplicates), imported through the real import by
    the study's admin ``"Admin"`` (password ``TEST_PASSWORD``; ``study.test_admin`` is its Actor).
    Files are named ``<prefix><i>.png``; every study made is closed at the end of the test."""
    """Factory: a new study in ``tmp_path`` holding ``n`` tiny fundus-like PNGs (a coloured disc on
    black, each a different colour so no two are duplicates), imported through the real import.
    Files are named ``<prefix><i>.png``; every study made is closed at the end of the test."""
    import cv2
    import numpy as np

    from rop_desktop.services.importer import run_import
    from rop_desktop.store import Study

    made: list = []

    def make(n: int = 3, size: tuple[int, int] = (100, 80), prefix: str = "", name: str = "study"):
        w, h = size
        src = tmp_path / f"{name}-src"
        src.mkdir()
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            cv2.circle(img, (w // 2, h // 2), int(min(w, h) * 0.42), (150, 60 + (25 * i) % 190, 60 + i // 8), -1)
            cv2.imwrite(str(src / f"{prefix}{i}.png"), img)
        study = Study.create(tmp_path / name)
        made.append(study)
        study.test_admin = account(study, "Admin", "admin")
        summary = run_import(study, study.test_admin, [src])
        assert not summary.failed and len(summary.imported) == n
        return study

    yield make
    for study in made:
        study.close()

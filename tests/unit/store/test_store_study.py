"""The study folder: layout, opening rules, content-addressed images, the recent-studies list."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rop_desktop.store import (
    ImageStoreError,
    Study,
    StudyExistsError,
    StudyOpenError,
    add_recent,
    recent_studies,
)
from rop_desktop.store.recent import MAX_RECENT, recent_file


@pytest.mark.sqlite_only("study.sqlite in the folder; PostgreSQL: test_store_backends.py")
def test_create_lays_out_the_folder_and_open_finds_it(tmp_path: Path) -> None:
    root = tmp_path / "new" / "study"
    with Study.create(root) as study:
        assert study.name == "study"  # the folder name by default
        for sub in ("images", "models", "cache"):
            assert (root / sub).is_dir()
        assert study.db_path == root / "study.sqlite" and study.db_path.is_file()
        assert study.images_dir == root / "images"
    with Study.open(root / "study.sqlite") as again:  # the database file itself is accepted too
        assert again.root == root


def test_create_refuses_an_existing_study(study: Study) -> None:
    with pytest.raises(StudyExistsError, match="already holds a study"):
        Study.create(study.root)


def test_open_or_create(tmp_path: Path) -> None:
    with Study.open_or_create(tmp_path / "s", name="First") as created:
        assert created.name == "First"
    with Study.open_or_create(tmp_path / "s", name="ignored") as opened:
        assert opened.name == "First"


def test_open_refuses_a_folder_that_is_not_a_study(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(StudyOpenError, match=r"not a ROP Desktop study.*no study.sqlite"):
        Study.open(tmp_path / "photos")
    assert list((tmp_path / "photos").iterdir()) == []  # nothing created
    with pytest.raises(StudyOpenError, match="no such folder"):
        Study.open(tmp_path / "missing")


def test_store_image_bytes_is_content_addressed_and_idempotent(study: Study) -> None:
    data = b"\x89PNG fake image bytes"
    sha = hashlib.sha256(data).hexdigest()
    relative = study.store_image_bytes(data, sha, ".PNG")
    assert relative == f"{sha[:2]}/{sha}.png"
    path = study.image_path(relative)
    assert path == study.images_dir / sha[:2] / f"{sha}.png" and path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert study.store_image_bytes(data, sha.upper(), "png") == relative  # stored once
    assert path.stat().st_mtime_ns == mtime
    assert list(study.iter_image_files()) == [path]  # no temp files left behind
    other = b"other bytes"
    assert study.store_image_bytes(other, hashlib.sha256(other).hexdigest(), "jpeg") != relative


def test_store_image_bytes_rejects_a_wrong_hash_or_extension(study: Study) -> None:
    data = b"abc"
    with pytest.raises(ImageStoreError, match="SHA-256 is"):
        study.store_image_bytes(data, "0" * 64, "png")
    with pytest.raises(ImageStoreError, match="not a SHA-256"):
        study.store_image_bytes(data, "xyz", "png")
    with pytest.raises(ImageStoreError, match="not a file extension"):
        study.store_image_bytes(data, hashlib.sha256(data).hexdigest(), "../png")
    assert list(study.iter_image_files()) == []


@pytest.mark.parametrize("bad", ["../study.sqlite", "/etc/passwd", "ab/../../x", "C:/x.png", ""])
def test_image_path_stays_inside_the_images_folder(study: Study, bad: str) -> None:
    with pytest.raises(ValueError, match="not a path inside"):
        study.image_path(bad)


def _fake_study(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "study.sqlite").touch()
    return folder


def test_recent_studies_most_recent_first_capped_and_pruned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ROP_DESKTOP_NO_RECENT", raising=False)
    folders = [_fake_study(tmp_path / f"s{i}") for i in range(MAX_RECENT + 2)]
    for folder in folders:
        add_recent(folder)
    assert recent_studies() == folders[::-1][:MAX_RECENT]
    add_recent(folders[5] / "study.sqlite")  # the database file counts as its folder
    assert recent_studies()[0] == folders[5] and recent_studies().count(folders[5]) == 1
    (folders[11] / "study.sqlite").unlink()
    assert folders[11] not in recent_studies()
    assert recent_file().parent == Path(os.environ["ROP_DESKTOP_HOME"])


def test_recent_list_is_off_with_no_recent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROP_DESKTOP_NO_RECENT", "1")
    add_recent(_fake_study(tmp_path / "s"))
    assert not recent_file().exists() and recent_studies() == []


def test_a_damaged_recent_list_is_ignored_and_replaced(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ROP_DESKTOP_NO_RECENT", raising=False)
    recent_file().parent.mkdir(parents=True, exist_ok=True)
    recent_file().write_text("{not json", encoding="utf-8")
    assert recent_studies() == []
    folder = _fake_study(tmp_path / "s")
    add_recent(folder)
    assert json.loads(recent_file().read_text(encoding="utf-8")) == [str(folder)]

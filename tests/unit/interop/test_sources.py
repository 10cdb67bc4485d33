"""collect_sources: folder expansion, filtering, order and problems, on real files in tmp_path."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rop_desktop.interop.sources import SourceProblem, collect_sources, is_source_file, sha256_bytes


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folders_expand_recursively_in_natural_order_and_junk_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "export"
    for name in ("10.png", "2.PNG", "1.jpg", "b/3.tif", "a/scan.dcm", "a/x.webp", "c.bmp", "d.JPEG"):
        _touch(root / name)
    for junk in ("notes.txt", "Thumbs.db", ".hidden.png", "._1.jpg", ".git/objects/4.png",
                 "a/readme", "manifest.csv"):
        _touch(root / junk)
    _touch(root / "old_study" / "study.sqlite")
    _touch(root / "old_study" / "images" / "ab.png")
    _touch(root / "a" / "RETCAM0001", bytes(128) + b"DICM" + bytes(20))  # extension-less DICOM

    files, problems = collect_sources([root])

    assert [p.relative_to(root).as_posix() for p in files] == [
        "1.jpg", "2.PNG", "10.png", "a/RETCAM0001", "a/scan.dcm", "a/x.webp", "b/3.tif", "c.bmp", "d.JPEG",
    ]
    assert problems == []


def test_order_is_deterministic_and_duplicates_are_listed_once(tmp_path: Path) -> None:
    one = _touch(tmp_path / "imgs" / "1.png")
    _touch(tmp_path / "imgs" / "2.png")
    result = collect_sources([one, tmp_path / "imgs", tmp_path / "imgs" / "." / "1.png"])
    assert result.files == [one, tmp_path / "imgs" / "2.png"]
    assert result == collect_sources([one, tmp_path / "imgs"])


def test_problems_are_reported_not_raised(tmp_path: Path) -> None:
    good = _touch(tmp_path / "eye.png")
    text = _touch(tmp_path / "notes.txt")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    study = tmp_path / "study"
    _touch(study / "study.sqlite")
    missing = tmp_path / "nope.png"

    files, problems = collect_sources([good, text, empty_dir, study, missing])

    assert files == [good]
    assert problems == [
        SourceProblem(text, "not an image or DICOM file (.txt)"),
        SourceProblem(empty_dir, "no image or DICOM files in this folder"),
        SourceProblem(study, "is a ROP Desktop study folder (not imported)"),
        SourceProblem(missing, "does not exist"),
    ]
    path, reason = problems[-1]  # problems are (path, reason) pairs
    assert (path, reason) == (missing, "does not exist")


def test_explicit_hidden_file_is_accepted_and_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    hidden = _touch(tmp_path / ".chosen.png")
    outside = tmp_path / "outside"
    _touch(outside / "x.png")
    root = tmp_path / "root"
    _touch(root / "y.png")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    files, problems = collect_sources([hidden, root])
    assert files == [hidden, root / "y.png"] and problems == []


def test_is_source_file_and_sha256(tmp_path: Path) -> None:
    assert is_source_file(_touch(tmp_path / "a.TIFF"))
    assert not is_source_file(_touch(tmp_path / "plain", b"hello"))
    assert not is_source_file(_touch(tmp_path / "short", b"DICM"))
    assert sha256_bytes(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert sha256_bytes(b"abc") != sha256_bytes(b"abd")

"""write_demo_files: PNGs that OpenCV reads back, a manifest row per image, a truth file that round-trips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from rop_desktop.demo import MANIFEST_COLUMNS, DemoError, generate_demo, write_demo_files
from rop_desktop.domain.grades import GradeValues


@pytest.fixture(scope="module")
def small_study():
    return generate_demo(seed=7, n_patients=3, size=(128, 96))


def test_images_manifest_and_truth_are_written(small_study, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    files = write_demo_files(small_study, tmp_path / "demo", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, len(small_study.images)) for k in range(1, len(small_study.images) + 1)]
    assert files.folder == tmp_path / "demo"
    assert len(files.images) == len(small_study.images)
    for path, image in zip(files.images, small_study.images, strict=False):
        assert path.name == image.file_name and path.parent == files.folder
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert bgr is not None and bgr.shape == (96, 128, 3)
        assert np.array_equal(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), image.render())  # PNG is lossless

    with files.manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS == (
        "file", "patient", "eye", "exam_date", "gestational_age", "birth_weight", "hospital_diagnosis", "camera",
        "site", "pma")
    assert [r["file"] for r in rows] == [i.file_name for i in small_study.images]
    for row, image in zip(rows, small_study.images, strict=False):
        assert (files.folder / row["file"]).is_file()
        assert row["patient"] == image.patient.code and row["eye"] == image.eye.value
        assert row["exam_date"] == image.exam.date.isoformat()
        assert 23 <= float(row["gestational_age"]) <= 32 and 450 <= int(row["birth_weight"]) <= 1800
        assert float(row["pma"]) > float(row["gestational_age"])
        assert row["hospital_diagnosis"].startswith(("No ROP", "ROP stage"))
        assert row["camera"] == image.exam.camera and row["site"] == image.exam.site


def test_truth_file_round_trips(small_study, tmp_path: Path) -> None:
    files = write_demo_files(small_study, tmp_path)
    document = json.loads(files.truth.read_text(encoding="utf-8"))
    assert document["format"] == "rop-desktop-demo-truth" and document["version"] == 1
    assert document["seed"] == 7 and document["size"] == [128, 96]
    assert [g["name"] for g in document["graders"]] == [g.name for g in small_study.graders]
    assert list(document["images"]) == [i.file_name for i in small_study.images]
    for image in small_study.images:
        entry = document["images"][image.file_name]
        assert GradeValues.from_dict(entry["truth"]) == image.truth.grade()
        assert GradeValues.from_dict(entry["hospital_diagnosis"]) == image.hospital_diagnosis
        assert entry["truth"]["poor_quality"] == image.truth.poor_quality
        assert len(entry["truth"]["lesions"]) == len(image.truth.lesions)
        for lesion in entry["truth"]["lesions"]:
            assert lesion["type"] in ("demarcation_line", "ridge") and Polygon(lesion["points"]).is_valid
        for grade in image.grades:
            written = entry["grades"][grade.grader]
            assert GradeValues.from_dict(written["values"]) == grade.values
            assert len(written["polygons"]) == len(grade.polygons)


def test_unwritable_folder_is_reported(small_study, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DemoError, match="cannot create the demo folder"):
        write_demo_files(small_study, blocker / "demo")

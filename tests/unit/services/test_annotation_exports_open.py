"""Annotation exports open in the tools themselves: labelme's own ``LabelFile`` loads every labelme
file with its image, VIA's three forms follow VIA 2.0.x's source field by field (the CSV is read
back with a transcription of VIA's own parser), and ``pycocotools.COCO`` loads the COCO file.

labelme is a test-only dependency installed without its GUI dependencies
(``pip install --no-deps labelme==5.5.0 imgviz==1.7.5 qtpy termcolor PyYAML``; qtpy finds PySide6);
without it the labelme test is skipped and the others still run.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from rop_desktop.imaging.decode import decode_image
from rop_desktop.services.annotation_io import export_annotations, import_annotations
from rop_desktop.services.annotation_io.via_csv import HEADER
from rop_desktop.store import repo

from .conftest import HandStudy, grade, rect


@pytest.fixture
def graded(hand: HandStudy) -> HandStudy:
    """Dr. A outlines and grades two images, says "no ROP" on a third; five are not graded."""
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"), [rect(8, 8, 40, 30, "2")])
    hand.submit("A", i[1], grade("yes", "3"), [rect(4, 4, 20, 20, "3"), rect(30, 10, 60, 40, "3")])
    hand.submit("A", i[2], grade("no"))
    return hand


def _stored(hand: HandStudy) -> dict[str, tuple[np.ndarray, str]]:
    """Pseudonymous name → (the stored image's pixels, its content hash)."""
    out = {}
    with hand.study.session() as session:
        for image in repo.list_images(session):
            rgb = decode_image(hand.study.image_path(image).read_bytes(), image.original_name).rgb
            out[image.original_name] = (rgb, image.sha256)
    return out


def test_labelme_export_opens_in_labelme(graded: HandStudy, tmp_path: Path) -> None:
    if os.environ.get("ROP_REQUIRE_LABELME"):  # CI installs it: there the test must run, never skip
        import labelme.label_file as label_file
    else:
        label_file = pytest.importorskip("labelme.label_file", reason="labelme (test-only dependency) not installed")
    out = export_annotations(graded.study, graded.adjudicator, "labelme", tmp_path / "lm")  # no --copy-images
    stored = _stored(graded)
    files = sorted(out.glob("*.json"))
    assert len(files) == len(stored)  # every image listed, with or without shapes
    shapes = 0
    for path in files:
        loaded = label_file.LabelFile(str(path))  # labelme's own loader: raises when the image is missing
        name = Path(loaded.imagePath)
        assert name.parent == Path(".") and name.stem == path.stem  # next to its JSON, same name
        pixels, sha = stored[name.stem]
        assert sha not in loaded.imagePath and str(tmp_path) not in loaded.imagePath
        shown = np.asarray(Image.open(io.BytesIO(loaded.imageData)).convert("RGB"))
        assert np.array_equal(shown, pixels)  # the very image the study holds, as labelme shows it
        data = json.loads(path.read_text(encoding="utf-8"))
        assert (data["imageHeight"], data["imageWidth"]) == shown.shape[:2]
        assert all(s["shape_type"] == "polygon" and len(s["points"]) >= 3 for s in loaded.shapes)
        shapes += len(loaded.shapes)
    assert shapes == 3


def _via_parse_csv_line(s: str) -> list[str]:
    """VIA 2.0.11's ``parse_csv_line``: fields split on commas outside quotes, quotes kept."""
    fields, start, quoted, i = [], 0, False, 0
    while i < len(s):
        if s[i] == "," and not quoted:
            fields.append(s[start:i])
            start = i + 1
        elif s[i] == '"':
            if quoted and s[i + 1:i + 2] == '"':
                i += 1
            else:
                quoted = not quoted
                if quoted:
                    start = i
        i += 1
    fields.append(s[start:])
    return fields


def _via_import_csv(text: str) -> dict[str, dict[str, Any]]:
    """VIA 2.0.11's ``import_annotations_from_csv`` into an empty project: the metadata it builds."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert lines[0] == HEADER  # VIA compares the header line exactly
    metadata: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        if not line:
            continue
        d = _via_parse_csv_line(line)
        assert len(d) == 7, line  # VIA skips other lines as malformed
        key = d[0] + d[1]
        entry = metadata.setdefault(key, {"filename": d[0], "size": int(d[1]), "regions": [], "file_attributes": {}})

        def unquote(field: str) -> dict[str, Any]:
            if field == '"{}"':
                return {}
            if field.startswith('"') and field.endswith('"'):
                field = field[1:-1]
            return json.loads(field.replace('""', '"'))

        entry["file_attributes"].update(unquote(d[2]))
        shape, attributes = unquote(d[5]), unquote(d[6])
        if shape or attributes:
            entry["regions"].append({"shape_attributes": shape, "region_attributes": attributes})
    return metadata


def test_via_export_in_the_three_forms_via_reads(graded: HandStudy, tmp_path: Path) -> None:
    project_path = export_annotations(graded.study, graded.adjudicator, "via", tmp_path / "via")
    folder = project_path.parent
    project = json.loads(project_path.read_text(encoding="utf-8"))
    # Project → Load (project_open_parse_json_file) needs these three; the other two keep the order
    assert {"_via_settings", "_via_img_metadata", "_via_attributes"} <= set(project)
    assert project["_via_data_format_version"] == "2.0.10"
    metadata = project["_via_img_metadata"]
    assert project["_via_image_id_list"] == list(metadata) and len(metadata) == len(graded.images)
    settings = project["_via_settings"]
    assert set(settings) == {"ui", "core", "project"} and settings["core"]["default_filepath"] == "images/"
    assert set(project["_via_attributes"]) == {"region", "file"}
    assert {"lesion_type", "stage", "grader"} <= set(project["_via_attributes"]["region"])
    regions = 0
    for key, entry in metadata.items():
        assert set(entry) == {"filename", "size", "regions", "file_attributes"}
        image = folder / "images" / entry["filename"]
        assert entry["size"] == image.stat().st_size and key == f"{entry['filename']}{entry['size']}"
        for region in entry["regions"]:
            shape = region["shape_attributes"]
            assert shape["name"] == "polygon" and len(shape["all_points_x"]) == len(shape["all_points_y"]) >= 3
            assert all(isinstance(v, int) for v in shape["all_points_x"] + shape["all_points_y"])
            assert set(region["region_attributes"]) == {"lesion_type", "stage", "grader"}
            regions += 1
    assert regions == 3
    # Annotation → Import annotations: the region JSON is the metadata alone, the CSV the same rows
    assert json.loads((folder / "via_regions.json").read_text(encoding="utf-8")) == metadata
    assert _via_import_csv((folder / "via_regions.csv").read_text(encoding="utf-8")) == metadata
    # and every form comes back through our own VIA import, outlines and stages intact
    for form in ("via_project.json", "via_regions.json", "via_regions.csv"):
        summary = import_annotations(graded.study, graded.admin, "via", folder / form)
        assert summary.annotations == 3 and not summary.errors


def test_coco_export_loads_in_pycocotools(graded: HandStudy, tmp_path: Path) -> None:
    path = export_annotations(graded.study, graded.adjudicator, "coco", tmp_path / "coco")
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == len(graded.images) and len(coco.getAnnIds()) == 3
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(ann)
        assert mask.sum() == pytest.approx(ann["area"], rel=0.25)
        assert coco_mask.area(coco_mask.encode(np.asfortranarray(mask))) > 0

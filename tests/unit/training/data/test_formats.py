"""Converters: masks ↔ polygons, image folders, VIA 2 and labelme files (written by hand here)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data.io import read_mask, write_png
from training.formats import (
    FormatError,
    image_folder_to_snapshot,
    labelme_to_snapshot,
    mask_to_polygons,
    polygons_to_mask,
    read_labelme,
    read_via,
    snapshot_to_labelme,
    snapshot_to_via,
    via_to_snapshot,
    write_labelme,
    write_via,
)
from training.formats.masks import to_snapshot_polygons
from training.snapshot import Snapshot

H, W = 48, 64


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


# --------------------------------------------------------------------------- masks ↔ polygons

def test_mask_with_holes_round_trips() -> None:
    mask = np.zeros((96, 128), np.uint8)
    cv2.circle(mask, (40, 48), 30, 255, -1)
    cv2.circle(mask, (40, 48), 10, 0, -1)          # a hole
    cv2.rectangle(mask, (80, 10), (120, 80), 255, -1)
    cv2.rectangle(mask, (90, 20), (110, 40), 0, -1)  # another hole
    cv2.rectangle(mask, (95, 25), (100, 30), 255, -1)  # an island inside that hole
    mask[90, 5] = 255                                # a speck
    polys = mask_to_polygons(mask, min_area=4)
    assert all(p.is_valid for p in polys)
    assert sorted(len(p.interiors) for p in polys) == [0, 1, 1]  # circle, rectangle, island
    back = polygons_to_mask(polys, mask.shape)
    assert dice(mask, back) >= 0.98
    assert back[48, 40] == 0 and back[35, 105] == 0 and back[27, 97] == 255 and back[90, 5] == 0
    assert mask_to_polygons(np.zeros((8, 8), np.uint8)) == []


@pytest.mark.parametrize("seed", range(4))
def test_random_blobs_round_trip(seed: int) -> None:
    noise = np.random.default_rng(seed).random((128, 128)).astype(np.float32)
    mask = (cv2.GaussianBlur(noise, (0, 0), 4) > 0.5).astype(np.uint8) * 255
    polys = to_snapshot_polygons(mask_to_polygons(mask))
    assert dice(mask, polygons_to_mask(polys, mask.shape)) >= 0.98


@pytest.mark.realdata
def test_real_hvdropdb_masks_round_trip_at_full_size(hvdropdb: Path) -> None:
    for name in ("1.png", "10.png", "33.png"):
        mask = read_mask(hvdropdb / "masks" / name)
        assert mask.shape == (2040, 2040)
        polys = mask_to_polygons(mask)
        assert polys and all(p.is_valid for p in polys)
        assert dice(mask, polygons_to_mask(polys, mask.shape)) >= 0.98, name


# --------------------------------------------------------------------------- image folders

@pytest.mark.realdata
def test_hvdropdb_folder_to_snapshot(hvdropdb: Path, tmp_path: Path) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name in ("1.png", "2.png", "10.png"):  # links, never copies of the real data in the repo
        os.symlink(hvdropdb / "images" / name, images / name)
        os.symlink(hvdropdb / "masks" / name, masks / name)
    result = image_folder_to_snapshot(images, masks, tmp_path / "snap")
    snap = result.snapshot
    assert result.problems == []
    assert [(r.id, r.patient, r.label_binary) for r in snap] == [("1", "1", 1), ("10", "10", 1), ("2", "2", 1)]
    written = cv2.imread(str(snap.path(snap[0].mask)), cv2.IMREAD_UNCHANGED)
    assert written.shape == (2040, 2040) and set(np.unique(written)) == {0, 255}  # binarised, one channel
    assert dice(read_mask(hvdropdb / "masks" / "1.png"), polygons_to_mask(snap[0].polygons, (2040, 2040))) >= 0.98
    assert snap[0].polygons[0].lesion_type == "ridge"
    assert Snapshot.load(snap.root).verify() == snap.stored_hash


def test_image_folder_reports_per_image(tmp_path: Path, fundus) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    for i in range(3):
        rgb, mask = fundus(seed=i, line=i != 1)
        write_png(images / f"{i}.png", rgb)
        if i != 2:
            write_png(masks / f"{i}.png", np.dstack([mask] * 3))  # colour masks are fine
    write_png(masks / "orphan.png", np.zeros((H, W), np.uint8), rgb=False)
    (tmp_path / "patients.csv").write_text("file,patient,eye\n0.png,baby-A,right\n1,baby-A,left\n")
    result = image_folder_to_snapshot(images, masks, tmp_path / "snap", patients=tmp_path / "patients.csv")
    by_id = {r.id: r for r in result.snapshot}
    assert (by_id["0"].patient, by_id["0"].eye, by_id["0"].label_binary) == ("baby-A", "OD", 1)
    assert (by_id["1"].patient, by_id["1"].eye, by_id["1"].label_binary, by_id["1"].polygons) == ("baby-A", "OS", 0, [])
    assert (by_id["2"].patient, by_id["2"].label_binary, by_id["2"].mask) == ("2", None, None)
    assert [(p.severity, Path(p.path).name, p.message) for p in result.problems] == [
        ("error", "orphan.png", "mask without an image of the same name; skipped"),
        ("warning", "2.png", "no mask of the same name; imported without label"),
    ]


# --------------------------------------------------------------------------- VIA 2

def _image_dir(tmp_path: Path, fundus, names=("a.png", "b.png")) -> Path:
    folder = tmp_path / "imgs"
    for k, name in enumerate(names):
        write_png(folder / name, fundus(H, W, seed=k)[0])
    return folder


def _via_project(folder: Path) -> dict:
    size_a, size_b = (folder / "a.png").stat().st_size, (folder / "b.png").stat().st_size
    regions_a = [
        {"shape_attributes": {"name": "polygon", "all_points_x": [10, 30, 30, 10], "all_points_y": [10, 10, 30, 30]},
         "region_attributes": {"lesion_type": "Demarcation line", "stage": "2"}},
        {"shape_attributes": {"name": "rect", "x": 40, "y": 5, "width": 10, "height": 8},
         "region_attributes": {"type": {"ridge": True}}},
        {"shape_attributes": {"name": "circle", "cx": 50, "cy": 35, "r": 5}, "region_attributes": {}},
        {"shape_attributes": {"name": "polygon", "all_points_x": [1, 5], "all_points_y": [1, 5]},
         "region_attributes": {}},
        {"shape_attributes": {"name": "polyline", "all_points_x": [5, 25], "all_points_y": [40, 40]},
         "region_attributes": {"lesion_type": "ridge"}},
        {"shape_attributes": {"name": "polygon", "all_points_x": [55, 70, 70, 55], "all_points_y": [40, 40, 60, 60]},
         "region_attributes": {}},
        {"shape_attributes": {"name": "ellipse", "cx": 200, "cy": 200, "rx": 5, "ry": 3, "theta": 0.0},
         "region_attributes": {}},
        {"shape_attributes": {"name": "point", "cx": 3, "cy": 3}, "region_attributes": {}},
        {"shape_attributes": {"name": "spline"}, "region_attributes": {}},
    ]
    return {
        "_via_settings": {"ui": {}, "core": {"buffer_size": 18, "filepath": {}, "default_filepath": ""},
                          "project": {"name": "rop"}},
        "_via_img_metadata": {
            f"a.png{size_a}": {"filename": "a.png", "size": size_a, "regions": regions_a,
                               "file_attributes": {"patient": "P1", "eye": "OS", "stage": "Stage 2",
                                                   "ga_weeks": "30"}},
            f"b.png{size_b}": {"filename": "b.png", "size": size_b, "regions": [],
                               "file_attributes": {"patient": "P2", "rop": "no"}},
            "c.png10": {"size": 10, "regions": []},
        },
        "_via_attributes": {"region": {"lesion_type": {"type": "dropdown", "description": "",
                                                       "options": {"ridge": "", "demarcation_line": ""},
                                                       "default_options": {}}},
                            "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": [f"a.png{size_a}", f"b.png{size_b}", "c.png10"],
    }


def test_via_project_parses_with_per_region_problems(tmp_path: Path, fundus) -> None:
    folder = _image_dir(tmp_path, fundus)
    path = tmp_path / "project.json"
    path.write_text(json.dumps(_via_project(folder)))
    project = read_via(path, image_dir=folder)
    assert project.kind == "project" and project.version == "2.0.10"
    assert [i.filename for i in project.images] == ["a.png", "b.png"]
    a = project.images[0]
    assert [r.shape for r in a.regions] == ["polygon", "rect", "circle", "polyline", "polygon", "point"]
    assert a.regions[0].vertices() == [(10, 10), (30, 10), (30, 30), (10, 30)]
    problems = [(p.severity, p.where.split("]", 1)[-1], p.message) for p in project.problems]
    assert problems == [
        ("error", ".regions[3]", "polygon with 2 points (needs at least 3); skipped"),
        ("warning", ".regions[5]", "3 of 4 points outside the 64x48 image (first at x=70, y=40); clipped to the image"),
        ("error", ".regions[6]", "all points outside the 64x48 image (first at x=195, y=197); skipped"),
        ("error", ".regions[8]", "unknown shape 'spline' (expected polygon, polyline, rect, circle, ellipse, "
                                 "point); skipped"),
        ("error", "", "image entry without a filename; skipped"),
    ]
    assert project.problems[0].where.startswith("_via_img_metadata['a.png")


def test_via_to_snapshot(tmp_path: Path, fundus) -> None:
    folder = _image_dir(tmp_path, fundus)
    path = tmp_path / "project.json"
    path.write_text(json.dumps(_via_project(folder)))
    result = via_to_snapshot(path, folder, tmp_path / "snap", line_width=4)
    a, b = result.snapshot
    assert (a.patient, a.eye, a.stage, a.stage3, a.label_binary, a.meta) == ("P1", "OS", "2", 1, 1, {"ga_weeks": "30"})
    assert (b.patient, b.label_binary) == ("P2", 0)
    assert [(p.lesion_type, p.stage) for p in a.polygons] == [
        ("demarcation_line", "2"), ("ridge", None), (None, None), ("ridge", None), (None, None)]
    mask = read_mask(result.snapshot.path(a.mask))
    assert mask[20, 20] == 255 and mask[8, 45] == 255 and mask[35, 50] == 255 and mask[40, 15] == 255
    assert mask[50 if H > 50 else 45, 60] == 255 and mask[2, 2] == 0
    assert any("a point region has no area" in p.message for p in result.warnings)


def test_via_region_export_and_round_trip(tmp_path: Path, fundus) -> None:
    folder = _image_dir(tmp_path, fundus)
    project = read_via_from(tmp_path, _via_project(folder)["_via_img_metadata"], folder)
    assert project.kind == "regions" and len(project.images) == 2
    # written back (both kinds) and read again: the same images, regions and attributes
    for kind in ("project", "regions"):
        out = tmp_path / f"again-{kind}.json"
        write_via(project, out, kind=kind)
        again = read_via(out, image_dir=folder)
        assert again.kind == kind
        assert [(i.key, i.file_attributes, [(r.shape, r.params, r.attributes) for r in i.regions])
                for i in again.images] == [(i.key, i.file_attributes, [(r.shape, r.params, r.attributes)
                                                                       for r in i.regions]) for i in project.images]
    written = json.loads((tmp_path / "again-project.json").read_text())
    assert set(written) == {"_via_settings", "_via_img_metadata", "_via_attributes", "_via_data_format_version",
                            "_via_image_id_list"}
    assert "stage" in written["_via_attributes"]["region"]


def read_via_from(tmp_path: Path, data: dict, folder: Path):
    path = tmp_path / "regions.json"
    path.write_text(json.dumps(data))
    return read_via(path, image_dir=folder)


def test_snapshot_to_via_and_back(tmp_path: Path, make_snapshot) -> None:
    snap = make_snapshot(4)
    project = snapshot_to_via(snap)
    path = tmp_path / "export.json"
    write_via(project, path)
    result = via_to_snapshot(path, snap.root / "images", tmp_path / "back")
    assert result.errors == []
    for before, after in zip(snap, result.snapshot, strict=False):
        assert (after.id, after.patient, after.eye, after.stage) == (before.id, before.patient, before.eye, before.stage)
        if before.mask:
            assert dice(read_mask(snap.path(before.mask)), read_mask(result.snapshot.path(after.mask))) >= 0.9


@pytest.mark.parametrize(("text", "where", "message"), [
    ('{"_via_img_metadata": {"a.png1": {"filename": "a.png",,}}}', "line 1 column 55", "invalid JSON"),
    ('[1, 2]', "top level", "expected a JSON object, got list"),
    ('{"images": []}', "top level", "neither a VIA 2 project"),
    ('{"_via_img_metadata": []}', "_via_img_metadata", "expected an object, got list"),
])
def test_via_unreadable_files_raise_format_error(tmp_path: Path, text: str, where: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        read_via(path)
    assert (info.value.path, info.value.where) == (str(path), where)
    assert message in info.value.message


# --------------------------------------------------------------------------- labelme / X-AnyLabeling

def _shape(points, shape_type="polygon", label="ridge", **extra) -> dict:
    return {"label": label, "points": points, "group_id": None, "description": "", "shape_type": shape_type,
            "flags": {}, "mask": None, **extra}


def _labelme_doc(image_path: str, image_data: str | None = None) -> dict:
    return {
        "version": "5.5.0",
        "flags": {"rop": True, "stage_3": True, "stage_2": False},
        "shapes": [
            _shape([[10, 10], [30, 10], [30, 30], [10, 30]], flags={"stage_3": True}),
            _shape([[40, 5], [50, 13]], "rectangle", "Demarcation line"),
            _shape([[50, 35], [55, 35]], "circle"),
            _shape([[1, 1], [5, 5]], "polygon"),
            _shape([[5, 40], [15, 42], [25, 40]], "linestrip"),
            _shape([[55, 40], [70, 40], [70, 60], [55, 60]]),
            _shape([[2, 2]], "point"),
            _shape([[20, 2], [30, 2], [30, 6], [20, 6]], "rectangle", difficult=False,
                   attributes={"stage": "1"}),  # X-AnyLabeling: 4-point rectangles, extra keys
            _shape([[0, 0], [1, "x"]], "polygon"),
            _shape([[3, 3], [4, 4]], "cuboid"),
        ],
        "imagePath": image_path,
        "imageData": image_data,
        "imageHeight": H,
        "imageWidth": W,
    }


def test_labelme_parses_with_per_shape_problems(tmp_path: Path, fundus) -> None:
    folder = _image_dir(tmp_path, fundus)
    path = tmp_path / "ann" / "a.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_labelme_doc("../imgs/a.png")))
    doc = read_labelme(path)
    assert doc.hw == (H, W) and doc.flags == {"rop": True, "stage_3": True, "stage_2": False}
    assert [s.shape_type for s in doc.shapes] == ["polygon", "rectangle", "circle", "linestrip", "polygon", "point",
                                                  "rectangle"]
    assert doc.shapes[-1].extra == {"difficult": False, "attributes": {"stage": "1"}}
    assert [(p.severity, p.where, p.message) for p in doc.problems] == [
        ("error", "shapes[3]", "polygon with 2 points (needs at least 3); skipped"),
        ("warning", "shapes[5]", "3 of 4 points outside the 64x48 image (first at x=70, y=40); clipped to the image"),
        ("error", "shapes[8]", "points[1] must be [x, y] with finite numbers, got [1, 'x']; skipped"),
        ("error", "shapes[9]", "unknown shape_type 'cuboid' (expected polygon, rectangle, rotation, circle, line, "
                               "linestrip, point, points, mask); skipped"),
    ]
    assert folder.is_dir()


def test_labelme_to_snapshot_reports_per_file(tmp_path: Path, fundus) -> None:
    _image_dir(tmp_path, fundus)
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "a.json").write_text(json.dumps(_labelme_doc("../imgs/a.png")))
    _ok, png = cv2.imencode(".png", cv2.cvtColor(fundus(H, W, seed=7)[0], cv2.COLOR_RGB2BGR))
    embedded = _labelme_doc("not-here.png", base64.b64encode(png.tobytes()).decode())
    embedded["flags"] = {"rop": False}
    embedded["shapes"] = []
    (ann / "b.json").write_text(json.dumps(embedded))
    (ann / "c.json").write_text('{"shapes": [')
    (ann / "d.json").write_text(json.dumps(_labelme_doc("../imgs/missing.png")))
    result = labelme_to_snapshot(ann, tmp_path / "snap", line_width=4)
    a, b = result.snapshot
    assert (a.id, a.stage, a.label_binary) == ("a", "3", 1)
    assert [(p.lesion_type, p.stage) for p in a.polygons] == [
        ("ridge", "3"), ("demarcation_line", None), ("ridge", None), ("ridge", None), ("ridge", None), ("ridge", "1")]
    mask = read_mask(result.snapshot.path(a.mask))
    assert mask[20, 20] == mask[9, 45] == mask[35, 50] == mask[41, 15] == mask[4, 25] == 255
    assert (b.id, b.label_binary, b.mask) == ("b", 0, None)  # the image came from imageData
    np.testing.assert_array_equal(cv2.imread(str(result.snapshot.image_path(b)))[..., ::-1], fundus(H, W, seed=7)[0])
    errors = [(Path(p.path).name, p.where, p.message) for p in result.errors]
    assert ("c.json", "line 1 column 13", "invalid JSON: Expecting value; file skipped") in errors
    assert any(name == "d.json" and "missing.png not found; image skipped" in msg for name, _, msg in errors)


def test_labelme_write_read_round_trip(tmp_path: Path, fundus) -> None:
    _image_dir(tmp_path, fundus)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_labelme_doc("imgs/a.png")))
    doc = read_labelme(path)
    write_labelme(doc, tmp_path / "again.json")
    again = read_labelme(tmp_path / "again.json")
    assert again.shapes == doc.shapes and again.flags == doc.flags and again.image_path == doc.image_path
    assert json.loads((tmp_path / "again.json").read_text())["shapes"][-1]["difficult"] is False


def test_snapshot_to_labelme_and_back(tmp_path: Path, make_snapshot) -> None:
    snap = make_snapshot(4)
    out = tmp_path / "labelme"
    out.mkdir()
    for record in snap:
        write_labelme(snapshot_to_labelme(snap, record, out / f"{record.id}.json"), out / f"{record.id}.json")
    result = labelme_to_snapshot(out, tmp_path / "back")
    assert result.errors == []
    for before, after in zip(snap, result.snapshot, strict=False):
        assert (after.id, after.stage, after.label_binary) == (before.id, before.stage, before.label_binary)
        if before.mask:
            assert dice(read_mask(snap.path(before.mask)), read_mask(result.snapshot.path(after.mask))) >= 0.9


def test_labelme_not_labelme(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"images": []}')
    with pytest.raises(FormatError, match=r"x.json: shapes: missing or not a list: not a labelme file"):
        read_labelme(path)


def test_via_ellipse_rotation_is_in_radians() -> None:
    from training.formats.via import ViaRegion

    flat = ViaRegion("ellipse", {"cx": 50, "cy": 40, "rx": 20, "ry": 5}).geometry()
    turned = ViaRegion("ellipse", {"cx": 50, "cy": 40, "rx": 20, "ry": 5, "theta": np.pi / 2}).geometry()
    assert flat.bounds == pytest.approx((30, 35, 70, 45), abs=0.01)
    assert turned.bounds == pytest.approx((45, 20, 55, 60), abs=0.01)

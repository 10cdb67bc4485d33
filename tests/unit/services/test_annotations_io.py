"""Annotation import / export: hand-written VIA 2, labelme and COCO files, mask folders, grade
CSVs, round trips per format, bad input, and the real HVDROPDB ridge masks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from shapely import affinity
from shapely.geometry import Polygon

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services.annotation_io import AnnotationIOError, export_annotations, import_annotations
from rop_desktop.services.grading import create_grader, shape_of
from rop_desktop.services.importer import run_import
from rop_desktop.store import Study, repo
from training.data.io import read_mask
from training.formats.masks import polygons_to_mask

from .conftest import HandStudy, grade, rect


def _shapes(study: Study, grader: str, image: int | None = None) -> dict[int, list[Shape]]:
    out: dict[int, list[Shape]] = {}
    with study.session() as session:
        g = repo.get_or_create_grader(session, grader)
        for img in repo.list_images(session):
            if image is None or img.id == image:
                rows = repo.annotations_for(session, img.id, g)
                if rows:
                    out[img.id] = [shape_of(a) for a in rows]
    return out


def _grade_of(study: Study, grader: str, image: int):
    with study.session() as session:
        g = repo.get_or_create_grader(session, grader)
        row = repo.grade_for(session, image, g)
        return (row.values, row.submitted) if row else (None, False)


def _poly(s: Shape) -> Polygon:
    return Polygon(s.points, list(s.holes))


def _iou(a: Polygon, b: Polygon) -> float:
    return a.intersection(b).area / a.union(b).area


def _matches(a: list[Shape], b: list[Shape], labels: bool = True) -> None:
    assert len(a) == len(b)
    for s in a:
        best = max(b, key=lambda t: _iou(_poly(s), _poly(t)))
        assert _iou(_poly(s), _poly(best)) >= 0.95
        if labels:
            assert (best.lesion_type, best.stage) == (s.lesion_type, s.stage)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- hand-written files
def test_handwritten_via_project_with_bad_regions(hand: HandStudy, tmp_path: Path) -> None:
    def region(xs, ys, **attrs):
        return {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
                "region_attributes": attrs}
    meta = {
        "img0.png1234": {"filename": "img0.png", "size": 1234, "file_attributes": {"ROP stage": "stage 2", "plus": "no"},
                         "regions": [region([10, 40, 40, 10], [8, 8, 30, 30], type="Ridge", stage="2"),
                                     region([5, 20], [5, 20], type="ridge"),                    # 2 points
                                     region([50, 80, 80, 50], [10, 10, 30, 30], type="ridge"),  # half outside
                                     region([100, 120, 120], [100, 100, 120])]},              # all outside
        "img1.png99": {"filename": "img1.png", "size": 99, "file_attributes": {},
                       "regions": [{"shape_attributes": {"name": "rect", "x": 4, "y": 4, "width": 20, "height": 10},
                                    "region_attributes": {"Lesion": "DL"}}]},
        "nothere.png1": {"filename": "nothere.png", "size": 1, "regions": []},
    }
    project = _write(tmp_path / "via.json", {
        "_via_settings": {"project": {"name": "x"}}, "_via_img_metadata": meta,
        "_via_attributes": {"region": {"type": {"type": "text"}}, "file": {}},
        "_via_data_format_version": "2.0.10", "_via_image_id_list": list(meta)})
    summary = import_annotations(hand.study, "via", project, mapping={"ROP stage": "stage", "Lesion": "lesion_type",
                                                                      "DL": "lesion_type=demarcation_line"})
    assert summary.grader == "imported: via.json" and summary.annotations == 3
    text = "\n".join(map(str, summary.problems))
    assert "needs at least 3" in text and "nothere.png" in text and "clipped" in text
    assert any("all points outside" in str(p) for p in summary.errors)
    shapes = _shapes(hand.study, summary.grader)
    first = shapes[hand.images[0]]
    assert [s.lesion_type for s in first] == [LesionType.RIDGE, LesionType.RIDGE]
    assert first[0].stage is Stage.S2 and all(s.source == "imported" for s in first)
    assert max(x for x, _ in first[1].points) == 64  # clipped to the 64 px wide image
    assert _iou(_poly(first[0]), Polygon([(10.5, 8.5), (40.5, 8.5), (40.5, 30.5), (10.5, 30.5)])) > 0.999
    assert shapes[hand.images[1]][0].lesion_type is LesionType.DEMARCATION_LINE
    values, submitted = _grade_of(hand.study, summary.grader, hand.images[0])
    assert submitted and values.stage is Stage.S2 and values.plus.value == "normal" and values.rop.value == "yes"


def test_handwritten_labelme_folder(hand: HandStudy, tmp_path: Path) -> None:
    folder = tmp_path / "lm"
    folder.mkdir()
    _write(folder / "img2.json", {
        "version": "5.5.0", "flags": {"stage_3": True, "rop": True},
        "shapes": [{"label": "extraretinal_proliferation", "points": [[10, 10], [40, 10], [40, 35], [10, 35]],
                    "group_id": None, "description": "", "shape_type": "polygon", "flags": {"stage_3": True},
                    "mask": None},
                   {"label": "ridge", "points": [[1, 1], [9, 9]], "group_id": None, "description": "",
                    "shape_type": "polygon", "flags": {}, "mask": None}],
        "imagePath": "..\\images\\img2.png", "imageData": None, "imageHeight": 48, "imageWidth": 64})
    _write(folder / "img3.json", {"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "img3.png",
                                  "imageData": None, "imageHeight": 100, "imageWidth": 64})  # wrong size
    (folder / "broken.json").write_text('{"version": "5.5.0", "shapes": [', encoding="utf-8")
    summary = import_annotations(hand.study, "labelme", folder, grader_name="External")
    text = "\n".join(map(str, summary.problems))
    assert "polygon with 2 points" in text and "broken.json" in text and "64x100" in text
    assert summary.images == [hand.images[2]] and summary.annotations == 1
    shape = _shapes(hand.study, "External")[hand.images[2]][0]
    assert shape.lesion_type is LesionType.EXTRARETINAL_PROLIFERATION and shape.stage is Stage.S3
    assert _grade_of(hand.study, "External", hand.images[2])[0].stage is Stage.S3


def test_truncated_json_refuses_the_whole_file(hand: HandStudy, tmp_path: Path) -> None:
    bad = tmp_path / "via.json"
    bad.write_text('{"_via_img_metadata": {"img0.png1": {"filename": "img0.png", "regions": [', encoding="utf-8")
    with pytest.raises(AnnotationIOError, match="invalid JSON"):
        import_annotations(hand.study, "via", bad)
    with pytest.raises(AnnotationIOError, match="unknown annotation format"):
        import_annotations(hand.study, "pascal", bad)
    with hand.study.session() as session:
        assert not [g for g in repo.list_graders(session) if g.name.startswith("imported")]


def test_coco_polygons_and_rle(hand: HandStudy, tmp_path: Path) -> None:
    m = np.zeros((48, 64), np.uint8)
    m[10:40, 20:50] = 1
    m[20:30, 30:40] = 0  # a hole
    rle = coco_mask.encode(np.asfortranarray(m))
    coco = _write(tmp_path / "coco.json", {
        "images": [{"id": 7, "file_name": "img4.png", "width": 64, "height": 48},
                   {"id": 8, "file_name": "img5.png", "width": 32, "height": 32}],
        "categories": [{"id": 1, "name": "ridge"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
                         "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]},
                        {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1,
                         "segmentation": {"size": [48, 64], "counts": rle["counts"].decode()}},
                        {"id": 3, "image_id": 7, "category_id": 1, "segmentation": [[1, 1, 3, 3]]},
                        {"id": 4, "image_id": 99, "category_id": 1, "segmentation": []}]})
    summary = import_annotations(hand.study, "coco", coco)
    assert summary.annotations == 2 and len(summary.errors) == 3  # 2-point polygon, unknown image, 32x32 image
    rle_shape = [s for s in _shapes(hand.study, summary.grader)[hand.images[4]] if s.holes][0]
    back = polygons_to_mask([Polygon(rle_shape.points, rle_shape.holes)], (48, 64))  # corners ≈ centres + 0.5
    assert ((back > 0) == (m > 0)).mean() > 0.97


# ---------------------------------------------------------------------------- round trips
@pytest.fixture
def drawn(hand: HandStudy, tmp_path: Path) -> Iterator[HandStudy]:
    """A study of three 256x192 images: Dr. A outlines them (one with a hole) and grades them.

    Large enough that a half-pixel move (masks are traced through pixel centres) keeps IoU > 0.95."""
    src = tmp_path / "big"
    src.mkdir()
    for i in range(3):
        img = np.zeros((192, 256, 3), np.uint8)
        cv2.circle(img, (128, 96), 90, (150, 60 + 40 * i, 40), -1)
        cv2.imwrite(str(src / f"big{i}.png"), img)
    study = Study.create(tmp_path / "bigstudy")
    ids = run_import(study, [src]).imported
    dr_a = create_grader(study, "Dr. A").id
    ring = Polygon([(24, 24), (224, 24), (224, 168), (24, 168)], [[(80, 64), (144, 64), (144, 120), (80, 120)]])
    holed = Shape(id=new_shape_id(), points=list(ring.exterior.coords)[:-1], holes=[list(ring.interiors[0].coords)[:-1]],
                  lesion_type=LesionType.EXTRARETINAL_PROLIFERATION, stage=Stage.S3)
    big = HandStudy(study, ids, {"A": dr_a}, hand.adjudicator, hand.admin)
    big.submit("A", ids[0], grade("yes", "2", plus="pre-plus", zone="II"),
               [rect(24, 24, 200, 160, "2"), rect(208, 120, 248, 184, "1").with_(lesion_type=LesionType.DEMARCATION_LINE)])
    big.submit("A", ids[1], grade("no"))
    big.submit("A", ids[2], grade("yes", "3"), [holed])
    yield big
    study.close()


@pytest.mark.parametrize("fmt", ["via", "labelme", "coco", "masks"])
def test_round_trip(drawn: HandStudy, tmp_path: Path, fmt: str) -> None:
    study = drawn.study
    out = export_annotations(study, fmt, tmp_path / "out", graders=["Dr. A"])
    mapping = {"mask": "lesion_type=ridge"} if fmt == "masks" else None
    summary = import_annotations(study, fmt, out, grader_name="again", mapping=mapping)
    assert not summary.errors
    original, again = _shapes(study, "Dr. A"), _shapes(study, "again")
    assert set(again) == set(original)
    for image, shapes in original.items():
        if fmt in ("via", "labelme"):  # no holes in these formats: compare the outlines
            shapes = [s.with_geometry(s.points) for s in shapes]
        if fmt == "masks":  # a union per image: compare the areas
            union = Polygon()
            for s in shapes:
                union = union.union(_poly(s))
            got = Polygon()
            for s in again[image]:
                got = got.union(_poly(s))
            assert _iou(union, got) >= 0.95
        else:
            _matches(shapes, again[image])
    if fmt != "masks":
        assert _grade_of(study, "again", drawn.images[0])[0].stage is Stage.S2
    # export → import → export again gives the same file
    second = export_annotations(study, fmt, tmp_path / "out2", graders=["again"])
    if fmt == "via":
        a, b = (json.loads(p.read_text())["_via_img_metadata"] for p in (out, second))
        strip = lambda d: {k: [r["shape_attributes"] for r in v["regions"]] for k, v in d.items()}  # noqa: E731
        assert strip(a) == strip(b)


def test_grades_csv_round_trip_and_reimport_replaces(drawn: HandStudy, tmp_path: Path) -> None:
    out = export_annotations(drawn.study, "grades_csv", tmp_path / "csv", graders=["Dr. A"])
    summary = import_annotations(drawn.study, "grades_csv", out)
    assert summary.grades == 3 and not summary.problems
    for image in drawn.images[:3]:
        assert _grade_of(drawn.study, "imported: Dr. A", image) == _grade_of(drawn.study, "Dr. A", image)
    via = export_annotations(drawn.study, "via", tmp_path / "via", graders=["Dr. A"])
    import_annotations(drawn.study, "via", via, grader_name="twice")
    import_annotations(drawn.study, "via", via, grader_name="twice")
    assert len(_shapes(drawn.study, "twice")[drawn.images[0]]) == 2


def test_exports_are_pseudonymous_and_reference(hand: HandStudy, tmp_path: Path) -> None:
    from rop_desktop.services.reference import recompute_references

    drawn = hand
    for name in "ABCD":
        drawn.submit(name, drawn.images[0], grade("yes", "2"), [rect(8, 8, 50, 40, "2")])
    recompute_references(drawn.study)
    for fmt in ("via", "labelme", "coco", "grades_csv"):
        out = export_annotations(drawn.study, fmt, tmp_path / fmt, copy_images=fmt == "labelme")
        files = [out] if out.is_file() else [p for p in out.rglob("*.json")]
        text = "".join(p.read_text(encoding="utf-8") for p in files)
        assert "img0" not in text and str(tmp_path) not in text and "P001" in text
    masks = export_annotations(drawn.study, "masks", tmp_path / "ref", graders="reference")
    ref = read_mask(next(masks.glob("*.png")))
    assert ref[25, 25] == 255 and ref[2, 2] == 0
    per = export_annotations(drawn.study, "masks", tmp_path / "per", per_grader=True)
    assert {p.name for p in per.iterdir()} == {"Dr._A", "Dr._B", "Dr._C", "Dr._D"}


def test_label_masks_and_a_mask_of_another_size(hand: HandStudy, tmp_path: Path) -> None:
    folder = tmp_path / "masks"
    folder.mkdir()
    label = np.zeros((48, 64), np.uint8)
    label[5:20, 5:30] = 1
    label[25:45, 30:60] = 2
    cv2.imwrite(str(folder / "img6_mask.png"), label)
    cv2.imwrite(str(folder / "img7.png"), np.full((30, 30), 255, np.uint8))
    summary = import_annotations(hand.study, "masks", folder, mapping={"2": "lesion_type=extraretinal_proliferation"})
    assert "30x30 but the study's image img7 is 64x48" in str(summary.errors[0])
    kinds = sorted(s.lesion_type.value for s in _shapes(hand.study, summary.grader)[hand.images[6]])
    assert kinds == ["demarcation_line", "extraretinal_proliferation"]


# ---------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_hvdropdb_masks_become_polygons(hvdropdb: Path, tmp_path: Path) -> None:
    names = sorted(p.name for p in (hvdropdb / "masks").glob("*.png"))[:5]
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in names:
        (masks / name).symlink_to(hvdropdb / "masks" / name)
    study = Study.create(tmp_path / "study")
    try:
        summary = import_annotations(study, "masks", masks, images=[hvdropdb / "images" / n for n in names])
        assert len(summary.images) == 5 and not summary.errors
        with study.session() as session:
            by_name = {i.original_name: i.id for i in repo.list_images(session)}
        shapes = _shapes(study, summary.grader)
        for name in names:
            original = read_mask(hvdropdb / "masks" / name) > 0
            polys = [Polygon(s.points, s.holes) for s in shapes[by_name[name]]]
            back = polygons_to_mask([affinity.translate(p, -0.5, -0.5) for p in polys], original.shape) > 0
            dice = 2 * (back & original).sum() / (back.sum() + original.sum())
            assert dice >= 0.98, (name, dice)
    finally:
        study.close()


def test_cli_round_trip_and_exit_codes(hand, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """``rop-desktop annotations export`` then ``import`` on the command line."""
    from rop_desktop.cli import run

    folder = hand.study.root
    hand.study.close()
    out = tmp_path / "export"
    assert run(["annotations", "export", "--study", str(folder), "--format", "grades_csv", str(out)]) == 0
    csv_file = next(out.rglob("*.csv"))
    assert run(["annotations", "import", "--study", str(folder), "--format", "grades_csv", str(csv_file)]) == 0
    assert "imported" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text('{"_via_img_metadata": {')
    assert run(["annotations", "import", "--study", str(folder), "--format", "via", str(broken)]) == 2

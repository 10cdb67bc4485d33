"""Annotation import / export: hand-written VIA 2, labelme and COCO files, mask folders, grade
CSVs, round trips per format, bad input, and the real HVDROPDB ridge masks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from shapely import affinity
from shapely.geometry import Polygon

from rop_desktop.domain.labels import LesionType, Role, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services import accounts
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.annotation_io import AnnotationIOError, export_annotations, import_annotations
from rop_desktop.services.grading import GradingService
from rop_desktop.services.identity import original_file_names
from rop_desktop.services.importer import run_import
from rop_desktop.services.outline_rows import shape_of
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.reference import ReferenceService, recompute_references
from rop_desktop.store import Study, repo
from training.data.io import read_mask
from training.formats.masks import polygons_to_mask

from .conftest import PASSWORD, HandStudy, as_actor, grade, rect


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
    summary = import_annotations(hand.study, hand.admin, "via", project, mapping={
        "ROP stage": "stage", "Lesion": "lesion_type", "DL": "lesion_type=demarcation_line"})
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
    summary = import_annotations(hand.study, hand.admin, "labelme", folder)
    text = "\n".join(map(str, summary.problems))
    assert "polygon with 2 points" in text and "broken.json" in text and "64x100" in text
    assert summary.images == [hand.images[2]] and summary.annotations == 1
    assert summary.grader == "imported: lm"
    shape = _shapes(hand.study, "imported: lm")[hand.images[2]][0]
    assert shape.lesion_type is LesionType.EXTRARETINAL_PROLIFERATION and shape.stage is Stage.S3
    assert _grade_of(hand.study, "imported: lm", hand.images[2])[0].stage is Stage.S3


def test_truncated_json_refuses_the_whole_file(hand: HandStudy, tmp_path: Path) -> None:
    bad = tmp_path / "via.json"
    bad.write_text('{"_via_img_metadata": {"img0.png1": {"filename": "img0.png", "regions": [', encoding="utf-8")
    with pytest.raises(AnnotationIOError, match="invalid JSON"):
        import_annotations(hand.study, hand.admin, "via", bad)
    with pytest.raises(AnnotationIOError, match="unknown annotation format"):
        import_annotations(hand.study, hand.admin, "pascal", bad)
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
    summary = import_annotations(hand.study, hand.admin, "coco", coco)
    assert summary.annotations == 2 and len(summary.errors) == 3  # 2-point polygon, unknown image, 32x32 image
    rle_shape = next(s for s in _shapes(hand.study, summary.grader)[hand.images[4]] if s.holes)
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
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)
    ids = run_import(study, admin, [src]).imported
    dr_a = as_actor(create_account(study, admin, "Dr. A"))
    ring = Polygon([(24, 24), (224, 24), (224, 168), (24, 168)], [[(80, 64), (144, 64), (144, 120), (80, 120)]])
    holed = Shape(id=new_shape_id(), points=list(ring.exterior.coords)[:-1], holes=[list(ring.interiors[0].coords)[:-1]],
                  lesion_type=LesionType.EXTRARETINAL_PROLIFERATION, stage=Stage.S3)
    big = HandStudy(study, ids, {"A": dr_a}, admin, admin)
    big.submit("A", ids[0], grade("yes", "2", plus="pre-plus", zone="II"),
               [rect(24, 24, 200, 160, "2"), rect(208, 120, 248, 184, "1").with_(lesion_type=LesionType.DEMARCATION_LINE)])
    big.submit("A", ids[1], grade("no"))
    big.submit("A", ids[2], grade("yes", "3"), [holed])
    yield big
    study.close()


@pytest.mark.parametrize("fmt", ["via", "labelme", "coco", "masks"])
def test_round_trip(drawn: HandStudy, tmp_path: Path, fmt: str) -> None:
    study = drawn.study
    out = export_annotations(study, drawn.admin, fmt, tmp_path / "out", graders=["Dr. A"])
    mapping = {"mask": "lesion_type=ridge"} if fmt == "masks" else None
    summary = import_annotations(study, drawn.admin, fmt, out, mapping=mapping)
    assert not summary.errors
    original, again = _shapes(study, "Dr. A"), _shapes(study, summary.grader)
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
        assert _grade_of(study, summary.grader, drawn.images[0])[0].stage is Stage.S2
    # export → import → export again gives the same file
    second = export_annotations(study, drawn.admin, fmt, tmp_path / "out2", graders=[summary.grader])
    if fmt == "via":
        a, b = (json.loads(p.read_text())["_via_img_metadata"] for p in (out, second))
        strip = lambda d: {k: [r["shape_attributes"] for r in v["regions"]] for k, v in d.items()}  # noqa: E731
        assert strip(a) == strip(b)


def test_grades_csv_round_trip_and_reimport_replaces(drawn: HandStudy, tmp_path: Path) -> None:
    admin = drawn.admin
    out = export_annotations(drawn.study, admin, "grades_csv", tmp_path / "csv", graders=["Dr. A"])
    summary = import_annotations(drawn.study, admin, "grades_csv", out)
    assert summary.grades == 3 and not summary.errors and summary.accounts_created == ["imported: Dr. A"]
    [columns] = summary.warnings  # the export's patient code and eye are context, not grades: said once
    assert "columns not read: patient, eye: patient / exam data" in columns.message
    for image in drawn.images[:3]:
        assert _grade_of(drawn.study, "imported: Dr. A", image) == _grade_of(drawn.study, "Dr. A", image)
    via = export_annotations(drawn.study, admin, "via", tmp_path / "via", graders=["Dr. A"])
    first = import_annotations(drawn.study, admin, "via", via)
    again = import_annotations(drawn.study, admin, "via", via)  # the import account is reused, its outlines replaced
    assert first.grader == again.grader == "imported: via_project.json" and again.accounts_created == []
    assert len(_shapes(drawn.study, again.grader)[drawn.images[0]]) == 2


def test_exports_are_pseudonymous_and_reference(hand: HandStudy, tmp_path: Path) -> None:
    drawn = hand
    for name in "ABCD":
        drawn.submit(name, drawn.images[0], grade("yes", "2"), [rect(8, 8, 50, 40, "2")])
    recompute_references(drawn.study, drawn.adjudicator)
    for fmt in ("via", "labelme", "coco", "grades_csv"):
        out = export_annotations(drawn.study, drawn.adjudicator, fmt, tmp_path / fmt, copy_images=fmt == "labelme")
        files = [out] if out.is_file() else [p for p in out.rglob("*.json")]
        text = "".join(p.read_text(encoding="utf-8") for p in files)
        assert "img0" not in text and str(tmp_path) not in text and "P0001-OD-20260201-001" in text
        assert re.search(r"\bP001\b", text) is None  # the manifest's patient value stays in the study
    masks = export_annotations(drawn.study, drawn.adjudicator, "masks", tmp_path / "ref", graders="reference")
    ref = read_mask(next(masks.glob("*.png")))
    assert ref[25, 25] == 255 and ref[2, 2] == 0
    per = export_annotations(drawn.study, drawn.admin, "masks", tmp_path / "per", per_grader=True)
    assert {p.name for p in per.iterdir()} == {"Dr._A", "Dr._B", "Dr._C", "Dr._D"}


def test_label_masks_and_a_mask_of_another_size(hand: HandStudy, tmp_path: Path) -> None:
    folder = tmp_path / "masks"
    folder.mkdir()
    label = np.zeros((48, 64), np.uint8)
    label[5:20, 5:30] = 1
    label[25:45, 30:60] = 2
    cv2.imwrite(str(folder / "img6_mask.png"), label)
    cv2.imwrite(str(folder / "img7.png"), np.full((30, 30), 255, np.uint8))
    summary = import_annotations(hand.study, hand.admin, "masks", folder,
                                 mapping={"2": "lesion_type=extraretinal_proliferation"})
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
        admin = create_first_admin(study, "Admin", PASSWORD)
        summary = import_annotations(study, admin, "masks", masks, images=[hvdropdb / "images" / n for n in names])
        assert len(summary.images) == 5 and not summary.errors
        with study.session() as session:
            by_name = {name: i for i, names in original_file_names(session).items() for name in names}
        shapes = _shapes(study, summary.grader)
        for name in names:
            original = read_mask(hvdropdb / "masks" / name) > 0
            polys = [Polygon(s.points, s.holes) for s in shapes[by_name[name]]]
            back = polygons_to_mask([affinity.translate(p, -0.5, -0.5) for p in polys], original.shape) > 0
            dice = 2 * (back & original).sum() / (back.sum() + original.sum())
            assert dice >= 0.98, (name, dice)
    finally:
        study.close()


# ---------------------------------------------------------------------------- who may import and export what
def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    fields = ["image", "grader", "rop", "stage", "quality"]
    lines = [",".join(fields)] + [",".join(row.get(f, "") for f in fields) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _labelme_rect(folder: Path, image: str, x0: float, y0: float, x1: float, y1: float) -> Path:
    folder.mkdir(exist_ok=True)
    return _write(folder / f"{Path(image).stem}.json", {
        "version": "5.5.0", "flags": {"rop": True, "stage_2": True},
        "shapes": [{"label": "ridge", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "group_id": None,
                    "description": "", "shape_type": "polygon", "flags": {"stage_2": True}, "mask": None}],
        "imagePath": image, "imageData": None, "imageHeight": 48, "imageWidth": 64})


def _graders_in(folder: Path) -> set[str]:
    """The grader names a labelme export mentions (its shapes' descriptions)."""
    return {s["description"] for p in folder.glob("*.json") for s in json.loads(p.read_text())["shapes"]}


def test_a_grader_exports_their_own_submitted_work_only(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"), [rect(5, 5, 20, 20)])
    hand.submit("B", i[0], grade("yes", "1"), [rect(30, 5, 50, 20)])
    GradingService(hand.study, hand.graders["B"]).save_shape(i[1], rect(8, 8, 30, 30))  # B's draft outline
    b = hand.graders["B"]
    for graders in (None, ["Dr. B"]):
        out = export_annotations(hand.study, b, "labelme", tmp_path / f"own-{graders is None}", graders=graders)
        assert _graders_in(out) == {"Dr. B"}
        assert sum(len(json.loads(p.read_text())["shapes"]) for p in out.glob("*.json")) == 1  # not the draft
    with_draft = export_annotations(hand.study, b, "labelme", tmp_path / "own-drafts", include_drafts=True)
    assert sum(len(json.loads(p.read_text())["shapes"]) for p in with_draft.glob("*.json")) == 2
    mine = export_annotations(hand.study, b, "grades_csv", tmp_path / "csv")
    assert {row.split(",")[1] for row in mine.read_text().splitlines()[1:]} == {"Dr. B"}
    for graders in (["Dr. A"], ["Dr. B", "Dr. A"], "reference", "Dr. A"):
        with pytest.raises(AccessDenied, match="only the adjudicator or admin role"):
            export_annotations(hand.study, b, "via", tmp_path / "theirs", graders=graders)
        assert not (tmp_path / "theirs").exists()


def test_unsubmitted_work_is_not_exported_unless_asked(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"), [rect(5, 5, 20, 20)])
    drafting = GradingService(hand.study, hand.graders["C"])
    drafting.save_shape(i[0], rect(30, 5, 50, 20))  # C outlines but never submits
    drafting.save_draft(i[0], grade("yes", "3"))
    plain = export_annotations(hand.study, hand.admin, "labelme", tmp_path / "plain")
    assert _graders_in(plain) == {"Dr. A"}
    csv_text = export_annotations(hand.study, hand.admin, "grades_csv", tmp_path / "csv").read_text()
    assert "Dr. C" not in csv_text
    coco = json.loads(export_annotations(hand.study, hand.adjudicator, "coco", tmp_path / "coco").read_text())
    assert {a["attributes"]["grader"] for a in coco["annotations"]} == {"Dr. A"}
    drafts = export_annotations(hand.study, hand.admin, "labelme", tmp_path / "drafts", include_drafts=True)
    assert _graders_in(drafts) == {"Dr. A", "Dr. C"}
    with hand.study.session() as session:
        event = repo.audit_trail(session, "annotations")[-1]
    assert event.grader_id == hand.admin.id and event.after["include_drafts"] is True


def test_only_an_admin_imports_and_an_import_never_writes_as_someone(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"))
    file = _csv(tmp_path / "g.csv", [{"image": hand.name_of(i[0]), "rop": "no", "stage": "0", "quality": "gradable"}])
    for who in (hand.graders["B"], hand.graders["A"], hand.adjudicator):
        with pytest.raises(AccessDenied, match="only the admin role may import annotations"):
            import_annotations(hand.study, who, "grades_csv", file, into_grader="Dr. A")
    assert _grade_of(hand.study, "Dr. A", i[0])[0].stage is Stage.S2
    with hand.study.session() as session:
        assert not [g for g in repo.list_graders(session, active_only=False) if g.name.startswith("imported")]
    second = as_actor(create_account(hand.study, hand.admin, "Second admin", Role.ADMIN, password=PASSWORD))
    accounts.set_role(hand.study, hand.admin, second.id, Role.GRADER)  # demoted after signing in
    with pytest.raises(AccessDenied):
        import_annotations(hand.study, second, "grades_csv", file)


def test_into_grader_keeps_submitted_work_lists_conflicts_and_audits(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"))
    GradingService(hand.study, hand.graders["A"]).save_draft(i[1], grade("yes", "1"))
    file = _csv(tmp_path / "theirs.csv", [
        {"image": hand.name_of(i[0]), "rop": "yes", "stage": "3", "quality": "gradable"},   # differs: kept
        {"image": hand.name_of(i[1]), "rop": "no", "stage": "0", "quality": "gradable"},    # a draft: replaced
        {"image": hand.name_of(i[2]), "rop": "yes", "stage": "1", "quality": "gradable"}])  # nothing yet
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file, into_grader="Dr. A")
    assert summary.incomplete and summary.images == [i[1], i[2]]
    [conflict] = summary.conflicts
    assert conflict.image == hand.name_of(i[0]) and conflict.differences == ("stage: 2 → 3",)
    assert "replaced the unsubmitted work of Dr. A" in str(summary.warnings[0])
    values, submitted = _grade_of(hand.study, "Dr. A", i[0])
    assert submitted and values.stage is Stage.S2
    assert _grade_of(hand.study, "Dr. A", i[1]) == (grade("no"), True)
    with hand.study.session() as session:
        events = [e for e in repo.audit_trail(session, "grade") if e.action == "import"]
    assert {e.grader_id for e in events} == {hand.admin.id}
    replaced = next(e for e in events if e.before is not None)
    assert replaced.before == {"values": grade("yes", "1").as_dict(), "submitted": False}
    assert replaced.after["target"] == "Dr. A" and replaced.after["source"] == "theirs.csv"
    assert replaced.after["values"]["stage"] == "0"
    again = import_annotations(hand.study, hand.admin, "grades_csv", file, into_grader="Dr. A")
    assert len(again.unchanged) == 2 and len(again.conflicts) == 1 and again.grades == 0


def test_into_grader_keeps_submitted_outlines(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    hand.submit("A", i[0], grade("yes", "2"), [rect(10.5, 10.5, 30.5, 20.5)])
    name = hand.name_of(i[0])
    same = import_annotations(hand.study, hand.admin, "labelme", _labelme_rect(tmp_path / "same", name, 10, 10, 30, 20),
                              into_grader="Dr. A")
    assert same.unchanged == [name] and not same.conflicts
    moved = import_annotations(hand.study, hand.admin, "labelme",
                               _labelme_rect(tmp_path / "moved", name, 12, 10, 30, 20), into_grader="Dr. A")
    assert moved.conflicts[0].differences == ("outlines: 1 submitted, 1 in the file, drawn differently",)
    [kept] = _shapes(hand.study, "Dr. A")[i[0]]
    assert [list(p) for p in kept.points] == [[10.5, 10.5], [30.5, 10.5], [30.5, 20.5], [10.5, 20.5]]


def test_an_import_never_takes_over_an_account_it_did_not_make(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    squatter = as_actor(create_account(hand.study, hand.admin, "imported: g.csv"))
    GradingService(hand.study, squatter).submit(i[0], grade("yes", "2"))  # a person's account of that name
    file = _csv(tmp_path / "g.csv", [{"image": hand.name_of(i[0]), "rop": "no", "stage": "0", "quality": "gradable"}])
    with pytest.raises(AnnotationIOError, match="no import made"):
        import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert _grade_of(hand.study, "imported: g.csv", i[0])[0].stage is Stage.S2
    with pytest.raises(AnnotationIOError, match=r"no account called 'Dr. Nobody'"):
        import_annotations(hand.study, hand.admin, "grades_csv", file, into_grader="Dr. Nobody")
    several = _csv(tmp_path / "several.csv", [
        {"image": hand.name_of(i[1]), "grader": "X", "rop": "no", "stage": "0", "quality": "gradable"},
        {"image": hand.name_of(i[1]), "grader": "Y", "rop": "no", "stage": "0", "quality": "gradable"}])
    with pytest.raises(AnnotationIOError, match="several graders"):
        import_annotations(hand.study, hand.admin, "grades_csv", several, into_grader="Dr. A")


def test_the_import_account_votes_but_nobody_signs_in_as_it(hand: HandStudy, tmp_path: Path) -> None:
    i = hand.images
    file = _csv(tmp_path / "votes.csv", [{"image": hand.name_of(i[0]), "rop": "yes", "stage": "2",
                                          "quality": "gradable"}])
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert summary.accounts_created == ["imported: votes.csv"]
    with pytest.raises(accounts.AuthenticationError):
        accounts.sign_in(hand.study, "imported: votes.csv", "")
    assert "imported: votes.csv" not in {g.name for g in accounts.sign_in_choices(hand.study)}
    with hand.study.session() as session:
        account = next(g for g in repo.list_graders(session, active_only=False) if g.name == "imported: votes.csv")
        assert not account.active and account.password_hash is None and account.role is Role.GRADER
        created = repo.audit_trail(session, "grader", account.id)[0]
    assert created.grader_id == hand.admin.id and created.after["how"] == "import"
    hand.votes(i[0], grade("yes", "2"), grade("yes", "2"), grade("no"), grade("no"))
    state = ReferenceService(hand.study, hand.adjudicator).current(i[0])
    assert state is not None and state.values.stage is Stage.S2  # 3 of 5 with the import's vote

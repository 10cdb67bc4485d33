"""Files written in other tools' own layouts, imported as a study coordinator would, up to a settled
reference standard: a wide four-grader CSV, four graders' VIA 2 region files (JSON and CSV), labelme 5
folders with and without negatives, COCO with stage categories. The settled references are compared
with a majority computed here, independently of the vote code. Also: imports are additive (outlines
after grades keep the stages), a changed value is a conflict, bad values refuse their row, repairs
are warnings naming the item, and a file cannot write as an admin or over a person's work."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from rop_desktop.domain.labels import LesionType, Role, Stage
from rop_desktop.services.annotation_io import import_annotations
from rop_desktop.services.outline_rows import shape_of
from rop_desktop.services.reference import ReferenceService
from rop_desktop.store import repo

from .conftest import HandStudy, grade

#: image index (img0.png ... img7.png of the hand study) → the stages four graders G1..G4 gave it
VOTES: dict[int, list[str]] = {
    0: ["2", "2", "2", "3"],
    1: ["0", "0", "0", "0"],
    2: ["1", "1", "2", "1"],
    3: ["0", "1", "0", "0"],
    4: ["3", "3", "2", "2"],  # 2 against 2: an adjudicator's
    5: ["2", "2", "2", "2"],
    6: ["0", "0", "1", "1"],  # 2 against 2
    7: ["3", "3", "3", "0"],
}
GRADERS = ("G1", "G2", "G3", "G4")


def _majority(stages: list[str]) -> tuple[str, str] | None:
    """(rop, stage) that a strict majority of the graders gave, or None: computed here, not by the app."""
    stage, count = Counter(stages).most_common(1)[0]
    if count * 2 <= len(stages):
        return None
    return ("no" if stage == "0" else "yes"), stage


def _references(hand: HandStudy, images: list[int]) -> dict[int, tuple[str, str] | None]:
    service = ReferenceService(hand.study, hand.adjudicator)
    out = {}
    for index in images:
        state = service.current(hand.images[index])
        out[index] = None if state is None else (state.values.rop.value, state.values.stage.value)
    return out


def _grade_of(hand: HandStudy, account: str, index: int) -> tuple[object, bool] | None:
    with hand.study.session() as session:
        grader = next((g for g in repo.list_graders(session, active_only=False) if g.name == account), None)
        row = repo.grade_for(session, hand.images[index], grader.id) if grader is not None else None
        return (row.values, row.submitted) if row is not None else None


def _outlines(hand: HandStudy, account: str, index: int) -> list:
    with hand.study.session() as session:
        grader = next(g for g in repo.list_graders(session, active_only=False) if g.name == account)
        return [shape_of(a) for a in repo.annotations_for(session, hand.images[index], grader.id)]


def _box(x0: int, y0: int, x1: int, y1: int) -> dict[str, object]:
    return {"name": "polygon", "all_points_x": [x0, x1, x1, x0], "all_points_y": [y0, y0, y1, y1]}


# ---------------------------------------------------------------------------- grades CSV, wide
def _wide_csv(path: Path, votes: dict[int, list[str]], *, bad: dict[tuple[int, str], str] | None = None) -> Path:
    """``filename, G1_rop, G1_stage, ..., G4_stage, hospital_diagnosis`` as a spreadsheet writes it."""
    bad = bad or {}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", *(f"{g}_{f}" for g in GRADERS for f in ("rop", "stage")), "hospital_diagnosis"])
        for index, stages in votes.items():
            cells = []
            for g, stage in zip(GRADERS, stages, strict=False):
                cells += [bad.get((index, f"{g}_rop"), "no" if stage == "0" else "yes"),
                          bad.get((index, f"{g}_stage"), stage)]
            writer.writerow([f"img{index}.png", *cells, "stage 2"])
    return path


def test_a_wide_four_grader_csv_settles_like_four_graders(hand: HandStudy, tmp_path: Path) -> None:
    file = _wide_csv(tmp_path / "four graders.csv", VOTES)
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert not summary.errors and summary.grades == 32
    assert summary.accounts_created == [f"imported: {g}" for g in GRADERS]
    [unused] = summary.warnings
    assert "hospital_diagnosis: patient / exam data" in unused.message and "manifest update" in unused.message
    assert _references(hand, list(VOTES)) == {i: _majority(stages) for i, stages in VOTES.items()}
    values, submitted = _grade_of(hand, "imported: G2", 2)
    assert submitted and values == grade("yes", "1")


def test_unknown_values_refuse_their_row_with_line_and_column(hand: HandStudy, tmp_path: Path) -> None:
    file = _wide_csv(tmp_path / "bad.csv", {0: VOTES[0], 1: VOTES[1], 2: VOTES[2]},
                     bad={(1, "G2_rop"): "maybe", (2, "G4_stage"): "7"})
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert summary.incomplete and summary.grades == 4  # only img0's row
    messages = sorted(str(p) for p in summary.errors)
    assert messages == [
        f"{file}: line 3, column 'G2_rop': ROP 'maybe' is not yes/no/1/0; nothing of this row imported",
        f"{file}: line 4, column 'G4_stage': stage '7' is not one of 0, 1, 2, 3, 4A, 4B, 5A, 5B, 5C; nothing of "
        + "this row imported"]
    for grader in GRADERS:  # nothing stored for the bad rows: not even an empty submitted grade
        assert _grade_of(hand, f"imported: {grader}", 1) is None
        assert _grade_of(hand, f"imported: {grader}", 2) is None


def test_a_long_csv_with_a_grader_column_and_aliases(hand: HandStudy, tmp_path: Path) -> None:
    file = tmp_path / "long.csv"
    file.write_text("File Name,Rater,ROP stage,Plus disease,Zone,notes\n"
                    "img0.png,X,Stage 2,pre-plus,zone II,fine\n"
                    "img0.png,Y,3,plus,I,\n"
                    "img1.png,X,,,,\n", encoding="utf-8")
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert summary.grades == 2 and not summary.errors
    assert "notes: not a grade field" in str(summary.warnings[0]) and "no grade values" in str(summary.warnings[1])
    values, _ = _grade_of(hand, "imported: X", 0)
    assert (values.stage, values.plus.value, values.zone.value) == (Stage.S2, "pre-plus", "II")


def test_a_grader_map_names_existing_accounts_whose_submitted_work_is_kept(hand: HandStudy, tmp_path: Path) -> None:
    hand.submit("A", hand.images[0], grade("yes", "3"))
    file = _wide_csv(tmp_path / "mapped.csv", {0: VOTES[0], 1: VOTES[1]})
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file, grader_map={"G1": "Dr. A"})
    [conflict] = summary.conflicts
    assert str(conflict).startswith("img0.png: Dr. A submitted other work, kept (stage: 3 → 2")
    assert _grade_of(hand, "Dr. A", 0)[0].stage is Stage.S3
    assert _grade_of(hand, "Dr. A", 1) == (grade("no"), True)
    assert "imported: G1" not in summary.accounts and "imported: G2" in summary.accounts


def test_a_csv_grader_named_like_an_admin_is_only_an_import_account(hand: HandStudy, tmp_path: Path) -> None:
    file = tmp_path / "sneaky.csv"
    file.write_text("image,Admin_stage,Admin_rop,Dr. A_stage\nimg0.png,3,yes,3\n", encoding="utf-8")
    summary = import_annotations(hand.study, hand.admin, "grades_csv", file)
    assert summary.accounts_created == ["imported: Admin", "imported: Dr. A"]
    with hand.study.session() as session:
        graders = {g.name: g for g in repo.list_graders(session, active_only=False)}
    assert [n for n, g in graders.items() if g.role is Role.ADMIN] == ["Admin"]
    assert graders["imported: Admin"].role is Role.GRADER and not graders["imported: Admin"].active
    assert _grade_of(hand, "Admin", 0) is None and _grade_of(hand, "Dr. A", 0) is None


# ---------------------------------------------------------------------------- additive, conflicts
def _labelme(folder: Path, image: str, shapes: list[dict[str, object]]) -> Path:
    """A labelme 5 file as labelme saves it next to its image."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{Path(image).stem}.json"
    path.write_text(json.dumps({"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image,
                                "imageData": None, "imageHeight": 48, "imageWidth": 64}), encoding="utf-8")
    return path


def _shape(label: str, x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
    return {"label": label, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "group_id": None,
            "description": "", "shape_type": "polygon", "flags": {}, "mask": None}


def test_outlines_after_grades_keep_the_graders_stages(hand: HandStudy, tmp_path: Path) -> None:
    grades = tmp_path / "grades.csv"
    grades.write_text("image,grader,rop,stage,plus\nimg2.png,lm,yes,2,pre-plus\nimg3.png,lm,no,0,normal\n",
                      encoding="utf-8")
    import_annotations(hand.study, hand.admin, "grades_csv", grades)
    _labelme(tmp_path / "lm", "img2.png", [_shape("ridge", 10, 10, 40, 30)])
    outlines = import_annotations(hand.study, hand.admin, "labelme", tmp_path / "lm")  # account "imported: lm"
    assert outlines.grader == "imported: lm" and not outlines.incomplete and outlines.annotations == 1
    values, submitted = _grade_of(hand, "imported: lm", 2)
    assert submitted and (values.rop.value, values.stage, values.plus.value) == ("yes", Stage.S2, "pre-plus")
    assert _grade_of(hand, "imported: lm", 3)[0] == grade("no", plus="normal")  # not in the outline file
    # the same outlines again: nothing to do; a file that says otherwise: a conflict, never an overwrite
    assert import_annotations(hand.study, hand.admin, "labelme", tmp_path / "lm").unchanged == ["img2.png"]
    moved = tmp_path / "moved" / "lm"
    moved.parent.mkdir()
    _labelme(moved, "img2.png", [_shape("stage_3", 12, 10, 40, 30)])
    conflict = import_annotations(hand.study, hand.admin, "labelme", moved)
    assert conflict.incomplete and str(conflict.conflicts[0]) == (
        "img2.png: imported: lm already holds other values, kept (stage: 2 → 3; outlines: 1 there, 1 in the "
        "file, drawn differently)")
    assert _grade_of(hand, "imported: lm", 2)[0].stage is Stage.S2
    replaced = import_annotations(hand.study, hand.admin, "labelme", moved, replace=True)
    assert not replaced.incomplete and _grade_of(hand, "imported: lm", 2)[0].stage is Stage.S3
    [outline] = _outlines(hand, "imported: lm", 2)
    assert (outline.lesion_type, outline.stage) == (LesionType.EXTRARETINAL_PROLIFERATION, Stage.S3)


def test_repairs_are_warnings_naming_the_item(hand: HandStudy, tmp_path: Path) -> None:
    bowtie = {"name": "polygon", "all_points_x": [5, 25, 25, 5], "all_points_y": [5, 25, 5, 25]}
    repeated = {"name": "polygon", "all_points_x": [30, 30, 50, 50, 30], "all_points_y": [30, 30, 30, 40, 40]}
    regions = {"img0.png100": {"filename": "img0.png", "size": 100, "file_attributes": {},
                               "regions": [{"shape_attributes": bowtie, "region_attributes": {"stage": "2"}},
                                           {"shape_attributes": repeated, "region_attributes": {"stage": "2"}}]}}
    file = tmp_path / "regions.json"
    file.write_text(json.dumps(regions), encoding="utf-8")
    summary = import_annotations(hand.study, hand.admin, "via", file)
    warnings = [str(w) for w in summary.warnings]
    assert f"warning: {file}: ['img0.png100'].regions[0]: img0.png: the outline crosses itself: imported as 2 " \
           "outlines" in warnings
    assert f"warning: {file}: ['img0.png100'].regions[1]: img0.png: 1 repeated vertex dropped" in warnings
    assert summary.annotations == len(_outlines(hand, summary.grader, 0)) == 3


# ---------------------------------------------------------------------------- outline files → grades → votes
def _via_regions(votes: dict[int, list[str]], grader: int) -> dict[str, object]:
    """One grader's VIA 2 *region data export* (Annotation → Export annotations as json): every image
    listed; a stage-0 image without regions, the others with a ridge labelled by its stage."""
    out: dict[str, object] = {}
    for index, stages in votes.items():
        stage = stages[grader]
        regions = []
        if stage != "0":
            regions.append({"shape_attributes": _box(10, 10, 40, 30),
                            "region_attributes": {"type": "ridge", "stage": stage} if stage != "3"
                            else {"label": "Stage 3"}})
            if stage == "2":  # a lower-stage region too: the image takes the highest
                regions.append({"shape_attributes": _box(45, 5, 60, 20), "region_attributes": {"stage": "1"}})
        out[f"img{index}.png{1000 + index}"] = {"filename": f"img{index}.png", "size": 1000 + index,
                                                "regions": regions, "file_attributes": {}}
    return out


def test_four_graders_via_region_files_settle_by_majority(hand: HandStudy, tmp_path: Path) -> None:
    for k, name in enumerate(GRADERS):
        file = tmp_path / f"{name}.json"
        file.write_text(json.dumps(_via_regions(VOTES, k)), encoding="utf-8")
        summary = import_annotations(hand.study, hand.admin, "via", file)
        assert not summary.incomplete and summary.grades == len(VOTES), summary.lines()
    assert _references(hand, list(VOTES)) == {i: _majority(stages) for i, stages in VOTES.items()}
    negative, _ = _grade_of(hand, "imported: G1.json", 1)
    assert negative == grade("no")


def test_via_region_csv_export(hand: HandStudy, tmp_path: Path) -> None:
    file = tmp_path / "via_export.csv"
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "file_size", "file_attributes", "region_count", "region_id",
                         "region_shape_attributes", "region_attributes"])
        writer.writerow(["img0.png", 1000, "{}", 2, 0, json.dumps(_box(10, 10, 40, 30)), json.dumps({"stage": "3"})])
        writer.writerow(["img0.png", 1000, "{}", 2, 1, json.dumps(_box(45, 5, 60, 20)), json.dumps({"stage": "1"})])
        writer.writerow(["img1.png", 1001, "{}", 0, 0, "{}", "{}"])
    summary = import_annotations(hand.study, hand.admin, "via", file)
    assert not summary.incomplete and summary.annotations == 2
    assert _grade_of(hand, "imported: via_export.csv", 0)[0] == grade("yes", "3")
    assert _grade_of(hand, "imported: via_export.csv", 1)[0] == grade("no")
    off = import_annotations(hand.study, hand.admin, "via", file, empty_means_negative=False,
                             mapping={"stage": "stage"})
    assert off.unchanged == ["img0.png"] and off.grades == 0  # img1 says nothing now


@pytest.mark.parametrize("negatives", [True, False])
def test_labelme_folders_with_and_without_negatives(hand: HandStudy, tmp_path: Path, negatives: bool) -> None:
    for k, name in enumerate(GRADERS):
        folder = tmp_path / name
        for index, stages in VOTES.items():
            if stages[k] != "0":
                _labelme(folder, f"img{index}.png", [_shape(f"stage_{stages[k]}", 10, 10, 40, 30)])
            elif negatives:  # labelme saves an empty file for an image looked at and left unlabelled
                _labelme(folder, f"img{index}.png", [])
        summary = import_annotations(hand.study, hand.admin, "labelme", folder)
        assert not summary.incomplete
    expected = {}
    for index, stages in VOTES.items():
        given = [s for s in stages if negatives or s != "0"]
        expected[index] = _majority(stages) if negatives else None if len(given) < 4 else _majority(given)
    assert _references(hand, list(VOTES)) == expected
    assert (_grade_of(hand, "imported: G1", 1) is None) is not negatives


def test_coco_categories_named_by_stage(hand: HandStudy, tmp_path: Path) -> None:
    file = tmp_path / "instances.json"
    file.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"img{i}.png", "width": 64, "height": 48} for i in range(3)],
        "categories": [{"id": 1, "name": "stage 1"}, {"id": 2, "name": "thick ridge"}, {"id": 3, "name": "stage 3"}],
        "annotations": [
            {"id": 1, "image_id": 0, "category_id": 1, "iscrowd": 0, "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15]]},
            {"id": 2, "image_id": 0, "category_id": 3, "iscrowd": 0, "segmentation": [[30, 5, 50, 5, 50, 25]]},
            {"id": 3, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": [[5, 5, 20, 5, 20, 15]]}]}),
        encoding="utf-8")
    summary = import_annotations(hand.study, hand.admin, "coco", file, mapping={"thick ridge": "stage=2"})
    assert not summary.incomplete and not summary.warnings
    assert _grade_of(hand, summary.grader, 0)[0] == grade("yes", "3")
    assert _grade_of(hand, summary.grader, 1)[0] == grade("yes", "2")
    assert _grade_of(hand, summary.grader, 2)[0] == grade("no")
    assert {s.lesion_type for s in _outlines(hand, summary.grader, 1)} == {LesionType.RIDGE}

"""Exports of the reference standard: CSV and training snapshot (hand-made study and demo study)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from rop_desktop.services.accounts import sign_in
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_GRADER, DEMO_PASSWORDS, TRUTH_FILE
from rop_desktop.services.export import REFERENCE_CSV_COLUMNS, ExportError, export_reference_csv, export_snapshot
from rop_desktop.services.identity import original_file_names
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.reference import ReferenceService, recompute_references
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Identity
from training.data.io import read_mask
from training.formats.masks import polygons_to_mask
from training.snapshot import Snapshot

from .conftest import UNGRADABLE, HandStudy, grade, rect

YES, NO = grade("yes", "2"), grade("no")


@pytest.fixture
def decided(hand: HandStudy) -> HandStudy:
    """i0: ROP 3-1 with outlines; i1: no ROP; i2: ungradable; i3: adjudicated with Dr. C's outline."""
    i = hand.images
    small, large = rect(10.2, 10.2, 19.8, 17.8), rect(5.2, 5.2, 25.8, 20.8)
    hand.votes(i[0], YES, YES, YES, NO, shapes=[[small], [rect(10.2, 10.2, 19.8, 17.8)], [large]])
    hand.votes(i[1], NO, NO, NO, NO)
    hand.votes(i[2], UNGRADABLE, UNGRADABLE, UNGRADABLE, NO)
    hand.votes(i[3], YES, YES, NO, NO, shapes=[[rect(30.2, 30.2, 40.8, 35.8)], [], [], []])
    hand.submit("C", i[4], NO)  # insufficient: no reference, not exported
    recompute_references(hand.study, hand.adjudicator)
    judge = ReferenceService(hand.study, hand.adjudicator)
    judge.case(i[3])
    judge.adjudicate(i[3], YES, polygons_from="Dr. A")
    return hand


def _box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The 48x64 mask of the pixels x0..x1, y0..y1 (inclusive)."""
    out = np.zeros((48, 64), bool)
    out[y0:y1 + 1, x0:x1 + 1] = True
    return out


def _records(snapshot: Snapshot, hand: HandStudy) -> dict[int, object]:
    with hand.study.session() as session:
        by_sha = {im.sha256: im.id for im in repo.list_images(session)}
    return {by_sha[r.meta["sha256"]]: r for r in snapshot}


def test_snapshot_of_the_reference_standard(decided: HandStudy, tmp_path: Path) -> None:
    i = decided.images
    snapshot = export_snapshot(decided.study, decided.admin, tmp_path / "snap")
    loaded = Snapshot.load(tmp_path / "snap")
    assert loaded.stored_hash == snapshot.stored_hash == loaded.verify()
    records = _records(loaded, decided)
    assert set(records) == {i[0], i[1], i[2], i[3]}
    r0, r1, r2, r3 = (records[k] for k in i[:4])
    assert (r0.label_binary, r0.stage, r0.stage3, r0.quality) == (1, "2", 1, "gradable")
    assert (r0.patient, r0.eye, r0.camera, r0.exam_date) == ("P0001", "OD", "RetCam 3", "2026-02-01")
    assert r0.id == "P0001-OD-20260201-001" and Path(r0.image).name == "P0001-OD-20260201-001.png"
    assert r0.graders["Dr. D"] == {"rop": 0, "stage": "0", "plus": None, "quality": "gradable"}
    # shapes are pixel-corner, snapshots pixel-centre: the 3-of-4 outline covers exactly pixels 10..19 x 10..17
    assert np.array_equal(read_mask(loaded.mask_path(r0)) > 0, _box(10, 10, 19, 17))
    assert np.array_equal(polygons_to_mask(r0.polygons, (48, 64)) > 0, _box(10, 10, 19, 17))
    assert r0.polygons[0].stage == "2" and r0.polygons[0].lesion_type == "ridge"
    assert r1.label_binary == 0 and not read_mask(loaded.mask_path(r1)).any()  # no ROP: an empty mask
    assert (r2.quality, r2.label_binary, r2.stage, r2.mask, r2.polygons) == ("ungradable", None, None, None, [])
    assert r3.meta["method"] == "adjudicated" and r3.meta["outline"] == {"grader": "Dr. A"}
    assert np.array_equal(read_mask(loaded.mask_path(r3)) > 0, _box(30, 30, 40, 35))
    assert all(r.source is None for r in loaded)
    with decided.study.session() as session:
        event = repo.audit_trail(session, "snapshot")[-1]
    assert event.after["hash"] == snapshot.stored_hash and event.grader_id == decided.admin.id


def test_rules_filters_and_a_stable_hash(decided: HandStudy, tmp_path: Path) -> None:
    judge = decided.adjudicator
    first = export_snapshot(decided.study, judge, tmp_path / "a")
    again = export_snapshot(decided.study, judge, tmp_path / "b")
    assert first.stored_hash == again.stored_hash
    rewritten = export_snapshot(decided.study, judge, tmp_path / "a", overwrite=True)
    assert rewritten.stored_hash == first.stored_hash
    union = export_snapshot(decided.study, judge, tmp_path / "union", mask_rule="union")
    r0 = _records(Snapshot.load(tmp_path / "union"), decided)[decided.images[0]]
    assert np.array_equal(read_mask(union.mask_path(r0)) > 0, _box(5, 5, 25, 20))
    assert union.stored_hash != first.stored_hash
    binary = export_snapshot(decided.study, judge, tmp_path / "binary", task_filter="binary")
    assert len(binary) == 3 and all(r.quality == "gradable" for r in binary)
    segmentation = export_snapshot(decided.study, judge, tmp_path / "seg", task_filter="segmentation")
    assert len(segmentation) == 3 and all(r.mask for r in segmentation)
    with pytest.raises(ExportError, match="task filter 'masks'"):
        export_snapshot(decided.study, judge, tmp_path / "x", task_filter="masks")
    with pytest.raises(ExportError, match="mask rule"):
        export_snapshot(decided.study, judge, tmp_path / "y", mask_rule="most")
    with pytest.raises(ExportError, match="not empty"):
        export_snapshot(decided.study, judge, tmp_path / "a")


def test_reference_csv(decided: HandStudy, tmp_path: Path) -> None:
    path = export_reference_csv(decided.study, decided.adjudicator, tmp_path / "reference.csv")
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames) == REFERENCE_CSV_COLUMNS and len(rows) == 4
    adjudicated = next(r for r in rows if r["method"] == "adjudicated")
    assert adjudicated["decided_by"] == "Dr. Judge" and adjudicated["patient"] == "P0002"
    assert (adjudicated["rop"], adjudicated["stage"], adjudicated["quality"]) == ("yes", "2", "gradable")
    assert {r["method"] for r in rows} == {"majority", "unanimous", "ungradable_majority", "adjudicated"}
    assert all(r["decided_at"] and len(r["sha256"]) == 64 and r["image"].startswith(r["patient"] + "-") for r in rows)
    assert "comment" not in reader.fieldnames  # free text never leaves with the reference
    _assert_pseudonymous(path.read_text(encoding="utf-8"), decided.study)


def test_graders_export_neither_the_reference_nor_a_snapshot(decided: HandStudy, tmp_path: Path) -> None:
    for grader in decided.graders.values():  # every one of them has submitted: blinding is not the point
        with pytest.raises(AccessDenied, match="only the adjudicator or admin role"):
            export_reference_csv(decided.study, grader, tmp_path / "ref.csv")
        with pytest.raises(AccessDenied):
            export_snapshot(decided.study, grader, tmp_path / "snap")
    assert not (tmp_path / "ref.csv").exists() and not (tmp_path / "snap").exists()


def _assert_pseudonymous(text: str, study: Study) -> None:
    """No value of the identity table (manifest patient ids, file names and their stems, source
    folders) in ``text``, nor the study's folder."""
    with study.session() as session:
        rows = [tuple(r) for r in session.execute(select(Identity.kind, Identity.value))]
    assert rows
    for kind, value in rows:
        secrets = {value, Path(value).stem, str(Path(value).parent)} if kind != "patient_id" else {value}
        for secret in secrets:
            assert re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) is None, (kind, secret)
    assert str(study.root) not in text


def test_demo_study_export(demo_study_dir: Path, tmp_path: Path) -> None:
    with Study.open(demo_study_dir) as study:
        judge = sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
        recompute_references(study, judge)
        snapshot = export_snapshot(study, judge, tmp_path / "demo-snap")
        assert export_snapshot(study, judge, tmp_path / "again").stored_hash == snapshot.stored_hash
        loaded = Snapshot.load(tmp_path / "demo-snap")
        assert loaded.verify() == snapshot.stored_hash and len(loaded) > 0
        manifest = (tmp_path / "demo-snap" / "manifest.json").read_text(encoding="utf-8")
        _assert_pseudonymous(manifest, study)
        csv_path = export_reference_csv(study, judge, tmp_path / "reference.csv")
        grader = sign_in(study, DEMO_GRADER, "")
        with pytest.raises(AccessDenied, match="only the adjudicator or admin role"):
            export_reference_csv(study, grader, tmp_path / "mine.csv")
        assert not (tmp_path / "mine.csv").exists()
        _assert_pseudonymous(csv_path.read_text(encoding="utf-8"), study)
        with study.session() as session:
            imported_as = original_file_names(session)
            names = {im.sha256: imported_as[im.id][0] for im in repo.list_images(session)}
    truth = json.loads((demo_study_dir / TRUTH_FILE).read_text(encoding="utf-8"))["images"]
    overlap = total = lesions = 0
    for record in loaded:
        lesions_here = truth[names[record.meta["sha256"]]]["truth"]["lesions"]
        if not record.mask or not lesions_here:
            continue
        mask = read_mask(loaded.mask_path(record)) > 0
        # demo truth polygons are in pixel-centre coordinates (rop_desktop/demo/files.py)
        expected = polygons_to_mask([[lesion["points"]] for lesion in lesions_here], mask.shape) > 0
        overlap += int((mask & expected).sum())
        total += int(mask.sum() + expected.sum())
        lesions += 1
    assert lesions >= 5
    assert 2 * overlap / total >= 0.9  # Dice of the consensus masks with the truth, pooled over the images

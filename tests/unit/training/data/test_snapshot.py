"""Snapshot folders: write → load round trip, content hash, precise validation errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data.io import read_mask, write_png
from training.snapshot import MANIFEST, Snapshot, SnapshotError, SnapshotPolygon, SnapshotRecord, SnapshotWriter

SQUARE = SnapshotPolygon([[(5.0, 5.0), (20.0, 5.0), (20.0, 20.0), (5.0, 20.0)],
                          [(10.0, 10.0), (14.0, 10.0), (14.0, 14.0), (10.0, 14.0)]], "ridge", "2")


def _write(folder: Path, fundus, source: Path | None = None, stage_b: str = "3") -> Snapshot:
    rgb_a, mask_a = fundus(seed=1)
    rgb_b, _ = fundus(seed=2)
    with SnapshotWriter(folder) as w:
        w.add(rgb_a, id="a", patient="p1", eye="OD", camera="RetCam 3", exam_date="2024-03-01", stage="2",
              plus="pre-plus", quality="gradable", mask=mask_a,
              graders={"g1": {"rop": 1, "stage": "2"}, "g2": {"rop": 0, "stage": "0"}}, meta={"ga_weeks": 31})
        w.add(rgb_b, id="b", patient="p1", eye="OS", stage=stage_b, polygons=[SQUARE])
        if source is not None:
            w.add(source, patient="p2", label_binary=0, split="test")
    return Snapshot.load(folder)


def test_write_load_round_trip(tmp_path: Path, fundus) -> None:
    src_rgb, _ = fundus(seed=5)
    source = tmp_path / "raw" / "photo 5.png"
    write_png(source, src_rgb)
    snap = _write(tmp_path / "snap", fundus, source)

    assert [r.id for r in snap] == ["a", "b", "photo 5"]
    a, b, c = snap.records
    assert (a.stage, a.stage3, a.label_binary, a.plus, a.eye, a.camera) == ("2", 1, 1, "pre-plus", "OD", "RetCam 3")
    assert a.graders["g2"] == {"rop": 0, "stage": "0"} and a.meta == {"ga_weeks": 31}
    assert (b.stage3, b.label_binary) == (2, 1)
    assert b.polygons == [SQUARE]
    assert (c.label_binary, c.stage, c.split, c.source) == (0, None, "test", str(source))
    assert c.image == "images/photo_5.png"  # file names made safe, ids kept
    # images are byte-identical copies/links; masks are single-channel 0/255
    assert (snap.root / c.image).read_bytes() == source.read_bytes()
    mask_a = cv2.imread(str(snap.path(a.mask)), cv2.IMREAD_UNCHANGED)
    assert mask_a.ndim == 2 and set(np.unique(mask_a)) <= {0, 255}
    np.testing.assert_array_equal(mask_a, fundus(seed=1)[1])
    # polygons without a mask are rasterised into one (the hole stays empty)
    mask_b = read_mask(snap.path(b.mask))
    assert mask_b[7, 7] == 255 and mask_b[12, 12] == 0 and mask_b[30, 30] == 0
    # the stored hash is the content hash; records survive to_dict/from_dict
    assert snap.stored_hash == snap.content_hash() == snap.verify()
    assert all(SnapshotRecord.from_dict(r.to_dict()) == r for r in snap)
    # one record per line, so a reader can find record N
    lines = (snap.root / MANIFEST).read_text().splitlines()
    assert sum(line.lstrip().startswith('{"id"') for line in lines) == 3


def test_hash_is_stable_and_tracks_every_change(tmp_path: Path, fundus) -> None:
    first = _write(tmp_path / "one", fundus)
    second = _write(tmp_path / "two", fundus)
    assert first.created is not None
    assert first.content_hash() == second.content_hash()  # same content, other folder and time
    relabelled = _write(tmp_path / "three", fundus, stage_b="1")
    assert relabelled.content_hash() != first.content_hash()
    # a label changed in memory
    changed = first.with_records([first[0].replace(plus="plus"), first[1]])
    assert changed.content_hash() != first.content_hash()
    # a file's bytes changed on disk
    mask_path = second.path(second[0].mask)
    mask = read_mask(mask_path)
    mask[0, 0] = 255
    cv2.imwrite(str(mask_path), mask)
    assert second.content_hash() != first.content_hash()
    with pytest.raises(SnapshotError, match="differs from the stored"):
        Snapshot.load(tmp_path / "two").verify()


def test_hardlinks_when_asked(tmp_path: Path, fundus) -> None:
    src = tmp_path / "x.png"
    write_png(src, fundus()[0])
    with SnapshotWriter(tmp_path / "snap", link="hardlink") as w:
        rec = w.add(src, label_binary=0)
    assert os.stat(tmp_path / "snap" / rec.image).st_ino == os.stat(src).st_ino


def test_writer_refuses_bad_input(tmp_path: Path, fundus) -> None:
    rgb, mask = fundus()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something.txt").write_text("x")
    with pytest.raises(SnapshotError, match="not empty"):
        SnapshotWriter(tmp_path / "full")
    w = SnapshotWriter(tmp_path / "snap")
    with pytest.raises(SnapshotError, match="mask is 10x10 but the image is 48x40"):
        w.add(rgb, id="a", mask=np.zeros((10, 10), np.uint8))
    with pytest.raises(SnapshotError, match="stage must be one of"):
        w.add(rgb, id="a", stage="6")
    with pytest.raises(SnapshotError, match=r"unknown record fields \['colour'\]"):
        w.add(rgb, id="a", colour="red")
    w.add(rgb, id="a", label_binary=1, mask=mask)
    with pytest.raises(SnapshotError, match="'a' is already in this snapshot"):
        w.add(rgb, id="a")
    snap = w.close()
    assert [r.id for r in snap] == ["a"]
    assert sorted(p.name for p in (tmp_path / "snap" / "images").iterdir()) == ["a.png"]


def _manifest(records: list[dict], **top) -> str:
    return json.dumps({"format": "rop-snapshot", "version": 1, "records": records, **top}, indent=1)


@pytest.mark.parametrize(("text", "message"), [
    ('{"format": "rop-snapshot",\n "version": 1,\n "records": [}', r"manifest.json line 3 column 14: invalid JSON"),
    (json.dumps({"format": "coco", "version": 1, "records": []}), "format must be 'rop-snapshot', got 'coco'"),
    (json.dumps({"format": "rop-snapshot", "version": 2, "records": []}), "version 2 is newer than this library"),
    (_manifest([{"id": "a", "image": "images/a.png"}, {"id": "b", "image": "images/a.png", "label_binary": 2}]),
     r"manifest.json record 1 \(id 'b'\): label_binary must be 0, 1 or null, got 2"),
    (_manifest([{"id": "a", "image": "../a.png"}]), r"record 0 \(id 'a'\): image must be a relative path inside"),
    (_manifest([{"id": "a", "image": "images/a.png", "stage": "2", "stage3": 0}]), "stage3 0 contradicts stage '2'"),
    (_manifest([{"id": "a", "image": "images/a.png", "stage": "0", "label_binary": 1}]),
     "label_binary 1 contradicts stage '0'"),
    (_manifest([{"id": "a", "image": "images/a.png", "colour": "red"}]), r"unknown keys \['colour'\]"),
    (_manifest([{"id": "a", "image": "images/a.png"}, {"id": "a", "image": "images/a.png"}]),
     r"record 1 \(id 'a'\): duplicate id \(also record 0\)"),
    (_manifest([{"id": "a", "image": "images/a.png", "split": "train"},
                {"id": "a2", "image": "images/a.png", "parent": "a", "split": "test"}]),
     "split 'test' differs from its parent 'a'"),
    (_manifest([{"id": "a", "image": "images/a.png", "polygons": [{"rings": [[[1, 1], [2, 2]]]}]}]),
     r"polygons\[0\].rings\[0\]: a ring needs at least 3 points, got 2"),
    (_manifest([{"id": "a", "image": "images/a.png", "exam_date": "31/01/2024"}]), "exam_date must be an ISO date"),
    (_manifest([{"id": "a", "image": "images/missing.png", "mask": "masks/gone.png"}]),
     r"record 0 \(id 'a'\): image file images/missing.png is missing"),
])
def test_bad_manifests_give_precise_errors(tmp_path: Path, fundus, text: str, message: str) -> None:
    (tmp_path / "images").mkdir()
    write_png(tmp_path / "images" / "a.png", fundus()[0])
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(SnapshotError, match=message):
        Snapshot.load(tmp_path)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(_manifest([
        {"id": "a", "image": "images/a.png", "eye": "left"},
        {"id": "b", "image": "images/b.png", "plus": "yes", "quality": "bad"},
    ]))
    with pytest.raises(SnapshotError) as info:
        Snapshot.load(tmp_path)
    problems = info.value.problems
    assert len(problems) == 3
    assert "record 0 (id 'a'): eye must be one of 'OD', 'OS' or null, got 'left'" in problems[0]
    assert "record 1 (id 'b'): plus must be one of" in problems[1]
    assert "3 problems" in str(info.value)


def test_missing_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(_manifest([{"id": "a", "image": "images/a.png", "mask": "masks/a.png"},
                                                {"id": "b", "image": "images/b.png"}]))
    with pytest.raises(SnapshotError) as info:
        Snapshot.load(tmp_path)
    assert len(info.value.problems) == 3
    assert Snapshot.load(tmp_path, check_files=False).referenced_files() == ["images/a.png", "images/b.png",
                                                                             "masks/a.png"]


def test_task_and_split_filters(make_snapshot) -> None:
    snap = make_snapshot(8)
    records = [snap[0].replace(quality="ungradable"), *snap.records[1:]]
    snap = snap.with_records(records)
    assert [r.id for r in snap.for_task("binary")] == [f"img{i}" for i in range(1, 8)]
    assert [r.stage for r in snap.for_task("stage3")] == ["1", "2", "3", "1", "2", "3"]
    assert all(r.mask for r in snap.for_task("segmentation"))
    assert len(snap.split(None)) == 8 and len(snap.split("train")) == 0
    with pytest.raises(ValueError, match="unknown task 'stages'"):
        snap.for_task("stages")


def test_save_rewrites_manifest_with_new_hash(make_snapshot) -> None:
    snap = make_snapshot(4)
    old_hash = snap.stored_hash
    resplit = snap.with_records(r.replace(split="train" if r.patient == "p0" else "test") for r in snap)
    saved = resplit.save()
    loaded = Snapshot.load(snap.root)
    assert [r.split for r in loaded] == ["train", "train", "test", "test"]
    assert loaded.stored_hash == saved.stored_hash == loaded.content_hash() != old_hash


def test_corrupt_image_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"\x89PNG not really")
    w = SnapshotWriter(tmp_path / "snap")
    with pytest.raises(SnapshotError, match=r"scan.png: not a readable image"):
        w.add(bad, label_binary=1)
    assert w.close().records == ()
    assert list((tmp_path / "snap" / "images").iterdir()) == []

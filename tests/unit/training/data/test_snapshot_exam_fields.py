"""The snapshot records' ``landmarks`` and ``exam`` fields (issue 18): read, checked, and left out
when unknown so that older snapshots keep their content hash."""

from __future__ import annotations

from training.data.records import parse_record
from training.snapshot import SnapshotRecord

BASE = {"id": "r1", "image": "images/r1.png"}


def test_landmarks_and_exam_round_trip() -> None:
    data = {**BASE, "landmarks": {"disc": [10, 20.5], "disc_radius": 6, "fovea": None},
            "exam": {"key": "P1-OD-2026-03-01", "grade": {"stage": "3", "zone": "I"},
                     "treatment_class": "treatment-warranted", "etrop": "Type 1", "basis": "reference"}}
    record = SnapshotRecord.from_dict(data)
    assert record.landmarks == {"disc": [10.0, 20.5], "disc_radius": 6.0, "fovea": None}
    assert record.exam is not None and record.exam["etrop"] == "Type 1"
    assert SnapshotRecord.from_dict(record.to_dict()) == record


def test_unknown_fields_are_left_out_and_bad_ones_refused() -> None:
    assert "landmarks" not in SnapshotRecord.from_dict(BASE).to_dict()
    assert "exam" not in SnapshotRecord.from_dict(BASE).to_dict()
    _, problems = parse_record({**BASE, "landmarks": {"disc": [1]}, "exam": {"treatment_class": "treat"}}, "rec")
    assert any("landmarks.disc must be [x, y]" in p for p in problems)
    assert any("exam.treatment_class must be one of" in p for p in problems)

"""``manifest update``: patient / eye / exam / hospital-diagnosis data for images imported without a
manifest, matched by the file names they were imported under; audited without identifying values;
an admin's only."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.services import accounts
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.importer import run_import
from rop_desktop.services.manifest_update import update_from_manifest
from rop_desktop.services.policy import AccessDenied
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Patient

from .conftest import PASSWORD, as_actor


@pytest.fixture
def loose(tmp_path: Path, fast_hashes: None):
    """Four images imported without a manifest: four patients, no eye, no date."""
    src = tmp_path / "scans"
    src.mkdir()
    for i in range(4):
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.circle(img, (32, 24), 20, (150, 40 + 30 * i, 60), -1)
        cv2.imwrite(str(src / f"scan_{i}.png"), img)
    study = Study.create(tmp_path / "study")
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)
    assert len(run_import(study, admin, [src]).imported) == 4
    yield study, admin
    study.close()


def _places(study: Study) -> dict[str, tuple[str, str | None, str | None]]:
    """Pseudonymous name → (patient code, exam date, hospital diagnosis)."""
    with study.session() as session:
        return {i.original_name: (i.exam.patient.code, i.exam.exam_date.isoformat() if i.exam.exam_date else None,
                                  i.hospital_diagnosis) for i in repo.list_images(session)}


def test_a_manifest_groups_loose_images_into_patients_and_visits(loose, tmp_path: Path) -> None:
    study, admin = loose
    assert len({p for p, _, _ in _places(study).values()}) == 4  # each image its own patient
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("filename;MRN;Laterality;Visit date;Hospital diagnosis;notes\n"
                        "scan_0.png;MRN-1;OD;2026-02-01;stage 2;x\n"
                        "scan_1.png;MRN-1;OS;01/02/2026;no ROP;\n"
                        "scan_2.png;MRN-2;R;2026-03-05;;\n"
                        "scan_3.png;MRN-2;left;2026-03-05;stage 1;\n"
                        "scan_9.png;MRN-3;OD;2026-03-05;;\n"
                        "scan_3.png;MRN-2;sideways;;;\n", encoding="utf-8")
    summary = update_from_manifest(study, admin, manifest)
    assert summary.incomplete and len(summary.updated) == 4
    assert summary.unknown == ["line 6: scan_9.png"] and summary.unused_columns == ["notes"]
    assert summary.problems == ["line 7, filename: 'scan_3.png' already listed on line 5: row skipped"]
    assert _places(study) == {
        "P0001-OD-20260201-001": ("P0001", "2026-02-01", "stage 2"),
        "P0001-OS-20260201-001": ("P0001", "2026-02-01", "no ROP"),
        "P0003-OD-20260305-001": ("P0003", "2026-03-05", None),
        "P0003-OS-20260305-001": ("P0003", "2026-03-05", "stage 1"),
    }
    with study.session() as session:
        assert session.query(Patient).count() == 2  # the emptied patients are gone
        events = [e for e in repo.audit_trail(session, "image") if e.action == "manifest"]
    assert len(events) == 4 and {e.grader_id for e in events} == {admin.id}
    assert "MRN" not in repr([(e.before, e.after) for e in events])  # hospital numbers stay in the identity table
    again = update_from_manifest(study, admin, manifest)
    assert not again.updated and len(again.unchanged) == 4
    later = tmp_path / "later.csv"  # images of a number already known join that patient
    later.write_text("file,patient,diagnosis\nP0003-OS-20260305-001.png,MRN-1,stage 3\n", encoding="utf-8")
    moved = update_from_manifest(study, admin, later)
    assert [u.image for u in moved.updated] == ["P0001-OS-20260305-002"]
    assert moved.updated[0].changes == ("patient: P0003 → P0001", "hospital_diagnosis: stage 1 → stage 3",
                                        "name: P0003-OS-20260305-001 → P0001-OS-20260305-002")


def test_only_an_admin_updates_study_metadata(loose, tmp_path: Path) -> None:
    study, admin = loose
    grader = as_actor(create_account(study, admin, "Dr. G"))
    judge = as_actor(create_account(study, admin, "Dr. J", accounts.Role.ADJUDICATOR, password=PASSWORD))
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,hospital_diagnosis\nscan_0.png,stage 3\n", encoding="utf-8")
    for who in (grader, judge):
        with pytest.raises(AccessDenied, match="only the admin role"):
            update_from_manifest(study, who, manifest)
    assert {d for _, _, d in _places(study).values()} == {None}

"""The identity table: who may see it, how free text is scrubbed of it, and a study made before it
(migration 0006) getting codes and pseudonymous names with its old values moved into it."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from sqlalchemy import select, text

from rop_desktop.services.accounts import create_first_admin, set_study_setting
from rop_desktop.services.identity import (
    REDACTED,
    SHOW_SETTING,
    Scrubber,
    export_mapping,
    identity_shown,
    parse_image_name,
    shown_identity,
)
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import AccessDenied
from rop_desktop.store import Study, migrate, repo
from rop_desktop.store.db import make_engine
from rop_desktop.store.schema import AuditEvent, Identity

from .conftest import PASSWORD, HandStudy
from .identified_dicom import retcam_image


def test_the_window_shows_identity_only_where_an_admin_turned_it_on(hand: HandStudy) -> None:
    image = hand.images[0]
    assert identity_shown(hand.study, hand.admin) is False
    assert shown_identity(hand.study, hand.admin, image) is None  # off by default, even for an admin
    for someone in (hand.graders["A"], hand.adjudicator):
        with pytest.raises(AccessDenied, match="only the admin role"):
            shown_identity(hand.study, someone, image)
        with pytest.raises(AccessDenied, match="only the admin role"):
            set_study_setting(hand.study, someone, SHOW_SETTING, True)
    set_study_setting(hand.study, hand.admin, SHOW_SETTING, True)
    shown = shown_identity(hand.study, hand.admin, image)
    assert shown is not None and shown.code == "P0001" and shown.image_name == "P0001-OD-20260201-001"
    assert shown.values["patient_id"] == ["P001"] and shown.values["file_name"] == ["img0.png"]  # not img1's
    assert shown.line() == "P0001 · P001"
    with pytest.raises(AccessDenied):  # still no grader, whatever the setting
        shown_identity(hand.study, hand.graders["A"], image)


def test_the_mapping_export_is_audited_without_its_values(hand: HandStudy, tmp_path: Path) -> None:
    result = export_mapping(hand.study, hand.admin, tmp_path / "deep" / "identity.csv")
    assert (result.patients, result.rows) == (4, 4 + 8 + 8)  # a hospital value per patient; name and path per file
    with result.path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0] == {"patient": "P0001", "image": "", "kind": "patient_id", "value": "P001", "source": "manifest"}
    with hand.study.session() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.entity == "identity")).all()
        assert event.grader_id == hand.admin.id and "P001" not in str(event.after) and "img0" not in str(event.after)


def test_scrubbing_free_text() -> None:
    scrub = Scrubber([("patient_id", "MRN-00123456 DOE BABY"), ("patient_name", "DOE^BABY"),
                      ("birth_date", "20251224"), ("file_name", "Smith_J_OD.png"),
                      ("source_path", "/nicu/Smith J/x.png")])
    assert scrub("Baby Doe (mrn-00123456), born 24/12/2025") == f"{REDACTED} {REDACTED} ({REDACTED}), born {REDACTED}"
    assert scrub("see 00123456 and Smith_J_OD") == f"see {REDACTED} and {REDACTED}"
    assert scrub("Doetown, babyish") == "Doetown, babyish"  # whole words only
    assert scrub("") == "" and Scrubber([])("anything") == "anything"


def test_pseudonymous_names_parse_back() -> None:
    parsed = parse_image_name("P0012-OS-20260201-003")
    assert parsed is not None and (parsed.code, parsed.eye, parsed.n) == ("P0012", "OS", 3)
    assert parsed.render(with_date=False) == "P0012-OS-003"
    assert parse_image_name("P0012-OS-undated-010").exam_date is None  # type: ignore[union-attr]
    assert parse_image_name("DOE BABY.png") is None


# ---------------------------------------------------------------------------- migration 0006
def _legacy_study(tmp_path: Path) -> Study:
    """A study as issue 13 found it: manifest values as codes, file names as names, source paths.
    Row ids from 101, beyond what PostgreSQL's sequences hand out next."""
    study = Study.create(tmp_path / "study")
    study.close()
    engine = make_engine(study.url)
    now = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0005")
        for pid, code in ((1, "P0002"), (2, "MRN-00123456 DOE BABY"),
                          (3, "P-" + hashlib.sha256(b"HOSP-123456").hexdigest()[:10].upper())):
            conn.execute(text("INSERT INTO patients (id, code, created_at) VALUES (:i, :c, :t)"),
                         {"i": 100 + pid, "c": code, "t": now})
            conn.execute(text("INSERT INTO exams (id, patient_id, exam_date) VALUES (:i, :i, :d)"),
                         {"i": 100 + pid, "d": datetime(2026, 2, pid).date()})
        for iid, exam, eye, name, path in ((1, 1, "OD", "img0.png", None),
                                           (2, 2, "OS", "DOE_BABY_OS.png", "/nicu/DOE BABY/DOE_BABY_OS.png"),
                                           (3, 2, "OS", "DOE_BABY_OS_2.png", "/nicu/DOE BABY/DOE_BABY_OS_2.png"),
                                           (4, 3, None, "IM0001", "/pacs/IM0001")):
            conn.execute(text(
                "INSERT INTO images (id, exam_id, eye, file, original_name, sha256, width, height, format, "
                "imported_at, source_path, bytes) VALUES (:i, :e, :eye, :f, :n, :s, 64, 48, 'png', :t, :p, 10)"),
                {"i": 100 + iid, "e": 100 + exam, "eye": eye, "f": f"{iid:02d}/x.png", "n": name, "s": f"{iid:064x}",
                 "t": now, "p": path})
    engine.dispose()
    migrate.upgrade(study.url)
    return Study.open(study.root)


def test_an_existing_study_gets_codes_and_names_and_keeps_its_identity_apart(tmp_path: Path,
                                                                              fast_hashes: None) -> None:
    with _legacy_study(tmp_path) as study:
        with study.session() as session:
            images = repo.list_images(session)
            assert [(i.exam.patient.code, i.original_name, i.source_path) for i in images] == [
                ("P0001", "P0001-OD-20260201-001", None), ("P0002", "P0002-OS-20260202-001", None),
                ("P0002", "P0002-OS-20260202-002", None), ("P0003", "P0003-NA-20260203-001", None)]
            kept = {(r.patient_id, r.image_id, r.kind, r.value, r.source) for r in session.scalars(select(Identity))}
        assert {(102, None, "patient_id", "MRN-00123456 DOE BABY", "study"),
                (101, None, "patient_id", "P0002", "study"), (102, 102, "file_name", "DOE_BABY_OS.png", "study"),
                (102, 102, "source_path", "/nicu/DOE BABY/DOE_BABY_OS.png", "study")} <= kept
        # an import after the upgrade finds the infant whose code was a hash of its DICOM PatientID
        retcam = retcam_image(np.zeros((40, 56, 3), np.uint8) + 90, laterality="L")
        retcam.PatientID = "HOSP-123456"
        (tmp_path / "new").mkdir()
        retcam.save_as(tmp_path / "new" / "x.dcm", enforce_file_format=True)
        assert not run_import(study, create_first_admin(study, "Admin", PASSWORD), [tmp_path / "new"]).failed
        with study.session() as session:
            new = next(i for i in repo.list_images(session) if i.format == "dicom")
            assert (new.exam.patient.code, new.original_name) == ("P0003", "P0003-OS-20260203-001")


def test_downgrading_puts_the_old_codes_and_names_back(tmp_path: Path, fast_hashes: None) -> None:
    study = _legacy_study(tmp_path)
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0005")
        rows = conn.execute(text("SELECT p.code, i.original_name, i.source_path FROM images i JOIN exams e "
                                 "ON e.id = i.exam_id JOIN patients p ON p.id = e.patient_id ORDER BY i.id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows][:2] == [
        ("P0002", "img0.png", None), ("MRN-00123456 DOE BABY", "DOE_BABY_OS.png", "/nicu/DOE BABY/DOE_BABY_OS.png")]
    migrate.upgrade(study.url)


def test_the_next_code_is_one_more_than_the_highest_number_whatever_the_padding(tmp_path: Path) -> None:
    """A study whose codes came from another tool (zero-padded, or not codes of ours at all)."""
    from rop_desktop.services.identity import next_code
    from rop_desktop.store.schema import Patient

    with Study.create(tmp_path / "s") as study, study.session() as session:
        assert next_code(session) == "P0001"
        session.add_all([Patient(code=c) for c in ("P024999", "P0007", "PATIENT-X", "P-1A2B3C", "Q99999")])
        session.flush()
        assert next_code(session) == "P25000"
        session.add(Patient(code="P25000"))
        session.flush()
        assert next_code(session) == "P25001"

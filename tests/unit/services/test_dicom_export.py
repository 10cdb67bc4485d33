"""De-identified DICOM export: originals through the basic profile, other images as Secondary Capture;
every file valid for dciodvfy, pixels unchanged, UIDs stable per study and different across studies."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from rop_desktop.imaging.decode import decode_file
from rop_desktop.interop.dicom import BASIC_PROFILE, MODIFIED_DATES, date_shift
from rop_desktop.services.accounts import create_first_admin, set_active
from rop_desktop.services.dicom_export import SALT_SETTING, export_dicom, export_salt, iter_export_dicom
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import AccessDenied
from rop_desktop.store import Study, repo

from .conftest import PASSWORD, HandStudy
from .identified_dicom import OP_8BIT, PATIENT, PRIVATE_NOTE, dciodvfy_errors, retcam_image

UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
SC = "1.2.840.10008.5.1.4.1.1.7"


def _pixels(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (40, 56, 3), dtype=np.uint8)


def _retcam(folder: Path, name: str = "DOE_BABY_MRN-00123456_OD.dcm", **kwargs: object) -> tuple[Path, np.ndarray]:
    pixels = _pixels()
    folder.mkdir(parents=True, exist_ok=True)
    retcam_image(pixels, **kwargs).save_as(folder / name, enforce_file_format=True)  # type: ignore[arg-type]
    return folder / name, pixels


def _by_class(paths: list[Path]) -> dict[str, list[Dataset]]:
    out: dict[str, list[Dataset]] = {}
    for path in sorted(paths):
        ds = pydicom.dcmread(path)
        out.setdefault(str(ds.SOPClassUID), []).append(ds)
    return out


def test_a_retcam_original_leaves_deidentified_valid_and_stable(hand: HandStudy, tmp_path: Path) -> None:
    source, pixels = _retcam(tmp_path / "dicom")
    assert dciodvfy_errors(source) == []  # the hospital's file is valid to begin with
    assert not run_import(hand.study, hand.admin, [source]).failed

    first = export_dicom(hand.study, hand.adjudicator, tmp_path / "out1")
    second = export_dicom(hand.study, hand.admin, tmp_path / "out2")

    assert not first.failed and len(first.written) == len(hand.images) + 1
    for path in first.written:
        assert dciodvfy_errors(path) == [], path.name
        data = path.read_bytes()
        for secret in [*PATIENT.values(), "DOE", "Doe", "MRN", "20251224", "20260203", PRIVATE_NOTE, "img0"]:
            assert secret.encode() not in data, (path.name, secret)
    [ds] = _by_class(first.written)[OP_8BIT]
    assert ds.PatientID == "P0005" == str(ds.PatientName) and ds.ImageLaterality == "R"
    assert ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == [BASIC_PROFILE[0]]
    assert ds.StudyDate == "" and "StudyDescription" not in ds and "ImageComments" not in ds
    np.testing.assert_array_equal(ds.pixel_array, pixels)
    [again] = _by_class(second.written)[OP_8BIT]
    assert all(getattr(ds, k) == getattr(again, k) and getattr(ds, k) != getattr(retcam_image(pixels), k)
               for k in UIDS)
    assert sorted(p.name for p in first.written) == sorted(p.name for p in second.written)
    assert "P0005-OD-001.dcm" in {p.name for p in first.written}
    lines = "\n".join(first.lines())
    assert "Basic Application Level Confidentiality Profile" in lines
    assert "removed: " in lines and "ImageComments" in lines and "StudyDescription" in lines
    assert "private attributes removed: 2" in lines  # the vendor's block: its creator and its note
    assert "warning" not in lines  # the source said BurnedInAnnotation NO
    with hand.study.session() as session:
        assert repo.get_setting(session, SALT_SETTING)


def test_png_becomes_a_valid_secondary_capture(hand: HandStudy, tmp_path: Path) -> None:
    summary = export_dicom(hand.study, hand.admin, tmp_path / "out", salt="s3cret")
    assert not summary.failed and len(summary.written) == len(hand.images)
    assert sorted(p.name for p in summary.written)[:2] == ["P0001-OD-001.dcm", "P0001-OS-001.dcm"]
    first = tmp_path / "out" / "P0001-OD-001.dcm"
    assert dciodvfy_errors(first) == []
    ds = pydicom.dcmread(first)
    assert ds.SOPClassUID == SC and ds.PatientID == "P0001" and ds.Laterality == "R"
    assert ds.StudyDate == "" and not ds.PatientBirthDate and ds.PatientIdentityRemoved == "YES"
    assert "BurnedInAnnotation" not in ds  # nobody told the study whether the photo shows text
    with hand.study.session() as session:
        image = repo.list_images(session, image_ids=[hand.images[0]])[0]
        rgb = decode_file(hand.study.image_path(image)).rgb
    np.testing.assert_array_equal(ds.pixel_array, rgb)
    other = export_dicom(hand.study, hand.admin, tmp_path / "other", salt="another")
    assert pydicom.dcmread(other.written[0]).SOPInstanceUID != pydicom.dcmread(summary.written[0]).SOPInstanceUID


def test_modified_dates_option_shifts_each_infant_and_keeps_intervals(hand: HandStudy, tmp_path: Path) -> None:
    early, _ = _retcam(tmp_path / "dicom", "a.dcm", study_date="20260203", series=1)
    later, _ = _retcam(tmp_path / "dicom", "b.dcm", study_date="20260217", series=2, instance=2, laterality="L")
    assert not run_import(hand.study, hand.admin, [early, later]).failed
    summary = export_dicom(hand.study, hand.admin, tmp_path / "out", dates="shift", salt="s")
    assert not summary.failed and "shifted per patient" in "\n".join(summary.lines())
    shift = timedelta(days=date_shift("s", "P0005"))
    dated = {p.name: pydicom.dcmread(p) for p in summary.written}
    moved = [(date(2026, 2, 3) + shift).strftime("%Y%m%d"), (date(2026, 2, 17) + shift).strftime("%Y%m%d")]
    retcams = sorted((ds for ds in dated.values() if ds.SOPClassUID == OP_8BIT), key=lambda ds: ds.StudyDate)
    assert [ds.StudyDate for ds in retcams] == moved  # 14 days apart, as the exams were
    assert [ds.ContentDate for ds in retcams] == moved
    assert {f"P0005-OD-{moved[0]}-001.dcm", f"P0005-OS-{moved[1]}-001.dcm"} <= set(dated)
    for ds in retcams:
        assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == [BASIC_PROFILE[0], MODIFIED_DATES[0]]
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    png = dated[next(n for n in dated if n.startswith("P0001-OD-"))]
    assert png.StudyDate == (date(2026, 2, 1) + timedelta(days=date_shift("s", "P0001"))).strftime("%Y%m%d")
    for path in summary.written:
        assert dciodvfy_errors(path) == [], path.name
        data = path.read_bytes()
        assert b"20260203" not in data and b"20260217" not in data and b"20260201" not in data


def test_the_same_file_in_two_studies_gets_different_uids(tmp_path: Path, fast_hashes: None) -> None:
    source, _ = _retcam(tmp_path / "dicom")
    uids = []
    for name in ("one", "two"):
        with Study.create(tmp_path / name) as study:
            admin = create_first_admin(study, "Admin", PASSWORD)
            assert not run_import(study, admin, [source]).failed
            [written] = export_dicom(study, admin, tmp_path / f"out-{name}").written
            uids.append({k: getattr(pydicom.dcmread(written), k) for k in UIDS})
    assert all(uids[0][k] != uids[1][k] for k in UIDS)


def test_burned_in_text_is_kept_as_the_source_said_and_reported(hand: HandStudy, tmp_path: Path) -> None:
    ds = retcam_image(_pixels())
    ds.BurnedInAnnotation = "YES"  # the camera printed the name into the picture
    ds.save_as(tmp_path / "burned.dcm", enforce_file_format=True)
    assert not run_import(hand.study, hand.admin, [tmp_path / "burned.dcm"]).failed
    summary = export_dicom(hand.study, hand.admin, tmp_path / "out")
    [exported] = _by_class(summary.written)[OP_8BIT]
    assert exported.BurnedInAnnotation == "YES"  # never "NO" where the source did not say so
    assert any("BurnedInAnnotation YES" in line for line in summary.lines())


def test_only_adjudicators_and_admins_export_the_study(hand: HandStudy, tmp_path: Path) -> None:
    grader = hand.graders["A"]
    for attempt in (lambda: export_dicom(hand.study, grader, tmp_path / "out"),
                    lambda: iter_export_dicom(hand.study, grader, tmp_path / "out", salt="x"),
                    lambda: export_salt(hand.study, grader)):
        with pytest.raises(AccessDenied, match="only the adjudicator or admin role"):
            attempt()
    set_active(hand.study, hand.admin, hand.adjudicator.id, False)  # deactivated after signing in
    with pytest.raises(AccessDenied, match="deactivated"):
        export_dicom(hand.study, hand.adjudicator, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with hand.study.session() as session:
        assert repo.get_setting(session, SALT_SETTING) is None  # no salt made for a refused export

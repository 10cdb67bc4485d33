"""De-identified DICOM export: originals anonymised, other images wrapped as Secondary Capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from rop_desktop.imaging.decode import decode_file
from rop_desktop.services.accounts import set_active
from rop_desktop.services.dicom_export import SALT_SETTING, export_dicom, export_salt, iter_export_dicom
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import AccessDenied
from rop_desktop.store import repo

from .conftest import HandStudy

UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _dicom(path: Path) -> tuple[Dataset, np.ndarray]:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = "Doe^Jane", "HOSP-123456"
    ds.PatientBirthDate, ds.InstitutionName = "20260101", "St. Elsewhere Hospital"
    ds.StudyDate, ds.ImageLaterality, ds.Modality = "20260301", "L", "OP"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return ds, pixels


def _by_sop_class(folder: Path) -> dict[str, list[Dataset]]:
    out: dict[str, list[Dataset]] = {}
    for file in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(file)
        out.setdefault(str(ds.SOPClassUID), []).append(ds)
    return out


def test_dicom_original_is_deidentified_with_stable_uids(hand: HandStudy, tmp_path: Path) -> None:
    original, pixels = _dicom(tmp_path / "retcam.dcm")
    assert not run_import(hand.study, hand.admin, [tmp_path / "retcam.dcm"]).failed
    with hand.study.session() as session:
        code = next(i.exam.patient.code for i in repo.list_images(session) if i.format == "dicom")

    first = export_dicom(hand.study, hand.adjudicator, tmp_path / "out1")
    second = export_dicom(hand.study, hand.admin, tmp_path / "out2")

    assert not first.failed and len(first.written) == len(hand.images) + 1
    [ds] = _by_sop_class(tmp_path / "out1")[UltrasoundImageStorage]
    for keyword in ("PatientBirthDate", "InstitutionName"):
        assert not ds.get(keyword)
    assert ds.PatientID == code and str(ds.PatientName) == code
    dumped = str(ds) + str(ds.file_meta)
    for secret in ("Doe", "HOSP-123456", "Elsewhere", "20260101"):
        assert secret not in dumped
    assert ds.ImageLaterality == "L" and ds.StudyDate == "20260301"  # dates kept
    assert all(getattr(ds, k) != getattr(original, k) for k in UIDS)
    np.testing.assert_array_equal(ds.pixel_array, pixels)
    [again] = _by_sop_class(tmp_path / "out2")[UltrasoundImageStorage]
    assert all(getattr(ds, k) == getattr(again, k) for k in UIDS)
    assert sorted(p.name for p in first.written) == sorted(p.name for p in second.written)
    with hand.study.session() as session:
        assert repo.get_setting(session, SALT_SETTING)


def test_png_becomes_readable_secondary_capture(hand: HandStudy, tmp_path: Path) -> None:
    summary = export_dicom(hand.study, hand.admin, tmp_path / "out", salt="s3cret")
    assert not summary.failed and len(summary.written) == len(hand.images)
    first = next(p for p in summary.written if "_OD_" in p.name)
    ds = pydicom.dcmread(first)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.PatientID == "P001" and ds.ImageLaterality == "R" and ds.StudyDate == "20260201"
    assert ds.PatientIdentityRemoved == "YES" and not ds.PatientBirthDate
    with hand.study.session() as session:
        image = repo.list_images(session, image_ids=[hand.images[0]])[0]
        rgb = decode_file(hand.study.image_path(image)).rgb
    np.testing.assert_array_equal(ds.pixel_array, rgb)
    other = export_dicom(hand.study, hand.admin, tmp_path / "other", salt="another")
    assert pydicom.dcmread(other.written[0]).SOPInstanceUID != pydicom.dcmread(summary.written[0]).SOPInstanceUID


def test_manifest_names_never_reach_the_files(hand: HandStudy, tmp_path: Path) -> None:
    summary = export_dicom(hand.study, hand.admin, tmp_path / "out", salt="x")
    names = " ".join(p.name for p in summary.written)
    assert "img" not in names and all(p.name.startswith("P00") for p in summary.written)
    assert summary.lines()[1] == f"written: {len(hand.images)}"


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

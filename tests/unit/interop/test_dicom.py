"""deidentify: the PS3.15 basic profile's table applied, the code comes in, UIDs change consistently,
dates removed or shifted by the option, and the file says what was done."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from rop_desktop.interop.dicom import (
    BASIC_PROFILE,
    MODIFIED_DATES,
    Options,
    basic_profile,
    date_shift,
    deidentify,
    identifying_values,
    shift_date,
)

STUDY_UID = "1.2.3.4.5.100"
SERIES_UID = "1.2.3.4.5.100.1"


def _identified(instance: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    ds.SOPInstanceUID = f"1.2.3.4.5.100.1.{instance}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SERIES_UID
    ds.PatientName = "Doe^Baby"
    ds.PatientID = "MRN-998877"
    ds.PatientBirthDate = "20230101"
    ds.PatientAddress = "1 Main Street"
    ds.OtherPatientIDs = "NHS-123"
    ds.InstitutionName = "St Example Hospital"
    ds.InstitutionAddress = "Example Road"
    ds.ReferringPhysicianName = "Smith^John"
    ds.PerformingPhysicianName = "Jones^Ann"
    ds.OperatorsName = "Tech^Tom"
    ds.AccessionNumber = "ACC42"
    ds.StationName = "RETCAM-2"
    ds.DeviceSerialNumber = "SN-1"
    ds.StudyDate = "20230405"
    ds.ImageLaterality = "R"
    ds.StudyDescription = "ROP screen DOE BABY"
    ds.ImageComments = "mother: Jane Doe, tel 555-0100"
    ds.BurnedInAnnotation = "NO"
    ds.Manufacturer = "Natus"
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4.5.100.1.9"
    ds.ReferencedImageSequence[0].OperatorsName = "Nested^Name"
    ds.add_new(0x00091001, "LO", "private vendor note")
    ds.set_pixel_data(np.zeros((16, 16), np.uint8), "MONOCHROME2", 8, generate_instance_uid=False)
    return ds


def _anon(instance: int = 1, *, salt: str = "study-secret", shift: int | None = None) -> Dataset:
    return deidentify(_identified(instance), Options("P007", salt, shift))[0]


def test_identifying_tags_are_removed_or_replaced() -> None:
    original = _identified(1)
    anon, report = deidentify(original, Options("P007", "study-secret"))

    assert anon.PatientName == "P007" and anon.PatientID == "P007"
    assert anon.PatientBirthDate == "" and anon.AccessionNumber == "" and anon.ReferringPhysicianName == ""
    for keyword in ("PatientAddress", "OtherPatientIDs", "InstitutionAddress", "PerformingPhysicianName",
                    "StudyDescription", "ImageComments"):
        assert keyword not in anon, keyword
    for keyword in ("InstitutionName", "OperatorsName", "StationName", "DeviceSerialNumber"):  # X/Z/D: a dummy
        assert anon[keyword].value not in ("", original[keyword].value), keyword
    assert "OperatorsName" not in anon.ReferencedImageSequence[0] or \
        anon.ReferencedImageSequence[0].OperatorsName != "Nested^Name"
    assert 0x00091001 not in anon and report.private_removed == 1
    assert anon.StudyDate == ""  # the basic profile: the date goes
    assert (anon.ImageLaterality, anon.Manufacturer, anon.BurnedInAnnotation) == ("R", "Natus", "NO")
    assert report.burned_in == "NO"
    assert {"StudyDescription", "ImageComments", "PatientAddress"} <= report.removed
    assert np.array_equal(anon.pixel_array, original.pixel_array)
    # the input is untouched
    assert original.PatientName == "Doe^Baby" and "InstitutionName" in original


def test_the_file_says_what_was_applied() -> None:
    basic, shifted = _anon(), _anon(shift=-400)
    assert basic.PatientIdentityRemoved == "YES" == shifted.PatientIdentityRemoved
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in basic.DeidentificationMethodCodeSequence]
    assert codes == [(BASIC_PROFILE[0], "DCM")] and basic.LongitudinalTemporalInformationModified == "REMOVED"
    codes = [i.CodeValue for i in shifted.DeidentificationMethodCodeSequence]
    assert codes == [BASIC_PROFILE[0], MODIFIED_DATES[0]]
    assert shifted.LongitudinalTemporalInformationModified == "MODIFIED"
    assert all(len(text) <= 64 for text in shifted.DeidentificationMethod)  # LO


def test_modified_dates_option_shifts_dates_and_keeps_intervals() -> None:
    a, b = _identified(1), _identified(2)
    b.StudyDate = "20230419"  # 14 days after a's
    a2, b2 = (deidentify(ds, Options("P007", "s", -400))[0] for ds in (a, b))
    assert (a2.StudyDate, b2.StudyDate) == ("20220301", "20220315")
    assert a2.PatientBirthDate == ""  # never shifted: emptied
    assert shift_date("20240229", 1) == "20240301" and shift_date("2024", 3) is None
    assert shift_date("20240101120000.5+0100", -1) == "20231231120000.5+0100"
    shifts = {date_shift("salt", f"P{k:04d}") for k in range(50)}
    assert len(shifts) > 40 and all(-10 * 365 <= s <= -365 for s in shifts)
    assert date_shift("salt", "P0001") == date_shift("salt", "P0001") != date_shift("other salt", "P0001")


def test_the_table_is_the_standards() -> None:
    table = basic_profile()
    assert len(table) > 600  # PS3.15 Table E.1-1, not a hand-picked list
    assert table[(0x0010, 0x0010)] == "Z" and table[(0x0008, 0x1030)] == "X" and table[(0x0020, 0x4000)] == "X"
    assert table[(0x0020, 0x000D)] == "U" and table[(0x0008, 0x0080)] == "X/Z/D"
    assert (0x0020, 0x0062) not in table  # Image Laterality is kept


def test_uids_are_regenerated_consistently() -> None:
    a, b = _anon(1, salt="s"), _anon(2, salt="s")
    assert a.StudyInstanceUID == b.StudyInstanceUID != STUDY_UID
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != SERIES_UID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.ReferencedImageSequence[0].ReferencedSOPInstanceUID not in ("", "1.2.3.4.5.100.1.9")
    assert a.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # class UIDs are not identifying
    assert _anon(1, salt="t").StudyInstanceUID != a.StudyInstanceUID


def test_anonymised_dataset_writes_and_reads_back() -> None:
    anon = _anon()
    buf = io.BytesIO()
    anon.save_as(buf, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert back.PatientID == "P007"
    for secret in (b"Doe^Baby", b"MRN-998877", b"DOE BABY", b"555-0100", b"St Example", b"NHS-123"):
        assert secret not in buf.getvalue(), secret


def test_identifying_values_are_what_the_identity_table_keeps() -> None:
    found = dict(identifying_values(_identified(1)))
    assert found["patient_id"] == "MRN-998877" and found["patient_name"] == "Doe^Baby"
    assert found["birth_date"] == "20230101" and found["other_patient_id"] == "NHS-123"
    assert found["contact"] == "1 Main Street"


def test_empty_patient_code_or_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="patient_code"):
        Options("  ", "s")
    with pytest.raises(ValueError, match="salt"):
        Options("P007", "")

"""DICOM files as a hospital would send them, for the de-identification tests.

* :func:`retcam_image` — a conformant Ophthalmic Photography 8 Bit image (what a RetCam writes)
  carrying the patient's name, hospital number, birth date, the referring physician, free text
  naming the family, and a private vendor tag: ``dciodvfy`` reports no error on it.
* :func:`fill_every_profile_attribute` — adds a value to **every** attribute the basic profile's
  table lists (generated from :func:`rop_desktop.interop.dicom.basic_profile`, the library's table
  of the standard, with a value valid for each attribute's VR — nothing typed by hand), and
  returns the text values a byte search must then not find.
* :func:`dciodvfy_errors` — the ``Error`` lines of dicom3tools' validator for a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

from rop_desktop.interop.dicom import basic_profile

OP_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
UID_ROOT = "1.2.826.0.1.3680043.10.1013."
#: What the hospital's file says about the patient (and what must never leave the study).
PATIENT = {"PatientName": "DOE^BABY", "PatientID": "MRN-00123456", "PatientBirthDate": "20251224",
           "IssuerOfPatientID": "ST-ELSEWHERE-NICU", "OtherPatientIDs": "NHS-9434765919",
           "ReferringPhysicianName": "SMITH^JOHN", "AccessionNumber": "ACC-778899",
           "StudyDescription": "ROP screen DOE BABY", "ImageComments": "mother: Jane Doe, tel 555-0100",
           "InstitutionName": "St. Elsewhere Hospital", "StationName": "RETCAM-NICU-2",
           "DeviceSerialNumber": "SN-0042-RC3", "OperatorsName": "NURSE^NANCY"}
PRIVATE_NOTE = "ACME: baby DOE, bed 12"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def retcam_image(pixels: np.ndarray, *, instance: int = 1, laterality: str = "R", study_date: str = "20260203",
                 series: int = 1) -> Dataset:
    """A conformant OP 8 bit RGB image of ``pixels`` with the patient's identity in it."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = OP_8BIT
    meta.MediaStorageSOPInstanceUID = f"{UID_ROOT}9.{series}.{instance}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = OP_8BIT, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = f"{UID_ROOT}7.{series}", f"{UID_ROOT}8.{series}"
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    ds.PatientSex = "F"
    ds.StudyDate, ds.StudyTime, ds.StudyID = study_date, "101500", "S42"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "OP", series, instance
    ds.Manufacturer, ds.ManufacturerModelName = "Natus", "RetCam 3"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = study_date, "101501", study_date + "101501"
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.ImageLaterality = laterality
    ds.AnatomicRegionSequence = Sequence([_code("T-AA610", "SRT", "Retina")])
    ds.AcquisitionDeviceTypeCodeSequence = Sequence([_code("R-1021A", "SRT", "Fundus Camera")])
    for keyword in ("IlluminationTypeCodeSequence", "LightPathFilterTypeStackCodeSequence",
                    "ImagePathFilterTypeStackCodeSequence", "LensesCodeSequence", "RefractiveStateSequence",
                    "AcquisitionContextSequence"):
        setattr(ds, keyword, Sequence([]))
    ds.DetectorType = "CCD"
    ds.SynchronizationFrameOfReferenceUID = f"{UID_ROOT}6"
    ds.SynchronizationTrigger, ds.AcquisitionTimeSynchronized = "NO TRIGGER", "N"
    ds.NumberOfFrames, ds.FrameIncrementPointer, ds.FrameTime = 1, 0x00181063, 0
    ds.PatientEyeMovementCommanded, ds.HorizontalFieldOfView, ds.PupilDilated = "NO", 130, "NO"
    ds.EmmetropicMagnification = ds.IntraOcularPressure = None
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = np.ascontiguousarray(pixels, np.uint8).tobytes()
    ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", PRIVATE_NOTE)
    return ds


def _value(vr: str, n: int) -> object:
    """An identifying value valid for ``vr``, unique to attribute number ``n`` (searchable as text)."""
    mark = f"ID{n:04d}"
    text = {"LO": f"{mark} DOE BABY", "LT": f"{mark} DOE BABY", "ST": f"{mark} DOE BABY", "UC": f"{mark} DOE BABY",
            "UT": f"{mark} DOE BABY", "SH": f"{mark} DOE", "AE": f"AE{mark}", "CS": f"CS{mark}",
            "PN": f"DOE{n:04d}^BABY", "UI": f"{UID_ROOT}{n}", "UR": f"http://nicu.example/{mark}",
            "DA": f"2025{1 + n % 12:02d}{1 + n % 28:02d}",
            "DT": f"2025{1 + n % 12:02d}{1 + n % 28:02d}1010{n % 60:02d}",
            "TM": f"10{n % 60:02d}17.{n:04d}", "DS": f"{n}.{n}77", "IS": f"9{n:05d}", "AS": "034D"}
    if vr in text:
        return text[vr]
    if vr in ("US", "SS"):
        return 4000 + n
    if vr in ("UL", "SL", "UV", "SV"):
        return 4_000_000 + n
    if vr in ("FL", "FD"):
        return 4000.5 + n
    if vr == "AT":
        return 0x00100010
    return f"{mark}DOE BABY".encode()  # OB, OW, OF, OD, OL, OV, UN


def fill_every_profile_attribute(ds: Dataset) -> dict[int, object]:
    """Give every attribute of the basic profile's table a value (not the command and file-meta
    groups; a repeating group once, in its first group); the tag → value added. Attributes the
    image already has keep their (identifying) value; sequences get one item with a person's name,
    free text and an instance UID; attributes unknown to pydicom's dictionary are written as UN."""
    added: dict[int, object] = {}
    for n, tag in enumerate(sorted(basic_profile()), start=1):
        group, element = tag[0], tag[1]
        if len(tag) == 4 and not element:
            element = 0x3000  # e.g. Curve Data (50xx,3000)
        number = (group << 16) | element
        if group in (0x0000, 0x0002) or number in ds:
            continue
        try:
            vr = dictionary_VR(number).split(" or ")[0]
        except KeyError:
            vr = "UN"
        if vr == "SQ":
            item = Dataset()
            item.add_new(0x0040A123, "PN", f"DOE{n:04d}^NESTED")
            item.add_new(0x00081030, "LO", f"ID{n:04d} nested DOE")
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = OP_8BIT, f"{UID_ROOT}{n}.1"
            value: object = Sequence([item])
        else:
            value = _value(vr, n)
        ds.add_new(number, vr, value)
        added[number] = value
    return added


def text_values(ds: Dataset, *, skip_vrs: tuple[str, ...] = ()) -> set[bytes]:
    """Every text or byte value of at least 5 characters in ``ds`` (sequences included, pixels not)."""
    out: set[bytes] = set()
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                out |= text_values(item, skip_vrs=skip_vrs)
        elif elem.tag != 0x7FE00010 and elem.VR not in skip_vrs:
            for value in (elem.value if isinstance(elem.value, MultiValue) else [elem.value]):
                text = isinstance(value, str | PersonName)
                raw = value if isinstance(value, bytes) else str(value).encode() if text else b""
                if len(raw.strip(b"\0 ")) >= 5:
                    out.add(raw.strip(b"\0 "))
    return out


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines ``dciodvfy`` prints for ``path`` (values dropped, so two files compare).

    Skips the test where dicom3tools is not installed, unless ``ROP_REQUIRE_DCIODVFY`` is set
    (``.ci/run`` sets it: CI never passes by skipping)."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        if os.environ.get("ROP_REQUIRE_DCIODVFY"):
            pytest.fail("dciodvfy (Debian package dicom3tools) is required here but not installed")
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    result = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return sorted({re.sub(r" = <.*", "", line) for line in (result.stdout + result.stderr).splitlines()
                   if line.startswith("Error")})

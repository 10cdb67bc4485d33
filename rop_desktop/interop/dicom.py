"""De-identification of DICOM datasets before they leave the study (export, sharing).

A deliberately small subset of the DICOM PS3.15 Basic Application Level Confidentiality
Profile: the patient becomes the study's pseudonymous code, identifying names, addresses,
numbers and private tags go, and instance UIDs are replaced by salted hashes, so that files of
one series still belong together but cannot be traced back without the salt. Exam dates,
laterality, age, sex and the camera model stay: the grading needs them.

Reading DICOM pixels and tags is :mod:`rop_desktop.imaging.decode`'s job.
"""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

#: Replaced by the patient code.
_PSEUDONYMISED = ("PatientName", "PatientID")

#: Emptied, not removed: most image IODs require them to be present (type 2).
_EMPTIED = ("PatientBirthDate", "ReferringPhysicianName", "AccessionNumber", "StudyID")

#: Removed wherever they occur (sequences included).
_REMOVED = frozenset({
    "PatientBirthTime", "PatientBirthName", "PatientMotherBirthName", "PatientAddress",
    "PatientTelephoneNumbers", "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence",
    "IssuerOfPatientID", "MedicalRecordLocator", "PatientComments", "AdditionalPatientHistory",
    "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "ReferencedPatientSequence", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "InstitutionCodeSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName", "OperatorsName",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingPhysician",
    "ScheduledPerformingPhysicianName", "StationName", "DeviceSerialNumber",
    "RequestAttributesSequence", "PerformedProcedureStepID", "RequestedProcedureID",
})

#: Instance UIDs (not class or transfer-syntax UIDs), replaced consistently.
_INSTANCE_UIDS = frozenset({
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "MediaStorageSOPInstanceUID",
    "FrameOfReferenceUID", "ReferencedSOPInstanceUID", "IrradiationEventUID",
    "ConcatenationUID", "SynchronizationFrameOfReferenceUID", "DimensionOrganizationUID",
})


def anonymize_dataset(ds: Dataset, patient_code: str, *, salt: str = "") -> Dataset:
    """A de-identified copy of ``ds`` (``ds`` itself is not changed).

    ``patient_code`` becomes PatientName and PatientID. ``salt`` should be a secret kept with
    the study: the same (salt, UID) always gives the same new UID, and without the salt anyone
    holding the original UIDs could recompute the mapping.
    """
    code = patient_code.strip()
    if not code:
        raise ValueError("patient_code must not be empty")
    out = copy.deepcopy(ds)
    out.remove_private_tags()
    _clean(out, salt)
    if getattr(out, "file_meta", None) is not None:
        _clean(out.file_meta, salt)
    for keyword in _PSEUDONYMISED:
        setattr(out, keyword, code)
    for keyword in _EMPTIED:
        if keyword in out:
            out[keyword].value = ""
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "ROP Desktop: PS3.15 basic profile subset, salted UIDs"
    return out


def _clean(ds: Dataset, salt: str) -> None:
    """Remove identifying elements and replace instance UIDs, recursing into sequences."""
    for elem in list(ds):
        if elem.keyword in _REMOVED:
            del ds[elem.tag]
        elif elem.keyword in _INSTANCE_UIDS and elem.value:
            elem.value = _new_uid(str(elem.value), salt)
        elif elem.VR == "SQ":
            for item in elem.value:
                _clean(item, salt)


def _new_uid(original: str, salt: str) -> str:
    return generate_uid(entropy_srcs=[salt, original])

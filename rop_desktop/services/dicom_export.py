"""Export every image of a study as de-identified DICOM (one ``.dcm`` per image).

* An image that was imported from DICOM is read back from its stored original and goes through
  :func:`rop_desktop.interop.dicom.anonymize_dataset`: identifying tags removed, the patient's
  pseudonymous study code as PatientID / PatientName, instance UIDs replaced by salted hashes.
* Any other image (PNG, JPEG, ...) is wrapped as a Secondary Capture RGB image carrying only
  the pseudonymous code, the eye, the exam date and the camera model.

**Dates are kept, not shifted.** The exam date is clinically meaningful (post-menstrual age,
follow-up intervals) and the de-identification profile of :mod:`rop_desktop.interop.dicom`
keeps it; the birth date is emptied. A site needing shifted dates must shift them before import.

**UIDs are consistent across exports.** A random per-study salt is stored as the study setting
:data:`SALT_SETTING` the first time the study is exported, so exporting twice gives the same
Study / Series / SOP Instance UIDs, while nobody without the study can recompute them.

File names are pseudonymous too: ``<patient code>_<OD|OS|NA>_<first 16 hex of the SHA-256>.dcm``.

The whole study leaves with an export, so only an adjudicator or admin exports
(:data:`Action.EXPORT_ALL`); the salt is theirs to read for the same reason.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from rop_desktop.domain.labels import Eye
from rop_desktop.imaging.decode import ImageDecodeError, decode_file
from rop_desktop.interop.dicom import anonymize_dataset
from rop_desktop.store import Study, repo

from .policy import Action, Actor, guarded

#: The study setting holding the UID salt (a random hex string, created on the first export).
SALT_SETTING = "dicom_export_salt"
_LATERALITY = {Eye.OD: "R", Eye.OS: "L"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class DicomExportError(ValueError):
    """An export that cannot start at all (folder not writable, empty salt); ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class DicomExportProgress:
    """Yielded once per image by :func:`iter_export_dicom`."""

    done: int
    total: int
    current: str  #: the pseudonymous file name just handled


@dataclass
class DicomExportSummary:
    """What a DICOM export wrote, and what it could not."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (pseudonymous name, reason)

    def lines(self) -> list[str]:
        """A human summary (dialog, command line)."""
        return [f"folder: {self.folder}", f"written: {len(self.written)}", f"failed: {len(self.failed)}",
                *(f"  {name}: {reason}" for name, reason in self.failed)]


@dataclass(frozen=True)
class _Item:
    """What the export needs of one image row (plain data, read in one session)."""

    path: Path
    format: str
    sha256: str
    width: int
    height: int
    eye: Eye | None
    patient_code: str
    exam_id: int
    exam_date: date | None
    camera: str | None

    @property
    def out_name(self) -> str:
        eye = self.eye.value if self.eye in _LATERALITY else "NA"
        return f"{_UNSAFE.sub('_', self.patient_code)}_{eye}_{self.sha256[:16]}.dcm"


@guarded(Action.EXPORT_ALL)
def export_salt(study: Study, actor: Actor) -> str:
    """The study's UID salt; created (random, 128 bits) and stored on first use."""
    with study.session() as session:
        salt = repo.get_setting(session, SALT_SETTING)
        if not salt:
            salt = secrets.token_hex(16)
            repo.set_setting(session, SALT_SETTING, salt)
    return str(salt)


@guarded(Action.EXPORT_ALL)
def iter_export_dicom(study: Study, actor: Actor, folder: str | Path, *, salt: str | None = None
                      ) -> Generator[DicomExportProgress, None, DicomExportSummary]:
    """Write every image of ``study`` as de-identified DICOM into ``folder``, yielding progress.

    ``salt`` overrides the study's stored salt (see :func:`export_salt`). An image that cannot be
    read or written is listed in the summary's ``failed`` and the others are still exported.
    """
    if salt is not None and not salt.strip():
        raise DicomExportError("the UID salt must not be empty")
    salt = salt if salt is not None else export_salt(study, actor)
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicomExportError(f"cannot create the export folder {out} ({exc.strerror or exc})") from exc
    items = _items(study)
    summary = DicomExportSummary(out)
    for done, item in enumerate(items, start=1):
        target = out / item.out_name
        try:
            ds = _from_dicom(item, salt) if item.format == "dicom" else _secondary_capture(item, salt)
            ds.save_as(target, enforce_file_format=True)
        except (OSError, ValueError, InvalidDicomError, AttributeError, ImageDecodeError) as exc:
            summary.failed.append((item.out_name, getattr(exc, "reason", None) or str(exc)))
        else:
            summary.written.append(target)
        yield DicomExportProgress(done, len(items), item.out_name)
    return summary


@guarded(Action.EXPORT_ALL)
def export_dicom(study: Study, actor: Actor, folder: str | Path, *, salt: str | None = None) -> DicomExportSummary:
    """:func:`iter_export_dicom` run to the end (scripts, tests)."""
    gen = iter_export_dicom(study, actor, folder, salt=salt)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _items(study: Study) -> list[_Item]:
    with study.session() as session:
        return [_Item(study.image_path(i), i.format, i.sha256, i.width, i.height, i.eye, i.exam.patient.code,
                      i.exam.id, i.exam.exam_date, i.exam.camera) for i in repo.list_images(session)]


def _uid(salt: str, *parts: object) -> str:
    return generate_uid(entropy_srcs=[salt, *(str(p) for p in parts)])


def _tag_study(ds: Dataset, item: _Item) -> None:
    """What the study knows better than the file: the eye and the exam date."""
    if item.eye in _LATERALITY:
        ds.ImageLaterality = _LATERALITY[item.eye]
        ds.Laterality = _LATERALITY[item.eye]
    if item.exam_date is not None and not ds.get("StudyDate"):
        ds.StudyDate = item.exam_date.strftime("%Y%m%d")


def _from_dicom(item: _Item, salt: str) -> Dataset:
    ds = anonymize_dataset(pydicom.dcmread(item.path), item.patient_code, salt=salt)
    _tag_study(ds, item)
    return ds


def _secondary_capture(item: _Item, salt: str) -> Dataset:
    """A Secondary Capture RGB image with pseudonymous tags only."""
    rgb = decode_file(item.path).rgb
    sop_uid = _uid(salt, "image", item.sha256)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = _uid(salt, "exam", item.exam_id)
    ds.SeriesInstanceUID = _uid(salt, "series", item.exam_id, item.eye.value if item.eye else "NA")
    ds.PatientName = item.patient_code
    ds.PatientID = item.patient_code
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "ROP Desktop: pseudonymous Secondary Capture"
    ds.StudyDate = item.exam_date.strftime("%Y%m%d") if item.exam_date else ""
    ds.StudyTime = ds.StudyID = ds.AccessionNumber = ds.ReferringPhysicianName = ""
    ds.Modality = "OP"
    ds.ConversionType = "WSD"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.Manufacturer = ""
    if item.camera:
        ds.ManufacturerModelName = item.camera
    ds.PatientOrientation = ""
    _tag_study(ds, item)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = rgb.tobytes()
    return ds

"""Export every image of a study as de-identified DICOM (one ``.dcm`` per image).

* An image that was imported from DICOM is read back from its stored original and goes through
  :func:`rop_desktop.interop.dicom.deidentify`: the PS3.15 Annex E Basic Application Level
  Confidentiality Profile from the standard's own table, the study's pseudonymous code as
  PatientID / PatientName, UIDs replaced by salted hashes.
* Any other image (PNG, JPEG, ...) is wrapped as a Secondary Capture RGB image that never held
  anything but the pseudonymous code, the eye, the exam date (per the chosen date handling) and
  the camera model, and says the same de-identification method.

**Dates** (:data:`DATES`): ``"remove"`` (default) is the basic profile's handling — study and
acquisition dates emptied or replaced by a dummy. ``"shift"`` applies the *Retain Longitudinal
Temporal Information with Modified Dates* option: every date moves by a per-patient number of
days derived from the salt (:func:`rop_desktop.interop.dicom.date_shift`), keeping each
infant's intervals (post-menstrual age, follow-up) and nothing else of the calendar.

**UIDs are consistent across exports.** A random per-study salt is stored as the study setting
:data:`SALT_SETTING` the first time the study is exported, so exporting twice gives the same
Study / Series / SOP Instance UIDs, while nobody without the study can recompute them, and two
studies never share one.

File names are the images' pseudonymous names without the date (``P0001-OD-002.dcm``), or with
the shifted date under ``"shift"``, so no file name undoes the date handling.

The whole study leaves with an export, so only an adjudicator or admin exports
(:data:`Action.EXPORT_ALL`); the salt is theirs to read for the same reason.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from rop_desktop.domain.labels import Eye
from rop_desktop.imaging.decode import ImageDecodeError, decode_file
from rop_desktop.interop.dicom import Options, Report, date_shift, deidentify, mark_deidentified, new_uid
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo

from .identity import eye_token, parse_image_name
from .policy import Action, Actor, guarded

#: The study setting holding the UID salt (a random hex string, created on the first export).
SALT_SETTING = "dicom_export_salt"
#: How dates leave: the basic profile's handling, or the Modified Dates option (per-patient shift).
DATES = ("remove", "shift")
_LATERALITY = {Eye.OD: "R", Eye.OS: "L"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: Ophthalmic Photography 8/16 bit: Image Laterality is part of their image module.
_OP_CLASSES = ("1.2.840.10008.5.1.4.1.1.77.1.5.1", "1.2.840.10008.5.1.4.1.1.77.1.5.2")


class DicomExportError(ServiceError):
    """An export that cannot start at all (folder not writable, empty salt); ``reason`` is for the user."""


@dataclass
class DicomExportProgress:
    """Yielded once per image by :func:`iter_export_dicom`."""

    done: int
    total: int
    current: str  #: the pseudonymous file name just handled


@dataclass
class DicomExportSummary:
    """What a DICOM export wrote, what it could not, and what it removed or replaced."""

    folder: Path
    dates: str = "remove"
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (pseudonymous name, reason)
    report: Report = field(default_factory=Report)
    #: Exported files whose source said its pixels show text (BurnedInAnnotation YES) or did not say.
    burned_in: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A human summary (dialog, command line): what was written, removed and replaced."""
        r = self.report
        dates = (
            "shifted per patient (Retain Longitudinal Temporal Information with Modified Dates)"
            if self.dates == "shift"
            else "removed or replaced (basic profile)"
        )
        out = [
            f"folder: {self.folder}",
            f"written: {len(self.written)}",
            f"failed: {len(self.failed)}",
            *(f"  {name}: {reason}" for name, reason in self.failed),
            "profile: DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile",
            f"dates: {dates}",
            "patient: PatientID and PatientName are the study's pseudonymous code",
        ]
        for label, names in (
            ("removed", r.removed),
            ("emptied", r.emptied),
            ("replaced", r.replaced),
            ("UIDs replaced (salted)", r.uids),
            ("dates shifted", r.shifted),
        ):
            if names:
                out.append(f"{label}: {', '.join(sorted(names))}")
        if r.private_removed:
            out.append(f"private attributes removed: {r.private_removed}")
        out += [f"  warning: {name}: {why}" for name, why in self.burned_in]
        return out


@dataclass(frozen=True)
class _Item:
    """What the export needs of one image row (plain data, read in one session)."""

    path: Path
    format: str
    sha256: str
    name: str  #: the pseudonymous image name
    eye: Eye | None
    patient_code: str
    exam_id: int
    exam_date: date | None
    camera: str | None

    def out_name(self, shift: int | None) -> str:
        """The file name: the pseudonymous name without the date, or with the shifted date."""
        parsed = parse_image_name(self.name)
        if parsed is None:  # not a pseudonymous name (never expected): code, eye and a hash
            base = f"{self.patient_code}-{eye_token(self.eye)}-{self.sha256[:12]}"
        elif shift is None:
            base = parsed.render(with_date=False)
        else:
            moved = self.exam_date + timedelta(days=shift) if self.exam_date else None
            base = parsed.render(exam_date=moved) if moved else parsed.render()
        return f"{_UNSAFE.sub('_', base)}.dcm"


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
def iter_export_dicom(
    study: Study, actor: Actor, folder: str | Path, *, salt: str | None = None, dates: str = "remove"
) -> Generator[DicomExportProgress, None, DicomExportSummary]:
    """Write every image of ``study`` as de-identified DICOM into ``folder``, yielding progress.

    ``salt`` overrides the study's stored salt (see :func:`export_salt`); ``dates`` is one of
    :data:`DATES`. An image that cannot be read or written is listed in the summary's ``failed``
    and the others are still exported.
    """
    if salt is not None and not salt.strip():
        raise DicomExportError("the UID salt must not be empty")
    if dates not in DATES:
        raise DicomExportError(f"dates must be one of {', '.join(DATES)}, not {dates!r}")
    salt = salt if salt is not None else export_salt(study, actor)
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicomExportError(f"cannot create the export folder {out} ({exc.strerror or exc})") from exc
    items = _items(study)
    summary = DicomExportSummary(out, dates)
    for done, item in enumerate(items, start=1):
        options = Options(item.patient_code, salt, date_shift(salt, item.patient_code) if dates == "shift" else None)
        name = item.out_name(options.date_shift_days)
        try:
            if item.format == "dicom":
                ds, report = _from_dicom(item, options)
            else:
                ds, report = _secondary_capture(item, options), Report()
            ds.save_as(out / name, enforce_file_format=True)
        except (OSError, ValueError, InvalidDicomError, AttributeError, ImageDecodeError) as exc:
            summary.failed.append((name, getattr(exc, "reason", None) or str(exc)))
        else:
            summary.written.append(out / name)
            summary.report.merge(report)
            if item.format == "dicom" and report.burned_in != "NO":
                summary.burned_in.append(
                    (
                        name,
                        "the source says its pixels show text (BurnedInAnnotation YES): "
                        "check the image before it leaves"
                        if report.burned_in == "YES"
                        else "the source does not say whether its pixels show text",
                    )
                )
        yield DicomExportProgress(done, len(items), name)
    return summary


@guarded(Action.EXPORT_ALL)
def export_dicom(
    study: Study, actor: Actor, folder: str | Path, *, salt: str | None = None, dates: str = "remove"
) -> DicomExportSummary:
    """:func:`iter_export_dicom` run to the end (scripts, tests, the command line)."""
    gen = iter_export_dicom(study, actor, folder, salt=salt, dates=dates)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _items(study: Study) -> list[_Item]:
    with study.session() as session:
        return [
            _Item(
                study.image_path(i),
                i.format,
                i.sha256,
                i.original_name,
                i.eye,
                i.exam.patient.code,
                i.exam.id,
                i.exam.exam_date,
                i.exam.camera,
            )
            for i in repo.list_images(session)
        ]


def _from_dicom(item: _Item, options: Options) -> tuple[Dataset, Report]:
    ds, report = deidentify(pydicom.dcmread(item.path), options)
    # the study's eye (a grader may have corrected it) where the IOD has Image Laterality; never
    # an attribute the IOD does not define
    if item.eye in _LATERALITY:
        if "ImageLaterality" in ds or str(ds.get("SOPClassUID", "")) in _OP_CLASSES:
            ds.ImageLaterality = _LATERALITY[item.eye]
        if "Laterality" in ds:
            ds.Laterality = _LATERALITY[item.eye]
    return ds, report


def _secondary_capture(item: _Item, options: Options) -> Dataset:
    """A Secondary Capture RGB image with pseudonymous attributes only."""
    rgb = decode_file(item.path).rgb
    salt = options.salt
    sop_uid = new_uid(salt, f"image:{item.sha256}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = new_uid(salt, f"exam:{item.exam_id}")
    ds.SeriesInstanceUID = new_uid(salt, f"series:{item.exam_id}:{eye_token(item.eye)}")
    ds.PatientName = item.patient_code
    ds.PatientID = item.patient_code
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    shifted = (
        item.exam_date + timedelta(days=options.date_shift_days)
        if item.exam_date and options.date_shift_days is not None
        else None
    )
    ds.StudyDate = shifted.strftime("%Y%m%d") if shifted else ""
    ds.StudyTime = ds.StudyID = ds.AccessionNumber = ds.ReferringPhysicianName = ""
    ds.Modality = "OP"
    ds.ConversionType = "WSD"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.Manufacturer = ""
    if item.camera:
        ds.ManufacturerModelName = item.camera
    ds.PatientOrientation = ""
    if item.eye in _LATERALITY:
        ds.Laterality = _LATERALITY[item.eye]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    # BurnedInAnnotation left out: nobody told the study whether the photo shows text
    ds.PixelData = rgb.tobytes()
    mark_deidentified(ds, options)
    return ds

"""Patient, eye, exam and hospital-diagnosis data for images already in the study, from a manifest.

Why: images often arrive before their spreadsheet (``annotations import --images`` without a
manifest, a folder dropped in by a technician), and spreadsheets get corrected. Without this,
each such image stays its own patient (which breaks patient-grouped splits) and a hospital
diagnosis can only come with the images. :func:`update_from_manifest` reads the same CSV
manifest as the image import (``interop.manifest``: ``file``, ``patient``, ``eye``,
``exam_date``, ``hospital_diagnosis``, ...) and applies each row to the image it names:

* the image is found by the file name it was imported under (the identity table), its
  pseudonymous name, its stored file name or its SHA-256, or their stems, case-insensitively;
* ``patient`` (a hospital number) moves the image to the patient with that number, the one an
  import or an earlier update recorded; a patient without any number takes it; otherwise a new
  patient (next code) is made. ``patient_name`` is recorded in the identity table;
* ``exam_date``, ``camera``, ``site`` move the image to that visit of its patient (``pma``,
  gestational age and birth weight are filled in or corrected on the visit / the patient);
* ``eye`` and ``hospital_diagnosis`` are set on the image;
* an image whose patient, eye or date changed is renamed (``identity.new_image_name``), so its
  pseudonymous name keeps saying the truth. A visit or patient left without images, and
  without eye-level work of its own, is removed.

Empty cells change nothing. Each image is one transaction, audited (``image`` / ``manifest``)
with the admin, and the state before and after: patient codes, eye, date, diagnosis and name,
never a hospital number or a patient's name (those stay in the identity table). Only an admin
runs it (:data:`Action.IMPORT_IMAGES`: it changes what the import set and the identity table).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from rop_desktop.interop.manifest import Manifest, ManifestRow, file_key, read_manifest
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Exam, ExamGrade, ExamReference, Identity, Image, Patient

from . import identity
from .identity import Found
from .policy import Action, Actor, guarded

#: Identity kinds that are hospital numbers (not carried over to another patient).
_NUMBERS = ("patient_id", "other_patient_id")


@dataclass(frozen=True)
class ImageUpdate:
    """What one manifest row changed on one image (by its name after the update)."""

    image: str
    line: int
    changes: tuple[str, ...]  #: "eye: empty → OD", "patient: P0003 → P0001", ...


@dataclass
class ManifestUpdateSummary:
    """What :func:`update_from_manifest` did, row by row."""

    updated: list[ImageUpdate] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  #: images the manifest already described
    unknown: list[str] = field(default_factory=list)  #: "line 4: scan_17.png" — no such image
    ambiguous: list[str] = field(default_factory=list)  #: a name that matches several images
    problems: list[str] = field(default_factory=list)  #: bad cells (row kept, that cell empty)
    unused_columns: list[str] = field(default_factory=list)  #: columns that are no manifest field
    failed: list[str] = field(default_factory=list)  #: rows whose transaction failed

    @property
    def incomplete(self) -> bool:
        """Whether a row or a cell was not applied (exit status 1 of the command)."""
        return bool(self.unknown or self.ambiguous or self.problems or self.failed)

    def lines(self) -> list[str]:
        out = [f"updated: {len(self.updated)}", f"unchanged: {len(self.unchanged)}"]
        out += [f"  {u.image} (line {u.line}): {'; '.join(u.changes)}" for u in self.updated]
        if self.unused_columns:
            out.append(f"columns not used (not a manifest field): {', '.join(self.unused_columns)}")
        out += [f"NOT IN THE STUDY: {u}" for u in self.unknown]
        out += [f"AMBIGUOUS: {a}" for a in self.ambiguous]
        out += [f"bad cell: {p}" for p in self.problems]
        out += [f"FAILED: {f}" for f in self.failed]
        return out


@guarded(Action.IMPORT_IMAGES)
def update_from_manifest(study: Study, actor: Actor, manifest: str | Path | Manifest) -> ManifestUpdateSummary:
    """Apply ``manifest`` (a CSV path or a parsed :class:`Manifest`) to the images it names; see
    the module doc. Raises :class:`~rop_desktop.interop.manifest.ManifestError` before changing
    anything when the file cannot be a manifest at all."""
    parsed = manifest if isinstance(manifest, Manifest) else read_manifest(Path(manifest))
    summary = ManifestUpdateSummary(
        problems=[f"line {p.line}, {p.column}: {p.message}" for p in parsed.problems],
        unused_columns=list(parsed.unused),
    )
    index = _image_index(study)
    for row in sorted(parsed.rows.values(), key=lambda r: r.line):
        found = _match(index, row.file)
        if len(found) != 1:
            (summary.unknown if not found else summary.ambiguous).append(
                f"line {row.line}: {row.file}" + (f" matches {len(found)} images" if found else "")
            )
            continue
        try:
            with study.session() as session:
                name, changes = _apply(session, actor, found[0], row)
        except Exception as exc:  # noqa: BLE001 - one row fails whole, the others go on
            summary.failed.append(f"line {row.line}: {row.file}: {exc}")
            continue
        if changes:
            summary.updated.append(ImageUpdate(name, row.line, tuple(changes)))
        else:
            summary.unchanged.append(name)
    return summary


def _image_index(study: Study) -> dict[str, list[int]]:
    """Case-folded names (imported under, pseudonymous, stored, SHA-256, and their stems) → image ids."""
    index: dict[str, list[int]] = defaultdict(list)
    with study.session() as session:
        imported_as = identity.original_file_names(session)
        for image in repo.list_images(session):
            names = {
                image.original_name,
                Path(image.file).name,
                image.sha256,
                *(Path(n.replace("\\", "/")).name for n in imported_as.get(image.id, ())),
            }
            for name in names | {Path(n).stem for n in names}:
                if image.id not in index[name.casefold()]:
                    index[name.casefold()].append(image.id)
    return index


def _match(index: dict[str, list[int]], entry: str) -> list[int]:
    base = file_key(entry).rsplit("/", 1)[-1]
    return index.get(base) or index.get(Path(base).stem) or []


def _state(image: Image) -> dict[str, Any]:
    """What the audit keeps of an image's place in the study (no identifying value)."""
    exam = image.exam
    return {
        "patient": exam.patient.code,
        "eye": image.eye.value if image.eye else None,
        "exam_date": exam.exam_date.isoformat() if exam.exam_date else None,
        "camera": exam.camera,
        "site": exam.site,
        "pma_weeks": exam.pma_weeks,
        "hospital_diagnosis": image.hospital_diagnosis,
        "gestational_age_weeks": exam.patient.gestational_age_weeks,
        "birth_weight_g": exam.patient.birth_weight_g,
        "name": image.original_name,
    }


def _apply(session: Session, actor: Actor, image_id: int, row: ManifestRow) -> tuple[str, list[str]]:
    """Apply one row to one image in the caller's transaction: (its name now, what changed)."""
    image = session.get(Image, image_id)
    assert image is not None
    before = _state(image)
    old_exam, old_patient = image.exam, image.exam.patient
    patient = _patient(session, old_patient, row)
    exam_date = row.exam_date or old_exam.exam_date
    camera, site = row.camera or old_exam.camera, row.site or old_exam.site
    if (patient.id, exam_date, camera, site) != (old_patient.id, old_exam.exam_date, old_exam.camera, old_exam.site):
        exam = repo.get_or_create_exam(session, patient, exam_date, camera, site, pma_weeks=old_exam.pma_weeks)
        image.exam = exam
        session.flush()
    if row.pma is not None:
        image.exam.pma_weeks = row.pma
    if row.gestational_age is not None:
        patient.gestational_age_weeks = row.gestational_age
    if row.birth_weight is not None:
        patient.birth_weight_g = round(row.birth_weight)
    if row.eye is not None:
        image.eye = row.eye
    if row.hospital_diagnosis is not None:
        image.hospital_diagnosis = row.hospital_diagnosis
    if patient.id != old_patient.id:
        session.execute(
            update(Identity)
            .where(Identity.image_id == image.id)
            .values(patient_id=patient.id)
            .execution_options(synchronize_session=False)
        )
    found = [Found("patient_id", row.patient, "manifest")] if row.patient else []
    found += [Found("patient_name", row.patient_name, "manifest")] if row.patient_name else []
    identity.record(session, patient, image, found)
    session.flush()
    moved = (before["patient"], before["eye"], before["exam_date"]) != (
        patient.code,
        image.eye.value if image.eye else None,
        image.exam.exam_date.isoformat() if image.exam.exam_date else None,
    )
    if moved:
        image.original_name = "(renaming)"  # not counted among the patient's names below
        session.flush()
        image.original_name = identity.new_image_name(session, patient, image.eye, image.exam.exam_date)
    session.flush()
    _drop_if_empty(session, old_exam, old_patient, patient)
    after = _state(image)
    changes = [f"{key}: {_shown(before[key])} → {_shown(after[key])}" for key in after if before[key] != after[key]]
    if changes:
        repo.add_audit(
            session,
            "image",
            image.id,
            "manifest",
            grader=actor.id,
            before=before,
            after={**after, "line": row.line},
            image_id=image.id,
        )
    return image.original_name, changes


def _patient(session: Session, current: Patient, row: ManifestRow) -> Patient:
    """The patient the row puts the image with: the one with its hospital number; else the
    image's own patient when that has no number yet; else a new one."""
    if not row.patient:
        return current
    found = [Found("patient_id", row.patient, "manifest")]
    known = session.scalar(
        select(Patient)
        .join(Identity, Identity.patient_id == Patient.id)
        .where(
            Identity.kind == "patient_id", Identity.digest == identity.digest(row.patient), Identity.image_id.is_(None)
        )
        .limit(1)
    )
    if known is not None:
        return known
    numbered = session.scalar(
        select(
            exists().where(
                Identity.patient_id == current.id, Identity.kind == "patient_id", Identity.image_id.is_(None)
            )
        )
    )
    if not numbered:
        return current
    return identity.patient_for(session, found)


def _drop_if_empty(session: Session, exam: Exam, patient: Patient, now: Patient) -> None:
    """Remove a visit left without images and eye-level work, then a patient left without visits;
    what identified that patient (a DICOM PatientID, a name) now identifies ``now``, the patient
    its image went to (a hospital number of the old patient is dropped: the manifest said
    otherwise)."""
    session.flush()
    session.expire(exam)
    session.expire(patient)
    has_images = session.scalar(select(exists().where(Image.exam_id == exam.id)))
    has_work = session.scalar(select(exists().where(ExamGrade.exam_id == exam.id))) or session.scalar(
        select(exists().where(ExamReference.exam_id == exam.id))
    )
    if not has_images and not has_work:
        session.delete(exam)
        session.flush()
    if patient.id != now.id and not session.scalar(select(exists().where(Exam.patient_id == patient.id))):
        have = {
            (r.kind, r.value)
            for r in session.scalars(select(Identity).where(Identity.patient_id == now.id, Identity.image_id.is_(None)))
        }
        for row in session.scalars(
            select(Identity).where(Identity.patient_id == patient.id, Identity.image_id.is_(None))
        ):
            if (row.kind, row.value) not in have and row.kind not in _NUMBERS:
                row.patient_id = now.id
        session.flush()
        session.delete(patient)
        session.flush()


def _shown(value: object) -> str:
    return "empty" if value is None or value == "" else str(value)


__all__ = ["ImageUpdate", "ManifestUpdateSummary", "update_from_manifest"]

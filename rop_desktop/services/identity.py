"""Who the patients are, kept apart: the identity table, pseudonymous codes and image names.

Why: a screening study holds hospital numbers, names and birth dates, and file names that often
carry them (``MRN-00123456 DOE BABY_OD.png``). A study that used them as its patient codes and
image names would leak them into every worklist, log, audit event, report and export. So at
import everything that identifies a patient or an image goes into one table
(:class:`~rop_desktop.store.schema.Identity`) and the rest of the study knows:

* a patient only by a generated code, ``P0001``, ``P0002``… (:func:`patient_for`), found again
  at the next import by any of its hospital numbers (manifest ``patient`` column or DICOM
  PatientID);
* an image only by a pseudonymous name, ``<code>-<OD|OS|NA>-<exam date|undated>-<n>``, e.g.
  ``P0001-OD-20260201-001`` (:func:`new_image_name`; ``n`` counts the patient's images of that
  eye, so a name stays unique when an export drops or shifts the date).

The identity stays in the study for the people allowed to see it (:data:`Action.IDENTITY`,
admins): shown in the window only where an admin turned the study setting
:data:`SHOW_SETTING` on (:func:`shown_identity`), and exported only by its own command
(:func:`export_mapping`), never as part of another export. Free text that leaves the study
(graders' comments, when an admin includes them) goes through :class:`Scrubber` first.

The helpers taking a ``session`` are for the importer and other services inside their own
transaction; the guarded functions taking ``(study, actor)`` are the public operations.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rop_desktop.domain.labels import Eye
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import IDENTITY_KINDS, IDENTITY_SOURCES, Exam, Identity, Image, Patient

from .policy import Action, Actor, guarded

#: The study setting (admins only, like every setting) that shows the identity in the window.
SHOW_SETTING = "identity.show_in_window"
CODE_PREFIX = "P"
#: What :class:`Scrubber` puts where an identifying value was.
REDACTED = "[removed]"
#: Patient-level kinds that find an existing patient again at the next import.
PATIENT_KEYS = ("patient_id",)
IMAGE_KINDS = ("file_name", "source_path")
MAPPING_COLUMNS = ("patient", "image", "kind", "value", "source")

_CODE = re.compile(rf"{CODE_PREFIX}(\d+)")
_NAME = re.compile(r"(?P<code>.+)-(?P<eye>OD|OS|NA)-(?P<date>\d{8}|undated)-(?P<n>\d{3,})")


class IdentityError(ServiceError):
    """An identity operation that cannot be done (unwritable file); ``reason`` is for the user."""


# ---------------------------------------------------------------------------- what identifies
@dataclass(frozen=True)
class Found:
    """One identifying value found at import: ``kind`` (``store.schema.IDENTITY_KINDS``), the
    value as written, and where it came from (``IDENTITY_SOURCES``)."""

    kind: str
    value: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in IDENTITY_KINDS or self.source not in IDENTITY_SOURCES:
            raise ValueError(f"unknown identity kind/source {self.kind!r}/{self.source!r}")


def digest(value: str) -> str:
    """The SHA-256 of a value (what ``identities.digest`` holds, to find a hospital number fast)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def clean(found: Iterable[Found]) -> list[Found]:
    """Stripped, non-empty, each (kind, value) once, in the order found."""
    out: dict[tuple[str, str], Found] = {}
    for f in found:
        value = f.value.strip()
        if value and (f.kind, value) not in out:
            out[(f.kind, value)] = Found(f.kind, value, f.source)
    return list(out.values())


# ---------------------------------------------------------------------------- patients and images
def patient_for(
    session: Session,
    found: Sequence[Found],
    *,
    gestational_age_weeks: float | None = None,
    birth_weight_g: int | None = None,
) -> Patient:
    """The study's patient whose hospital number is among ``found`` (``patient_id`` values, in
    order), else a new patient with the next free code. Without any hospital number every call
    makes a new patient: an image nobody identified is nobody else's."""
    for kind, value in _lookup_keys(found):
        patient = session.scalar(
            select(Patient)
            .join(Identity, Identity.patient_id == Patient.id)
            .where(Identity.kind == kind, Identity.digest == digest(value), Identity.image_id.is_(None))
            .limit(1)
        )
        if patient is not None:
            return patient
    patient = Patient(
        code=next_code(session), gestational_age_weeks=gestational_age_weeks, birth_weight_g=birth_weight_g
    )
    session.add(patient)
    session.flush()
    return patient


def _lookup_keys(found: Sequence[Found]) -> list[tuple[str, str]]:
    """(kind, value) to look a patient up by: each hospital number, and for a DICOM PatientID also
    the code an import before migration 0006 derived from it (``P-`` + 10 hex of its SHA-256,
    moved into the identity table by that migration), so that infant is found again."""
    keys = []
    for f in found:
        if f.kind in PATIENT_KEYS:
            keys.append((f.kind, f.value))
            if f.source == "dicom":
                keys.append((f.kind, "P-" + hashlib.sha256(f.value.encode()).hexdigest()[:10].upper()))
    return keys


def next_code(session: Session) -> str:
    """The next free ``P0001``-style code (one more than the highest in the study).

    The highest code of each length, then the highest number among those: codes written by other
    tools may be zero-padded (``P024999``) next to ours (``P25000``), so neither the longest nor
    the last in text order alone is the highest number."""
    per_length = session.scalars(
        select(func.max(Patient.code))
        .where(
            Patient.code.like(f"{CODE_PREFIX}%"), func.substr(Patient.code, len(CODE_PREFIX) + 1, 1).between("0", "9")
        )
        .group_by(func.length(Patient.code))
    )
    numbers = [int(m[1]) for c in per_length if c is not None and (m := _CODE.fullmatch(c))]
    return f"{CODE_PREFIX}{max(numbers, default=0) + 1:04d}"


def record(session: Session, patient: Patient, image: Image | None, found: Sequence[Found]) -> None:
    """Store ``found`` for the patient (and the image, for image-level kinds), each value once."""
    have = {
        (row.kind, row.value, row.image_id)
        for row in session.scalars(select(Identity).where(Identity.patient_id == patient.id))
    }
    for f in clean(found):
        image_id = image.id if image is not None and f.kind in IMAGE_KINDS else None
        if (f.kind, f.value, image_id) not in have:
            session.add(
                Identity(
                    patient_id=patient.id,
                    image_id=image_id,
                    kind=f.kind,
                    value=f.value,
                    digest=digest(f.value),
                    source=f.source,
                )
            )
            have.add((f.kind, f.value, image_id))
    session.flush()


@dataclass(frozen=True)
class ImageName:
    """The parts of a pseudonymous image name."""

    code: str
    eye: str  # OD, OS or NA
    exam_date: date | None
    n: int

    def render(self, *, with_date: bool = True, exam_date: date | None = None) -> str:
        """The name; ``with_date=False`` leaves the date out, ``exam_date`` puts another in (shifted)."""
        when = exam_date if exam_date is not None else self.exam_date
        parts = [self.code, self.eye]
        if with_date:
            parts.append(when.strftime("%Y%m%d") if when else "undated")
        return "-".join([*parts, f"{self.n:03d}"])


def parse_image_name(name: str) -> ImageName | None:
    """The parts of a pseudonymous name, or None for anything else."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    when = None if m["date"] == "undated" else date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
    return ImageName(m["code"], m["eye"], when, int(m["n"]))


def eye_token(eye: Eye | None) -> str:
    return eye.value if eye in (Eye.OD, Eye.OS) else "NA"


def new_image_name(session: Session, patient: Patient, eye: Eye | None, exam_date: date | None) -> str:
    """The pseudonymous name of the patient's next image of ``eye`` (see the module doc)."""
    token = eye_token(eye)
    names = session.scalars(
        select(Image.original_name).join(Exam, Image.exam_id == Exam.id).where(Exam.patient_id == patient.id)
    )
    highest = max((p.n for p in map(parse_image_name, names) if p is not None and p.eye == token), default=0)
    return ImageName(patient.code, token, exam_date, highest + 1).render()


def original_file_names(session: Session) -> dict[int, list[str]]:
    """Image id → the file names it was imported under (for matching other tools' files by name;
    the caller must be allowed to read the identity — an admin's import)."""
    out: dict[int, list[str]] = {}
    for image_id, value in session.execute(
        select(Identity.image_id, Identity.value).where(Identity.kind == "file_name", Identity.image_id.is_not(None))
    ):
        if image_id is not None:  # always, by the query; says so to the type checker
            out.setdefault(image_id, []).append(value)
    return out


# ---------------------------------------------------------------------------- scrubbing free text
class Scrubber:
    """Removes every identity value of the study (and the parts of names and numbers a person would
    write: "Doe", "00123456", "24/12/2025") from free text, whole words only, any letter case."""

    def __init__(self, rows: Iterable[tuple[str, str]]) -> None:
        variants = {v for kind, value in rows for v in _variants(kind, value) if v.strip()}
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])" for v in ordered), re.IGNORECASE)
            if ordered
            else None
        )

    @classmethod
    def of_study(cls, session: Session) -> Scrubber:
        """The scrubber of every identity value in the study (the caller may read the identity)."""
        return cls((row.kind, row.value) for row in session.execute(select(Identity.kind, Identity.value)))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None and text else text


def _variants(kind: str, value: str) -> set[str]:
    out = {value.strip()}
    if kind in ("patient_name", "other_patient_name"):
        out.add(re.sub(r"[\^,\s]+", " ", value).strip())
    if kind in ("patient_name", "other_patient_name", "patient_id", "other_patient_id"):
        words = re.split(r"[\s^,]+", value) + re.split(r"[^0-9A-Za-z\u00C0-\u024F']+", value)
        out |= {part for part in words if len(part) >= 3}
    if kind == "birth_date" and re.fullmatch(r"\d{8}", value.strip()):
        y, m, d = value[:4], value[4:6], value[6:8]
        out |= {f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{d}.{m}.{y}", f"{m}/{d}/{y}"}
    if kind in ("file_name", "source_path"):
        name = Path(value.replace("\\", "/")).name
        out |= {name, Path(name).stem}
    return out


# ---------------------------------------------------------------------------- public operations
@dataclass(frozen=True)
class PatientIdentity:
    """What identifies the patient of one image, and the image's own file name(s)."""

    code: str
    image_name: str
    values: dict[str, list[str]]  #: kind → values (patient- and image-level)

    def line(self) -> str:
        """One line for the window: ``P0001 · MRN-00123456 · DOE^BABY``."""
        shown = [v for kind in ("patient_id", "patient_name", "birth_date") for v in self.values.get(kind, [])]
        return " · ".join([self.code, *shown])


@guarded(Action.IDENTITY)
def identity_shown(study: Study, actor: Actor) -> bool:
    """Whether the study shows the identity in the window (the admin's :data:`SHOW_SETTING`)."""
    with study.session() as session:
        return bool(repo.get_setting(session, SHOW_SETTING, False))


@guarded(Action.IDENTITY)
def shown_identity(study: Study, actor: Actor, image_id: int) -> PatientIdentity | None:
    """The identity of image ``image_id``'s patient for the window, or None while the study does not
    show it (:data:`SHOW_SETTING` off, the default). Admins only; ask ``policy.allowed`` first."""
    with study.session() as session:
        if not repo.get_setting(session, SHOW_SETTING, False):
            return None
        image = session.get(Image, image_id)
        if image is None:
            raise IdentityError(f"There is no image {image_id} in this study.")
        patient = image.exam.patient
        values: dict[str, list[str]] = {}
        for row in session.scalars(select(Identity).where(Identity.patient_id == patient.id).order_by(Identity.id)):
            if row.image_id in (None, image_id):
                values.setdefault(row.kind, []).append(row.value)
        return PatientIdentity(patient.code, image.original_name, values)


@dataclass(frozen=True)
class MappingExport:
    """What :func:`export_mapping` wrote."""

    path: Path
    patients: int
    rows: int

    def lines(self) -> list[str]:
        return [
            f"wrote: {self.path}",
            f"patients: {self.patients}",
            f"rows: {self.rows}",
            "this file identifies the patients: keep it where the study's identity is kept",
        ]


@guarded(Action.IDENTITY)
def export_mapping(study: Study, actor: Actor, path: str | Path) -> MappingExport:
    """Write the code ↔ identity mapping as CSV (:data:`MAPPING_COLUMNS`, one row per value; image
    rows name the image). Admins only, and never part of another export; an audit event records
    who wrote it where, without any of the values."""
    target = Path(path)
    with study.session() as session:
        names = {i.id: i.original_name for i in repo.list_images(session)}
        rows = [
            (p.code, names.get(r.image_id, "") if r.image_id else "", r.kind, r.value, r.source)
            for r, p in session.execute(
                select(Identity, Patient)
                .join(Patient, Identity.patient_id == Patient.id)
                .order_by(Patient.code, Identity.image_id.is_not(None), Identity.id)
            )
        ]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(MAPPING_COLUMNS)
            writer.writerows(rows)
    except OSError as exc:
        raise IdentityError(f"Cannot write {target}: {exc.strerror or exc}") from exc
    result = MappingExport(target, len({r[0] for r in rows}), len(rows))
    with study.session() as session:
        repo.add_audit(
            session,
            "identity",
            0,
            "export",
            grader=actor.id,
            after={"file": str(target.resolve()), "patients": result.patients, "rows": result.rows},
        )
    return result


__all__ = [
    "CODE_PREFIX",
    "REDACTED",
    "SHOW_SETTING",
    "Found",
    "IdentityError",
    "ImageName",
    "MappingExport",
    "PatientIdentity",
    "Scrubber",
    "clean",
    "digest",
    "export_mapping",
    "identity_shown",
    "new_image_name",
    "next_code",
    "original_file_names",
    "parse_image_name",
    "patient_for",
    "record",
    "shown_identity",
]

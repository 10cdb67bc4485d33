"""Import a folder or a list of image files (and an optional CSV manifest) into a study.

:func:`import_images` is a generator: it yields an :class:`ImportProgress` after every file and
returns an :class:`ImportSummary`. The desktop app runs it in a worker thread (cancel = close
the generator between two files); the command line iterates it directly.

Every image is one unit of work: its bytes are stored (content-addressed, atomically) and its
rows (patient, exam, image) are committed in one transaction. A file that fails — corrupt,
truncated, not an image — is reported with its reason and the import goes on. A failure or a
cancellation between two files leaves only whole images behind; a failure inside one image's
transaction rolls its rows back and removes a file it had just stored.

Only an admin imports images (:data:`Action.IMPORT_IMAGES`): new images change every grader's
worklist and the study's identity table.

Whatever identifies the patient or the file — the manifest's ``patient`` (hospital number) and
``patient_name``, the DICOM PatientID, PatientName, birth date, issuer, other IDs and names, the
file's own name and folder — goes into the identity table only
(:mod:`rop_desktop.services.identity`). The patient gets a generated code (``P0001``), found
again by any of its hospital numbers at a later import, and the image a pseudonymous name
(``P0001-OD-20260201-001``): that is all the worklist, the logs and the exports ever show.

Decoding is the slow part (a 2040x2040 PNG takes ~100 ms): it runs in a small thread pool
(OpenCV releases the GIL) while the database writes stay sequential and in source order.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom
from sqlalchemy.exc import IntegrityError

from rop_desktop.domain.labels import Eye
from rop_desktop.imaging.decode import DecodedImage, ImageDecodeError, decode_image
from rop_desktop.imaging.thumbnails import encode_jpeg, make_thumbnail
from rop_desktop.interop.dicom import identifying_values
from rop_desktop.interop.manifest import Manifest, ManifestError, ManifestRow, read_manifest
from rop_desktop.interop.sources import collect_sources
from rop_desktop.store import Study, repo
from training.imageops import field_of_view_mask, fov_circle

from . import identity
from .identity import Found
from .policy import Action, Actor, guarded

#: Extension of the stored copy per decoded format.
_EXT = {"png": "png", "jpeg": "jpg", "bmp": "bmp", "tiff": "tif", "dicom": "dcm", "webp": "webp"}
THUMB_SIDE = 256
#: Tries of an image's transaction when another workstation's import takes the new patient code first.
_ATTEMPTS = 3
_EYE_TOKENS = {
    "od": Eye.OD,
    "re": Eye.OD,
    "right": Eye.OD,
    "r": Eye.OD,
    "os": Eye.OS,
    "le": Eye.OS,
    "left": Eye.OS,
    "l": Eye.OS,
}


@dataclass(frozen=True)
class ImportProgress:
    done: int
    total: int
    current: str
    imported: int
    duplicates: int
    failed: int
    problem: ImportProblem | None = None  # this file's failure or duplicate notice, if any


@dataclass(frozen=True)
class ImportProblem:
    path: str
    reason: str


@dataclass
class ImportSummary:
    imported: list[int] = field(default_factory=list)  # new image ids
    duplicates: list[ImportProblem] = field(default_factory=list)  # reason names the image already there
    failed: list[ImportProblem] = field(default_factory=list)
    manifest_problems: list[str] = field(default_factory=list)
    unmatched_manifest_rows: list[str] = field(default_factory=list)
    manifest_unused: list[str] = field(default_factory=list)  #: manifest columns that are no field
    cancelled: bool = False
    total: int = 0

    def lines(self) -> list[str]:
        """A human summary, as printed by ``rop-desktop import``."""
        out = [
            f"imported: {len(self.imported)}",
            f"duplicates (skipped): {len(self.duplicates)}",
            f"failed: {len(self.failed)}",
        ]
        if self.cancelled:
            out.append(
                f"cancelled after {len(self.imported) + len(self.duplicates) + len(self.failed)} of {self.total} files"
            )
        out += [f"  duplicate  {p.path}: {p.reason}" for p in self.duplicates]
        out += [f"  FAILED     {p.path}: {p.reason}" for p in self.failed]
        out += [f"  manifest   {m}" for m in [*self.manifest_problems, *self.manifest_notes()]]
        return out

    def manifest_notes(self) -> list[str]:
        """What of the manifest was not used: columns that are no field, rows that matched no file."""
        out = []
        if self.manifest_unused:
            out.append(f"columns not used (not a manifest field): {', '.join(self.manifest_unused)}")
        if self.unmatched_manifest_rows:
            out.append(
                f"{len(self.unmatched_manifest_rows)} row(s) matched no imported file: "
                + ", ".join(self.unmatched_manifest_rows[:10])
                + (" …" if len(self.unmatched_manifest_rows) > 10 else "")
            )
        return out


@dataclass(frozen=True)
class _Prepared:
    """What the thread pool computes for one file, off the database thread."""

    path: Path
    data: bytes
    sha256: str
    decoded: DecodedImage
    thumbnail_jpeg: bytes
    fov_png: bytes | None
    fov: tuple[float, float, float] | None
    identity: tuple[tuple[str, str], ...] = ()  #: (kind, value) identifying the patient in DICOM tags


def _prepare(path: Path) -> _Prepared:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file ({exc.strerror or exc})", path.name) from exc
    decoded = decode_image(data, path.name)
    thumb = encode_jpeg(make_thumbnail(decoded.rgb, THUMB_SIDE))
    # field of view on a reduced copy (fast), scaled back to full-resolution coordinates
    scale = min(1.0, 1024.0 / max(decoded.width, decoded.height))
    small = (
        cv2.resize(decoded.rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else decoded.rgb
    )
    mask = field_of_view_mask(small)
    circle = fov_circle(mask) if mask.min() == 0 else None
    fov = (circle[0] / scale, circle[1] / scale, circle[2] / scale) if circle else None
    fov_png = None
    if fov is not None:
        full: np.ndarray = np.zeros((decoded.height, decoded.width), np.uint8)
        cv2.circle(full, (round(fov[0]), round(fov[1])), round(fov[2]), 255, -1)
        full = cv2.bitwise_and(full, cv2.resize(mask, (decoded.width, decoded.height), interpolation=cv2.INTER_NEAREST))
        ok, buf = cv2.imencode(".png", full, [cv2.IMWRITE_PNG_BILEVEL, 1])
        fov_png = buf.tobytes() if ok else None
    found = tuple(_dicom_identity(data)) if decoded.format == "dicom" else ()
    return _Prepared(path, data, hashlib.sha256(data).hexdigest(), decoded, thumb, fov_png, fov, found)


def _dicom_identity(data: bytes) -> list[tuple[str, str]]:
    """The patient's identifiers in a DICOM file's tags (the pixels were decoded already)."""
    try:
        return identifying_values(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True))
    except Exception:  # noqa: BLE001 - decode_image read it: whatever pydicom refuses now holds no tag we need
        return []


def thumbnail_file(sha256: str) -> str:
    """Where an image's thumbnail lives, relative to the study's cache folder."""
    return f"thumbs/{sha256[:2]}/{sha256}.jpg"


def fov_mask_file(sha256: str) -> str:
    """Where an image's field-of-view mask (PNG, 255 inside) lives, relative to cache/."""
    return f"fov/{sha256[:2]}/{sha256}.png"


def _write_cache(study: Study, relative: str, data: bytes) -> None:
    target = study.cache_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def eye_from_name(name: str) -> Eye | None:
    """OD/OS from tokens in a file name ("..._OD_...", "right"); None when it does not say."""
    tokens = [t for t in re.split(r"[^a-z]+", Path(name).stem.lower()) if t]
    found = {_EYE_TOKENS[t] for t in tokens if t in _EYE_TOKENS and (len(t) > 1 or len(tokens) > 1)}
    return found.pop() if len(found) == 1 else None


def _found(p: _Prepared, row: ManifestRow | None) -> list[Found]:
    """What identifies this image's patient and file, hospital numbers first (the manifest's wins)."""
    found = []
    if row is not None and row.patient:
        found.append(Found("patient_id", row.patient, "manifest"))
    found += [Found(kind, value, "dicom") for kind, value in p.identity]
    if row is not None and row.patient_name:
        found.append(Found("patient_name", row.patient_name, "manifest"))
    found += [Found("file_name", p.path.name, "file"), Found("source_path", str(p.path.resolve()), "file")]
    return identity.clean(found)


@guarded(Action.IMPORT_IMAGES)
def import_images(
    study: Study,
    actor: Actor,
    sources: Sequence[str | Path],
    manifest: str | Path | Manifest | None = None,
    *,
    workers: int | None = None,
) -> Generator[ImportProgress, None, ImportSummary]:
    """Import ``sources`` (files and folders) into ``study``; see the module docstring.

    Patient, eye, exam date, gestational age, birth weight and hospital diagnosis come from the
    manifest row of the file when there is one, else from the DICOM tags, else (eye only) from
    the file name. The patient is the one an earlier import found by the same hospital number
    (manifest ``patient`` or DICOM PatientID), else a new one with the next code; without any
    hospital number each image gets a patient of its own. See the module doc for the identity.
    Raises :class:`ManifestError` before importing anything if the manifest is unusable.
    """
    summary = ImportSummary()
    parsed = manifest if manifest is None or isinstance(manifest, Manifest) else read_manifest(Path(manifest))
    if parsed is not None:
        summary.manifest_problems = [f"line {p.line}, {p.column}: {p.message}" for p in parsed.problems]
        summary.manifest_unused = list(parsed.unused)
    collected = collect_sources([Path(s) for s in sources])
    summary.failed.extend(ImportProblem(str(p.path), p.reason) for p in collected.problems)
    files = list(collected.files)
    summary.total = len(files)
    matched_rows: set[int] = set()
    pool = ThreadPoolExecutor(
        max_workers=workers or min(4, max(1, (os.cpu_count() or 2))), thread_name_prefix="rop-import"
    )
    window = 2 * (pool._max_workers)  # private but stable: bounded read-ahead keeps memory flat
    pending: list[Future[_Prepared]] = []
    try:
        queue = iter(files)
        for path in _take(queue, window):
            pending.append(pool.submit(_prepare, path))
        done = 0
        while pending:
            future = pending.pop(0)
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_prepare, nxt))
            path = files[done]
            done += 1
            problem: ImportProblem | None = None
            try:
                prepared = future.result()
            except ImageDecodeError as exc:
                problem = ImportProblem(str(path), exc.reason)
                summary.failed.append(problem)
            except Exception as exc:  # noqa: BLE001 - any unexpected decoder failure is per file
                problem = ImportProblem(str(path), f"unexpected error: {exc}")
                summary.failed.append(problem)
            else:
                row = parsed.lookup(path) if parsed is not None else None
                if row is not None:
                    matched_rows.add(id(row))
                problem = _store_one(study, prepared, row, summary)
            yield ImportProgress(
                done,
                len(files),
                path.name,
                len(summary.imported),
                len(summary.duplicates),
                len(summary.failed),
                problem,
            )
    except GeneratorExit:
        summary.cancelled = True
        raise
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    if parsed is not None:
        summary.unmatched_manifest_rows = [
            r.file for r in parsed.rows.values() if id(r) not in matched_rows and not _was_duplicate(r, summary)
        ]
    return summary


def _was_duplicate(row: ManifestRow, summary: ImportSummary) -> bool:
    name = Path(row.file).name.lower()
    return any(Path(p.path).name.lower() == name for p in summary.duplicates)


def _take(iterator: Iterable[Path], n: int) -> list[Path]:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out


def _store_one(study: Study, p: _Prepared, row: ManifestRow | None, summary: ImportSummary) -> ImportProblem | None:
    """Store one prepared image; returns its duplicate/failure notice, None when imported."""
    d = p.decoded
    with study.session() as session:
        existing = repo.find_image_by_sha(session, p.sha256)
        if existing is not None:
            problem = ImportProblem(
                str(p.path), f"same content as {existing.original_name} (already in the study as image {existing.id})"
            )
            summary.duplicates.append(problem)
            return problem
    ext = _EXT.get(d.format, "bin")
    file_existed = study.image_path(f"{p.sha256[:2]}/{p.sha256}.{ext}").exists()
    relative = study.store_image_bytes(p.data, p.sha256, ext)
    try:
        for attempt in range(_ATTEMPTS):
            try:
                image_id = _add_rows(study, p, row, relative)
                break
            except IntegrityError:
                # another workstation's import took the same new patient code: try again, with the next
                if attempt == _ATTEMPTS - 1:
                    raise
        _write_cache(study, thumbnail_file(p.sha256), p.thumbnail_jpeg)
        if p.fov_png is not None:
            _write_cache(study, fov_mask_file(p.sha256), p.fov_png)
    except Exception as exc:  # noqa: BLE001 - any failure is this file's: reported, its bytes removed
        if not file_existed:
            study.image_path(relative).unlink(missing_ok=True)
        problem = ImportProblem(str(p.path), f"could not be stored: {exc}")
        summary.failed.append(problem)
        return problem
    summary.imported.append(image_id)
    return None


def _add_rows(study: Study, p: _Prepared, row: ManifestRow | None, relative: str) -> int:
    """The patient (found or new), exam, image and identity rows of one image, in one transaction."""
    d = p.decoded
    found = _found(p, row)
    with study.session() as session:
        patient = identity.patient_for(
            session,
            found,
            gestational_age_weeks=row.gestational_age if row else None,
            birth_weight_g=round(row.birth_weight) if row and row.birth_weight is not None else None,
        )
        exam = repo.get_or_create_exam(
            session,
            patient,
            (row.exam_date if row and row.exam_date else d.meta.get("exam_date")),
            (row.camera if row and row.camera else d.meta.get("camera")),
            (row.site if row and row.site else d.meta.get("site")),
            pma_weeks=row.pma if row else None,
        )
        eye = (row.eye if row and row.eye else None) or d.meta.get("laterality") or eye_from_name(p.path.name)
        image = repo.add_image(
            session,
            exam=exam,
            file=relative,
            original_name=identity.new_image_name(session, patient, eye, exam.exam_date),
            sha256=p.sha256,
            width=d.width,
            height=d.height,
            format=d.format,
            bytes=len(p.data),
            eye=eye,
            hospital_diagnosis=row.hospital_diagnosis if row else None,
            fov=p.fov,
            source_path=None,
        )
        identity.record(session, patient, image, found)
        return image.id


@guarded(Action.IMPORT_IMAGES)
def run_import(
    study: Study, actor: Actor, sources: Sequence[str | Path], manifest: str | Path | None = None
) -> ImportSummary:
    """Import to the end without progress (scripts, the demo builder)."""
    gen = import_images(study, actor, sources, manifest)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


__all__ = [
    "ImportProblem",
    "ImportProgress",
    "ImportSummary",
    "ManifestError",
    "eye_from_name",
    "fov_mask_file",
    "import_images",
    "run_import",
    "thumbnail_file",
]

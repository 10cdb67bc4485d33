"""Exports of the reference standard: a CSV table and a training dataset snapshot.

Only pseudonymous data leave the study: the patient code, eye, exam date and camera, the
image's pseudonymous name (``P0001-OD-20260201-001``; :mod:`.identity`), never the original file
name or source path (either may carry a patient's name), nor birth data, nor graders' free-text
comments. The snapshot's image files carry no metadata and never a DICOM header
(:mod:`.export_images`). Both exports hold every grader's work and
the reference standard, so only an adjudicator or admin exports them (:data:`Action.EXPORT_ALL`);
a snapshot leaves an audit event naming who exported it.

The snapshot (format in ``training/README.md``) holds one record per image with a reference
standard: ``quality`` (ungradable images are marked and carry no labels), ``label_binary`` from
ROP presence, ``stage``, ``plus``, the graders' answers (``graders``, for paper A's error
reduction), and the reference outline as mask + polygons:

* the adjudicator's choice (one grader's polygons, or a consensus rule) when there is one,
  else the ``mask_rule`` consensus (pixel majority by default) of the graders who submitted the
  image as gradable (:func:`rop_desktop.imaging.consensus_mask.consensus_mask`);
* app shapes use the pixel-*corner* convention and snapshots the pixel-*centre* one, so every
  shape is moved by (-0.5, -0.5) before it is rasterised or written;
* an image whose reference says "no ROP" gets an empty mask (no line to see); an ROP image
  whose outlines have no consensus gets neither mask nor polygons (``meta.outline`` says why).
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from shapely import affinity
from shapely.geometry import Polygon

from rop_desktop.domain.consensus import RULES, consensus_geometry
from rop_desktop.domain.coordinates import CENTRE_TO_CORNER
from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.domain.shapes import Shape
from rop_desktop.imaging.consensus_mask import consensus_mask
from rop_desktop.imaging.decode import ImageDecodeError
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Image
from training.formats.masks import to_snapshot_polygons
from training.snapshot import TASKS, Snapshot, SnapshotError, SnapshotRecord, SnapshotWriter

from .exams import ReferenceEye, reference_eyes
from .export_images import clean_image
from .outline_rows import shape_of
from .policy import Action, Actor, guarded
from .reference import commonest_kind, geometry_choice, submitted_votes, voter_shapes

#: The eye at that visit (eye-level exams) and the reference landmarks, after the image's own columns.
EXAM_CSV_COLUMNS: tuple[str, ...] = (
    "eye_stage",
    "eye_zone",
    "eye_plus",
    "eye_arop",
    "eye_extent_clock_hours",
    "eye_basis",
    "treatment_class",
    "etrop",
    "disc_x",
    "disc_y",
    "disc_radius",
    "fovea_x",
    "fovea_y",
)
REFERENCE_CSV_COLUMNS: tuple[str, ...] = (
    "image",
    "sha256",
    "patient",
    "eye",
    "exam_date",
    "camera",
    *(f for f in GRADE_FIELDS if f != "comment"),
    "method",
    "decided_by",
    "decided_at",
    *EXAM_CSV_COLUMNS,
)
#: App shapes (pixel corners) → snapshot polygons (pixel centres).
PIXEL_CENTRE_SHIFT = -CENTRE_TO_CORNER  # app pixel corners → file pixel centres (domain.coordinates)


class ExportError(ServiceError):
    """An export that cannot be done; ``reason`` is a sentence for the user."""


@guarded(Action.EXPORT_ALL)
def export_reference_csv(study: Study, actor: Actor, path: str | Path) -> Path:
    """Write the reference standard as CSV (one row per decided image; columns
    :data:`REFERENCE_CSV_COLUMNS`, enum values as stored, UTF-8; its folder made if needed); returns
    the path."""
    path = Path(path)
    with study.session() as session:
        rows = []
        names = {g.id: g.name for g in repo.list_graders(session, active_only=False)}
        refs = {r.image_id: r for r in repo.list_references(session)}
        eyes = reference_eyes(session)
        for image in repo.list_images(session, image_ids=list(refs)):
            ref = refs[image.id]
            rows.append(
                {
                    **_identity(image),
                    **_without_comment(ref.values.as_dict()),
                    "method": ref.method,
                    "decided_by": names.get(ref.decided_by, "") if ref.decided_by is not None else "",
                    "decided_at": ref.decided_at.isoformat(),
                    **_eye_columns(eyes.get(image.id)),
                }
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=REFERENCE_CSV_COLUMNS)
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    return path


@guarded(Action.EXPORT_ALL)
def export_snapshot(
    study: Study,
    actor: Actor,
    folder: str | Path,
    *,
    task_filter: str | None = None,
    mask_rule: str = "majority",
    overwrite: bool = False,
    description: str | None = None,
) -> Snapshot:
    """Write the reference standard as a training snapshot in ``folder``; see the module doc.

    ``task_filter`` keeps only the records usable for one training task ("binary", "stage3",
    "hybrid", "segmentation"; as :meth:`training.snapshot.Snapshot.for_task`). The returned
    snapshot's ``stored_hash`` is its content hash, also recorded in the audit trail
    (entity "snapshot").
    """
    if task_filter is not None and task_filter not in TASKS:
        raise ExportError(f"task filter {task_filter!r} is not one of {', '.join(TASKS)}")
    if mask_rule not in RULES:
        raise ExportError(f"mask rule {mask_rule!r} is not one of {', '.join(RULES)}")
    with study.session() as session:
        refs = {r.image_id: r for r in repo.list_references(session)}
        images = repo.list_images(session, image_ids=list(refs))
        ids = [i.id for i in images]
        votes = submitted_votes(session, ids)
        voters = voter_shapes(session, ids)
        eyes = reference_eyes(session)
        extras = {i.id: _eye_fields(eyes.get(i.id), i) for i in images}
        entries = []
        for image in images:
            ref = refs[image.id]
            chosen, rule = geometry_choice(ref.detail, mask_rule)
            polys = voters.get(image.id, {})
            if chosen is not None:
                polys = {
                    chosen: [shape_of(a) for a in repo.annotations_for(session, image.id) if a.grader.name == chosen]
                }
            entries.append(
                (
                    image,
                    _identity(image),
                    ref.values,
                    ref.method,
                    rule,
                    chosen,
                    polys,
                    {name: v for name, (_, v) in votes.get(image.id, {}).items()},
                )
            )
    scratch = _scratch_beside(Path(folder))
    try:
        records = [
            (record.replace(**extras[image.id]), image, mask)
            for record, image, mask in (_record(*entry) for entry in entries)
        ]
        if task_filter is not None:
            usable = Snapshot(root=Path(folder), records=tuple(r for r, *_ in records)).for_task(task_filter)
            keep = {r.id for r in usable}
            records = [entry for entry in records if entry[0].id in keep]
        writer = SnapshotWriter(
            folder, overwrite=overwrite, description=description or f"Reference standard of the study {study.name!r}"
        )
        for record, image, mask in records:
            source = _image_source(study, image, scratch)
            fields = {k: v for k, v in record.to_dict().items() if k not in ("id", "image", "mask", "polygons")}
            writer.add(source, id=record.id, mask=mask, polygons=record.polygons, **fields)
        snapshot = writer.close()
    except SnapshotError as exc:
        raise ExportError(f"Cannot write the snapshot in {folder}: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with study.session() as session:
        repo.add_audit(
            session,
            "snapshot",
            0,
            "export",
            grader=actor.id,
            after={
                "hash": snapshot.stored_hash,
                "folder": str(Path(folder).resolve()),
                "records": len(snapshot),
                "task_filter": task_filter,
                "mask_rule": mask_rule,
            },
        )
    return snapshot


# ---------------------------------------------------------------------------- records
def _identity(image: Image) -> dict[str, Any]:
    exam = image.exam
    return {
        "image": image.original_name,
        "sha256": image.sha256,
        "patient": exam.patient.code,
        "eye": image.eye.value if image.eye else None,
        "exam_date": exam.exam_date.isoformat() if exam.exam_date else None,
        "camera": exam.camera,
    }


def _record(
    image: Image,
    identity: Mapping[str, Any],
    values: GradeValues,
    method: str,
    rule: str,
    chosen: str | None,
    polys: Mapping[str, Sequence[Shape]],
    votes: Mapping[str, GradeValues],
) -> tuple[SnapshotRecord, Image, np.ndarray | None]:
    """The record (placeholder file paths: the writer names the files), the image row and the mask."""
    record_id = identity["image"]
    meta: dict[str, Any] = {
        "sha256": image.sha256,
        "method": method,
        "outline": {"grader": chosen} if chosen else {"rule": rule},
    }
    fields: dict[str, Any] = {
        "patient": identity["patient"],
        "eye": identity["eye"],
        "camera": identity["camera"],
        "exam_date": identity["exam_date"],
        "source": None,
        "graders": {name: _grader_labels(v) for name, v in votes.items()},
    }
    mask: np.ndarray | None = None
    polygons: list[Any] = []
    if values.quality is Quality.UNGRADABLE:
        fields["quality"] = Quality.UNGRADABLE.value
    else:
        label = _binary(values.rop)
        stage = values.stage.value if values.stage not in (None, Stage.NA) else None
        if stage is not None and label is not None and (stage != "0") != (label == 1):
            meta["note"] = f"stage {stage} contradicts the ROP answer: stage left out"
            stage = None
        fields.update(
            quality=Quality.GRADABLE.value if values.quality else None,
            label_binary=label,
            stage=stage,
            plus=values.plus.value if values.plus and values.plus.severity is not None else None,
        )
        shifted = {name: [_centre_polygon(s) for s in shapes] for name, shapes in polys.items()}
        if label == 0:
            mask = np.zeros((image.height, image.width), np.uint8)
        elif shifted:
            mask = consensus_mask(shifted, (image.height, image.width), rule=rule)
            kind, poly_stage = commonest_kind([s for shapes in polys.values() for s in shapes])
            polygons = to_snapshot_polygons(
                consensus_geometry(shifted, rule),
                min_area=1.0,
                lesion_type=kind.value if kind else None,
                stage=poly_stage.value if poly_stage and poly_stage.major else None,
            )
        if label == 1 and (mask is None or not mask.any()):
            mask, polygons = None, []
            meta["outline"] = {**meta["outline"], "missing": "the graders' outlines have no consensus"}
    record = SnapshotRecord.from_dict(
        {
            **fields,
            "id": record_id,
            "image": "images/placeholder.png",
            "meta": meta,
            "mask": "masks/placeholder.png" if mask is not None else None,
            "polygons": [p.to_dict() for p in polygons],
        }
    )
    return record, image, mask


def _image_source(study: Study, image: Image, scratch: Path) -> Path | np.ndarray:
    """The image as it may leave (:func:`.export_images.clean_image`): the stored file where it
    holds no metadata, else a metadata-free copy in ``scratch``, for the writer to link; or the
    decoded pixels."""
    try:
        clean = clean_image(study.image_path(image), image.format)
    except ImageDecodeError as exc:
        raise ExportError(f"{image.original_name} cannot be read for the snapshot: {exc.reason}") from exc
    if clean.path is not None:
        return clean.path  # nothing to remove: linked as it is stored
    return clean.rgb if clean.rgb is not None else clean.write(scratch / image.original_name)


def _scratch_beside(folder: Path) -> Path:
    """A temporary folder next to ``folder`` (same file system: the writer links from it, no copy)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".rop-snapshot-", dir=folder.parent))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="rop-snapshot-"))


def _eye_columns(eye: ReferenceEye | None) -> dict[str, Any]:
    """The reference CSV's :data:`EXAM_CSV_COLUMNS` of one image (empty where nothing is known)."""
    out: dict[str, Any] = dict.fromkeys(EXAM_CSV_COLUMNS)
    if eye is None:
        return out
    if eye.values is not None and eye.classification is not None:
        values = eye.values.as_dict()
        out.update(
            eye_stage=values["stage"],
            eye_zone=values["zone"],
            eye_plus=values["plus"],
            eye_arop=values["arop"],
            eye_extent_clock_hours=values["extent_clock_hours"],
            eye_basis=eye.basis,
            treatment_class=eye.classification.klass.value,
            etrop=eye.classification.etrop,
        )
    lm = eye.landmarks
    if lm is not None:
        out.update(
            disc_x=lm.disc[0] if lm.disc else None,
            disc_y=lm.disc[1] if lm.disc else None,
            disc_radius=lm.disc_radius,
            fovea_x=lm.fovea[0] if lm.fovea else None,
            fovea_y=lm.fovea[1] if lm.fovea else None,
        )
    return out


def _eye_fields(eye: ReferenceEye | None, image: Image) -> dict[str, Any]:
    """The snapshot record's ``landmarks`` (pixel centres, as the polygons) and ``exam`` fields."""
    if eye is None:
        return {}
    out: dict[str, Any] = {}
    lm = eye.landmarks
    if lm is not None:

        def centre(p: tuple[float, float] | None) -> list[float] | None:
            return None if p is None else [p[0] + PIXEL_CENTRE_SHIFT, p[1] + PIXEL_CENTRE_SHIFT]

        out["landmarks"] = {"disc": centre(lm.disc), "disc_radius": lm.disc_radius, "fovea": centre(lm.fovea)}
    exam = eye.exam_dict(image.exam.patient.code, image.exam.exam_date)
    if exam is not None:
        out["exam"] = exam
    return out


def _without_comment(values: dict[str, Any]) -> dict[str, Any]:
    """Grade fields without the free-text comment (never exported here: it may name a patient)."""
    return {k: v for k, v in values.items() if k != "comment"}


def _centre_polygon(shape: Shape) -> Polygon:
    polygon = Polygon(shape.points, [h for h in shape.holes if len(h) >= 3]) if len(shape.points) >= 3 else Polygon()
    return affinity.translate(polygon, PIXEL_CENTRE_SHIFT, PIXEL_CENTRE_SHIFT)


def _binary(rop: RopPresence | None) -> int | None:
    return {RopPresence.YES: 1, RopPresence.NO: 0}.get(rop) if rop is not None else None


def _grader_labels(values: GradeValues) -> dict[str, Any]:
    stage = values.stage.value if values.stage not in (None, Stage.NA) else None
    return {
        "rop": _binary(values.rop) if values.quality is not Quality.UNGRADABLE else None,
        "stage": stage,
        "plus": values.plus.value if values.plus and values.plus.severity is not None else None,
        "quality": values.quality.value if values.quality else None,
    }

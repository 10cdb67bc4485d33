"""Export a study's outlines and grades as VIA, labelme, COCO, mask PNGs or a grade CSV.

Only pseudonymous data leave the study: images are named by their pseudonymous name
(``P0001-OD-20260201-001.png``, :mod:`..identity`), with the patient *code* and eye; never the
original name or source path, and copied images carry no metadata nor DICOM header
(:mod:`..export_images`). Graders' free-text comments stay in the study unless an admin asks for
them (``include_comments``, :data:`Action.IDENTITY`: free text is where names slip in), and then
every identity value of the study is scrubbed out of them.
Outlines are moved from the app's pixel-corner convention to the files' pixel-centre one
(-0.5 px), as :mod:`rop_desktop.services.export` does. VIA and labelme polygons have no holes
(they are dropped there); COCO writes a polygon with holes as RLE, masks keep them.

Exports open in the tools themselves. labelme and VIA show an annotation only over its image, so
their exports always hold the images (:data:`WITH_IMAGES`; cleaned copies, as above): labelme's
``NAME.json`` sits next to ``NAME.png`` (``imagePath`` is the bare file name), VIA's files next
to ``images/`` (``default_filepath`` "images/"), and every VIA entry is keyed by the file's name
*and its size in bytes*, which is how VIA recognises the image a user adds. VIA gets all three of
its forms: the project (*Project → Load*), the region JSON and the region CSV (*Annotation →
Import annotations*). The other formats write the images only with ``copy_images`` (into
``images/``). The layouts, with examples, are in docs/formats.md ("Writing (exports)").

Who may export what is the access policy's: every account may export its own work
(:data:`Action.EXPORT_OWN`); other graders' work and the reference standard need
:data:`Action.EXPORT_ALL` (adjudicator, admin). Work nobody submitted (draft grades, outlines
on images whose grade is not submitted) stays in the study unless ``include_drafts`` asks for
it explicitly: an export is a hand-over, and an unsubmitted opinion is not one yet. Every
export leaves an audit event naming who exported what.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pycocotools import mask as coco_mask
from shapely import affinity
from shapely.geometry import Polygon

from rop_desktop.domain.consensus import consensus_geometry
from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues
from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Shape, as_ring
from rop_desktop.imaging.decode import ImageDecodeError
from rop_desktop.store import Study, repo
from training.data.io import write_mask
from training.formats.labelme import LabelmeFile, LabelmeShape, write_labelme
from training.formats.masks import clean_polygons, polygon_rings, polygons_to_mask
from training.formats.via import ViaImage, ViaProject, ViaRegion, default_settings, write_via

from ..export import PIXEL_CENTRE_SHIFT
from ..export_images import clean_image
from ..identity import Scrubber
from ..outline_rows import shape_of
from ..policy import Action, Actor, allowed, check, guarded
from ..reference import commonest_kind, geometry_choice, voter_shapes
from .common import FORMATS, AnnotationIOError
from .via_csv import write_via_csv

REFERENCE = "reference"
GraderSelection = Sequence[str] | Literal["reference"] | None
CATEGORIES = [{"id": k, "name": t.value, "supercategory": "rop_lesion"} for k, t in enumerate(LesionType, start=1)]
#: The suffix of an exported image file by stored format (what :func:`clean_image` writes).
_SUFFIX = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp"}
#: Formats whose tools open an annotation only over its image: their exports always hold the images.
WITH_IMAGES: tuple[str, ...] = ("via", "labelme")
#: The files of a VIA export: project (Project → Load), region JSON and CSV (Annotation → Import annotations).
VIA_PROJECT, VIA_REGIONS_JSON, VIA_REGIONS_CSV = "via_project.json", "via_regions.json", "via_regions.csv"
#: Where VIA, COCO, mask and CSV exports put the images (labelme: next to each JSON file).
IMAGES_DIR = "images"


@dataclass
class _Entry:
    """One image as it is exported."""

    name: str
    width: int
    height: int
    identity: dict[str, str]
    grades: dict[str, GradeValues] = field(default_factory=dict)  # grader → grade (submitted only, unless drafts)
    shapes: list[tuple[str, Shape, Polygon]] = field(default_factory=list)  # grader, shape, file polygon
    source: Path | None = None
    format: str = "png"  # the stored file's format
    size: int = -1  # bytes of the image file as exported (VIA keys an image by name + size); -1: not written


@guarded(Action.EXPORT_OWN)
def export_annotations(
    study: Study,
    actor: Actor,
    fmt: str,
    folder: str | Path,
    *,
    graders: GraderSelection = None,
    include_drafts: bool = False,
    per_grader: bool = False,
    copy_images: bool = False,
    include_comments: bool = False,
) -> Path:
    """Write annotations in ``fmt`` under ``folder``; returns the file (or folder) written.

    ``graders``: a list of account names, ``"reference"`` for the reference standard (its grade
    and its outline: the adjudicator's choice or the consensus), or None for "all I may export"
    (everyone's for an adjudicator or admin, a grader's own otherwise). Naming another account,
    or the reference, needs :data:`Action.EXPORT_ALL`; a refusal (:class:`AccessDenied`) comes
    before anything is written. ``include_drafts`` also writes unsubmitted grades and the
    outlines of images whose grade is not submitted. ``per_grader`` (masks only) writes one mask
    per grader instead of their union; ``copy_images`` also writes the images (pseudonymous
    names, no metadata) into ``folder/images`` — labelme and VIA exports always hold them
    (:data:`WITH_IMAGES`; labelme's next to each JSON file). ``include_comments`` (admins only) writes the
    graders' comments, scrubbed of the study's identity values; without it no comment leaves.
    """
    if fmt not in FORMATS:
        raise AnnotationIOError(f"unknown annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    selection = _permitted_selection(study, actor, graders)
    scrub: Scrubber | None = None
    if include_comments:
        check(study, actor, Action.IDENTITY)
        with study.session() as session:
            scrub = Scrubber.of_study(session)
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        entries = _collect(study, selection, include_drafts, scrub)
        if copy_images or fmt in WITH_IMAGES:
            _write_images(entries, out if fmt == "labelme" else out / IMAGES_DIR)
        writer = {
            "via": _write_via,
            "labelme": _write_labelme,
            "coco": _write_coco,
            "grades_csv": _write_csv,
            "masks": lambda es, o, _: _write_masks(es, o, per_grader),
        }[fmt]
        written = writer(entries, out, copy_images)
    except OSError as exc:
        raise AnnotationIOError(f"cannot write in {out}: {exc.strerror or exc}") from exc
    except ImageDecodeError as exc:
        raise AnnotationIOError(f"cannot copy an image: {exc.reason}") from exc
    with study.session() as session:
        repo.add_audit(
            session,
            "annotations",
            0,
            "export",
            grader=actor.id,
            after={
                "format": fmt,
                "folder": str(out.resolve()),
                "include_drafts": include_drafts,
                "include_comments": include_comments,
                "graders": selection if selection is None or selection == REFERENCE else list(selection),
                "images": len(entries),
            },
        )
    return written


def _write_images(entries: list[_Entry], folder: Path) -> None:
    """Write each entry's image (pseudonymous name, no metadata) into ``folder``; the entry then
    names the file written and knows its size."""
    for e in entries:
        if e.source is not None:
            written = clean_image(e.source, e.format).write(folder / Path(e.name).stem)
            e.name, e.size = written.name, written.stat().st_size


def _permitted_selection(study: Study, actor: Actor, graders: GraderSelection) -> GraderSelection:
    """``graders`` as this actor may have it, or :class:`AccessDenied` (None → all they may see)."""
    if graders == REFERENCE:
        check(study, actor, Action.EXPORT_ALL)
        return REFERENCE
    if graders is None:
        return None if allowed(study, actor, Action.EXPORT_ALL) else [actor.name]
    names = [graders] if isinstance(graders, str) else list(graders)
    if any(name != actor.name for name in names):
        check(study, actor, Action.EXPORT_ALL)
    return names


# ---------------------------------------------------------------------------- gathering
def _file_polygon(shape: Shape) -> Polygon:
    poly = Polygon(shape.points, [h for h in shape.holes if len(h) >= 3])
    return affinity.translate(poly, PIXEL_CENTRE_SHIFT, PIXEL_CENTRE_SHIFT)


def _collect(study: Study, graders: GraderSelection, include_drafts: bool, scrub: Scrubber | None) -> list[_Entry]:
    """The entries to write; grades without comments unless ``scrub`` (then scrubbed comments)."""
    entries = []
    wanted = None if graders is None or graders == REFERENCE else set(graders)
    with study.session() as session:
        images = repo.list_images(session)
        refs = {r.image_id: r for r in repo.list_references(session)} if graders == REFERENCE else {}
        voters = voter_shapes(session, list(refs)) if refs else {}
        for image in images:
            e = _Entry(
                image.original_name + _SUFFIX.get(image.format, ".png"),
                image.width,
                image.height,
                {"patient": image.exam.patient.code, "eye": image.eye.value if image.eye else ""},
                source=study.image_path(image),
                format=image.format,
            )
            if graders == REFERENCE:
                ref = refs.get(image.id)
                if ref is None:
                    continue
                e.grades[REFERENCE] = _comment(ref.values, scrub)
                e.shapes = [
                    (REFERENCE, s, _file_polygon(s))
                    for s in _reference_shapes(session, image.id, ref, voters.get(image.id, {}))
                ]
            else:
                grades = [
                    g
                    for g in repo.grades_for_image(session, image.id, submitted_only=not include_drafts)
                    if wanted is None or g.grader.name in wanted
                ]
                e.grades = {g.grader.name: _comment(g.values, scrub) for g in grades}
                submitted = {g.grader_id for g in grades if g.submitted}
                for a in repo.annotations_for(session, image.id):
                    if (wanted is None or a.grader.name in wanted) and (include_drafts or a.grader_id in submitted):
                        shape = shape_of(a)
                        e.shapes.append((a.grader.name, shape, _file_polygon(shape)))
            entries.append(e)
    return entries


def _comment(values: GradeValues, scrub: Scrubber | None) -> GradeValues:
    """``values`` with its comment scrubbed (``scrub``) or, by default, left out."""
    return replace(values, comment=scrub(values.comment) if scrub is not None else "")


def _reference_shapes(session: Any, image_id: int, ref: Any, voters: dict[str, list[Shape]]) -> list[Shape]:
    if ref.values.rop is not None and ref.values.rop.value == "no":
        return []
    chosen, rule = geometry_choice(ref.detail)
    if chosen is not None:
        return [shape_of(a) for a in repo.annotations_for(session, image_id) if a.grader.name == chosen]
    if not voters:
        return []
    polys = {
        name: [Polygon(s.points, [h for h in s.holes if len(h) >= 3]) for s in shapes]
        for name, shapes in voters.items()
    }
    kind, stage = commonest_kind([s for shapes in voters.values() for s in shapes])
    return [
        Shape(
            points=as_ring(rings[0]),
            holes=tuple(as_ring(r) for r in rings[1:]),
            lesion_type=kind or LesionType.DEMARCATION_LINE,
            stage=stage,
            source="imported",
        )
        for rings in (polygon_rings(p) for p in clean_polygons(consensus_geometry(polys, rule), 1.0))
    ]


def _single_grade(e: _Entry) -> GradeValues | None:
    """The image's grade when the export holds exactly one grader's (or the reference)."""
    return next(iter(e.grades.values())) if len(e.grades) == 1 else None


def _flat(values: GradeValues | None) -> dict[str, str]:
    if values is None:
        return {}
    return {
        k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.as_dict().items()
        if v not in (None, "")
    }


def _stage(stage: Stage | None) -> str:
    return stage.value if stage is not None else ""


# ---------------------------------------------------------------------------- writers
def _write_via(entries: list[_Entry], out: Path, _: bool) -> Path:
    """The project, the region JSON and the region CSV; returns the project's path."""
    project = ViaProject(settings=default_settings(default_filepath=f"{IMAGES_DIR}/"))
    for e in entries:
        image = ViaImage(e.name, e.size, [], {**e.identity, **_flat(_single_grade(e))})
        for grader, shape, poly in e.shapes:
            image.regions.append(
                ViaRegion.polygon(
                    polygon_rings(poly)[0],
                    {"lesion_type": shape.lesion_type.value, "stage": _stage(shape.stage), "grader": grader},
                )
            )
        project.images.append(image)
    target = out / VIA_PROJECT
    write_via(project, target, kind="project")
    write_via(project, out / VIA_REGIONS_JSON, kind="regions")
    write_via_csv(project, out / VIA_REGIONS_CSV)
    return target


def _write_labelme(entries: list[_Entry], out: Path, _: bool) -> Path:
    """One ``NAME.json`` per image, next to its image ``NAME.png`` (``imagePath`` is the file name)."""
    for e in entries:
        grade = _single_grade(e)
        flags: dict[str, bool] = {}
        if grade is not None and grade.rop is not None and grade.rop.value in ("yes", "no"):
            flags["rop"] = grade.rop.value == "yes"
        if grade is not None and grade.stage is not None and grade.stage is not Stage.NA:
            flags[f"stage_{grade.stage.value}"] = True
        doc = LabelmeFile(
            image_path=e.name,
            flags=flags,
            image_height=e.height,
            image_width=e.width,
            extra={"patient": e.identity["patient"]},
        )
        for grader, shape, poly in e.shapes:
            doc.shapes.append(
                LabelmeShape(
                    shape.lesion_type.value,
                    polygon_rings(poly)[0],
                    "polygon",
                    flags={f"stage_{shape.stage.value}": True} if shape.stage else {},
                    description=grader,
                )
            )
        write_labelme(doc, out / f"{Path(e.name).stem}.json")
    return out


def _coco_segmentation(poly: Polygon, h: int, w: int) -> list[list[float]] | dict[str, Any]:
    if not poly.interiors:
        return [[round(v, 2) for xy in polygon_rings(poly)[0] for v in xy]]
    rle = coco_mask.encode(np.asfortranarray((polygons_to_mask([poly], (h, w)) > 0).astype(np.uint8)))
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def _write_coco(entries: list[_Entry], out: Path, _: bool) -> Path:
    cat = {c["name"]: c["id"] for c in CATEGORIES}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for k, e in enumerate(entries, start=1):
        images.append(
            {
                "id": k,
                "file_name": e.name,
                "width": e.width,
                "height": e.height,
                **e.identity,
                "grade": _flat(_single_grade(e)),
            }
        )
        for grader, shape, poly in e.shapes:
            x0, y0, x1, y1 = poly.bounds
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": k,
                    "category_id": cat[shape.lesion_type.value],
                    "segmentation": _coco_segmentation(poly, e.height, e.width),
                    "area": poly.area,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                    "attributes": {"stage": _stage(shape.stage), "grader": grader},
                }
            )
    target = out / "annotations_coco.json"
    target.write_text(
        json.dumps(
            {
                "info": {"description": "ROP Desktop export"},
                "images": images,
                "annotations": annotations,
                "categories": CATEGORIES,
            }
        ),
        encoding="utf-8",
    )
    return target


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "grader"


def _write_masks(entries: list[_Entry], out: Path, per_grader: bool) -> Path:
    root = out / "masks"
    for e in entries:
        groups: dict[str, list[Polygon]] = {}
        for grader, _, poly in e.shapes:
            groups.setdefault(_slug(grader) if per_grader else "", []).append(poly)
        if not per_grader:
            groups.setdefault("", [])
        for sub, polys in groups.items():
            write_mask(root / sub / f"{Path(e.name).stem}.png", polygons_to_mask(polys, (e.height, e.width)))
    return root


def _write_csv(entries: list[_Entry], out: Path, _: bool) -> Path:
    target = out / "grades.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "grader", "patient", "eye", *GRADE_FIELDS])
        writer.writeheader()
        for e in entries:
            for grader, values in e.grades.items():
                writer.writerow({"image": e.name, "grader": grader, **e.identity, **_flat(values)})
    return target

"""Import outlines and grades from VIA, labelme, COCO, mask folders and grade CSVs into a study.

Each image is matched to the study by its original file name (or the stored content-addressed
name, or its SHA-256, or the name's stem), optionally after importing the image files first.
Every outline goes through :func:`rop_desktop.domain.geometry.validate_polygon` (repaired,
clipped to the image, or refused) and is stored as source ``"imported"`` under one grader,
``"imported: <file name>"`` unless named (a grade CSV's ``grader`` column gives
``"imported: <that grader>"``, so real graders' work is never overwritten), together with a *submitted* grade so that it takes
part in the votes. Re-importing under the same grader replaces that grader's outlines of the
image. One transaction per image: an image is imported whole or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from shapely import affinity

from rop_desktop.domain.geometry import InvalidGeometry, validate_polygon
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality
from rop_desktop.store import Study, repo
from training.formats.errors import FormatError, Problem
from training.formats.masks import clean_polygons

from ..importer import run_import
from .model import FORMATS, AnnotationImportSummary, AnnotationIOError, AttributeMapping, ReadItem
from .readers import read_coco_items, read_grades_csv, read_labelme_items, read_mask_items, read_via_items

#: Files (pixel centres) → app shapes (pixel corners).
TO_APP_SHIFT = 0.5
_Target = tuple[int, int, int]  # image id, width, height


def import_annotations(study: Study, fmt: str, path: str | Path, *, images: Sequence[str | Path] | None = None,
                       grader_name: str | None = None, mapping: Mapping[str, str] | None = None
                       ) -> AnnotationImportSummary:
    """Import the annotations of ``path`` (a file, or a folder for labelme / masks) in format ``fmt``.

    ``images`` (files or folders) are imported into the study first. ``mapping`` renames the
    file's attributes / label values (see :class:`~.model.AttributeMapping`). Bad items are
    reported in the summary's ``problems`` and the rest is imported; a file that cannot be read
    at all raises :class:`AnnotationIOError` before anything is written.
    """
    if fmt not in FORMATS:
        raise AnnotationIOError(f"unknown annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    source = Path(path)
    if not source.exists():
        raise AnnotationIOError(f"{source} does not exist")
    rules = AttributeMapping(mapping)
    summary = AnnotationImportSummary(grader=(grader_name or f"imported: {source.name}").strip())
    if images:
        result = run_import(study, list(images))
        summary.problems += [Problem(p.path, "image", p.reason) for p in result.failed]
    index, sizes = _image_index(study)
    try:
        items, problems = _read(fmt, source, sizes, rules)
    except FormatError as exc:
        raise AnnotationIOError(f"{exc}: the whole file is refused") from exc
    summary.problems += problems
    groups: dict[tuple[int, str], list[ReadItem]] = defaultdict(list)
    targets: dict[int, _Target] = {}
    for item in items:
        target = _match(index, item.name)
        if isinstance(target, str):
            summary.problems.append(Problem(item.path, item.where, target))
            continue
        image_id, w, h = target
        if item.hw is not None and item.hw != (h, w):
            summary.problems.append(Problem(item.path, item.where, f"{item.hw[1]}x{item.hw[0]} but the study's "
                                            f"image {item.name} is {w}x{h} (width x height); skipped"))
            continue
        targets[image_id] = target
        groups[(image_id, f"imported: {item.grader}" if item.grader else summary.grader)].append(item)
    for (image_id, grader), group in groups.items():
        _store_image(study, fmt, targets[image_id], grader, group, rules, summary)
    return summary


def _read(fmt: str, source: Path, sizes: Mapping[str, tuple[int, int]], rules: AttributeMapping
          ) -> tuple[list[ReadItem], list[Problem]]:
    if fmt == "via":
        return read_via_items(source, sizes)
    if fmt == "labelme":
        return read_labelme_items(source)
    if fmt == "coco":
        return read_coco_items(source)
    if fmt == "masks":
        return read_mask_items(source, rules)
    return read_grades_csv(source)


def _image_index(study: Study) -> tuple[dict[str, list[_Target]], dict[str, tuple[int, int]]]:
    """Lower-case names (original, stored, SHA-256, their stems) → images; and names → (h, w)."""
    index: dict[str, list[_Target]] = defaultdict(list)
    sizes: dict[str, tuple[int, int]] = {}
    with study.session() as session:
        for image in repo.list_images(session):
            target = (image.id, image.width, image.height)
            names = {image.original_name, Path(image.file).name, image.sha256}
            for name in names | {Path(n).stem for n in names}:
                if target not in index[name.lower()]:
                    index[name.lower()].append(target)
            sizes.update({n: (image.height, image.width) for n in names})
    return index, sizes


def _match(index: Mapping[str, list[_Target]], name: str) -> _Target | str:
    base = Path(name.replace("\\", "/")).name.lower()
    found = index.get(base) or index.get(Path(base).stem) or []
    if not found:
        return f"image {name!r} is not in the study (import it first, or pass images=); skipped"
    if len(found) > 1:
        return f"image name {name!r} matches {len(found)} images of the study; skipped (rename one)"
    return found[0]


def _store_image(study: Study, fmt: str, target: _Target, grader_name: str, items: list[ReadItem],
                 rules: AttributeMapping, summary: AnnotationImportSummary) -> None:
    """One image, one transaction: the grader's outlines replaced, its grade submitted."""
    image_id, w, h = target
    problems: list[Problem] = []
    shapes = []
    fields: dict[str, object] = {}
    for item in items:
        fields.update(rules.grade(item.attributes, item.path, item.where, problems))
        for region in item.regions:
            lesion, warning = rules.lesion(region.attributes)
            if warning:
                problems.append(Problem(item.path, region.where, warning, "warning"))
            try:
                stage = rules.region_stage(region.attributes)
            except ValueError as exc:
                problems.append(Problem(item.path, region.where, f"{exc}; stage left empty", "warning"))
                stage = None
            for part in clean_polygons(region.geometry):
                moved = affinity.translate(part, TO_APP_SHIFT, TO_APP_SHIFT)
                try:
                    valid = validate_polygon(list(moved.exterior.coords)[:-1], (w, h),
                                             [list(r.coords)[:-1] for r in moved.interiors])
                except InvalidGeometry as exc:
                    problems.append(Problem(item.path, region.where, f"{exc.reason}; skipped"))
                    continue
                if valid.messages:
                    problems.append(Problem(item.path, region.where, "; ".join(valid.messages), "warning"))
                rings = [[[x, y] for x, y in valid.points]] + [[[x, y] for x, y in r] for r in valid.holes]
                shapes.append((rings, lesion, stage))
    if fmt != "grades_csv":
        fields.setdefault("quality", Quality.GRADABLE.value)
        if shapes:
            fields.setdefault("rop", "yes")
    try:
        with study.session() as session:
            grader = repo.get_or_create_grader(session, grader_name)
            if fmt != "grades_csv":
                for old in repo.annotations_for(session, image_id, grader):
                    old.deleted = True
                for rings, lesion, stage in shapes:
                    repo.add_annotation(session, image_id, grader, rings, lesion, stage=stage, source="imported")
            values = GradeValues.from_dict(fields)
            grade = repo.upsert_grade(session, image_id, grader, values, submitted=True)
            repo.add_audit(session, "grade", grade.id, "import", grader=grader.id, after=values.as_dict())
    except Exception as exc:  # noqa: BLE001 - one image fails whole, the others go on
        summary.problems.append(Problem(items[0].path, items[0].where, f"could not be stored ({exc}); "
                                        "nothing of this image was imported"))
        return
    summary.problems += problems
    summary.annotations += len(shapes)
    summary.grades += 1
    if image_id not in summary.images:
        summary.images.append(image_id)

"""Import outlines and grades from VIA, labelme, COCO, mask folders and grade CSVs into a study.

Only an admin imports (:data:`Action.IMPORT_ANNOTATIONS`), and an import never impersonates:
items are stored under an import account (``imported: <file name>``, see :mod:`.targets`) or,
when asked, under one existing account (``into_grader``) whose *submitted* work is never
overwritten: an image where that account submitted a different grade (or, for outline formats,
different outlines) is skipped and listed as an :class:`~.model.ImportConflict`. Drafts of that
account are replaced (a warning says so). Every change is audited with the admin as the actor,
the receiving account and the file in the payload, and the state before and after.

Each image is matched to the study by the file name it was imported under (kept in the identity
table, which an admin may read), its pseudonymous name, the stored content-addressed name, its
SHA-256, or any of their stems, optionally after importing the image files first.
Every outline goes through :func:`rop_desktop.domain.geometry.validate_polygon` (repaired,
clipped to the image, or refused) and is stored as source ``"imported"``, together with a
*submitted* grade so that it takes part in the votes; the images' references are settled again
afterwards. Re-importing into an import account replaces its outlines of the image. One
transaction per image: an image is imported whole or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shapely import affinity, set_precision
from shapely.geometry import Polygon
from sqlalchemy.orm import Session

from rop_desktop.domain.geometry import InvalidGeometry, validate_polygon
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, Stage
from rop_desktop.store import Study, repo
from training.formats.errors import FormatError, Problem
from training.formats.masks import clean_polygons

from ..grading import shape_of
from ..identity import original_file_names
from ..importer import run_import
from ..policy import Action, Actor, guarded
from ..reference import settle_images
from .model import FORMATS, AnnotationImportSummary, AnnotationIOError, AttributeMapping, ImportConflict, ReadItem
from .readers import read_coco_items, read_grades_csv, read_labelme_items, read_mask_items, read_via_items
from .targets import Target, existing_account, import_account_name, import_accounts

#: Files (pixel centres) → app shapes (pixel corners).
TO_APP_SHIFT = 0.5
_ImageRef = tuple[int, int, int]  # image id, width, height
_NewShape = tuple[list[list[list[float]]], LesionType, Stage | None]  # rings, lesion type, stage


@guarded(Action.IMPORT_ANNOTATIONS)
def import_annotations(study: Study, actor: Actor, fmt: str, path: str | Path, *,
                       images: Sequence[str | Path] | None = None, into_grader: str | None = None,
                       mapping: Mapping[str, str] | None = None) -> AnnotationImportSummary:
    """Import the annotations of ``path`` (a file, or a folder for labelme / masks) in format ``fmt``.

    ``into_grader`` names the existing account that receives the items (default: an import
    account, see the module doc). ``images`` (files or folders) are imported into the study
    first. ``mapping`` renames the file's attributes / label values (see
    :class:`~.model.AttributeMapping`). Bad items are reported in the summary's ``problems``,
    kept submitted work in its ``conflicts``, and the rest is imported; a file that cannot be
    read at all, an unknown ``into_grader`` or a taken import-account name raise
    :class:`AnnotationIOError` before any annotation is written.
    """
    if fmt not in FORMATS:
        raise AnnotationIOError(f"unknown annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    source = Path(path)
    if not source.exists():
        raise AnnotationIOError(f"{source} does not exist")
    rules = AttributeMapping(mapping)
    chosen = _chosen_account(study, into_grader)
    summary = AnnotationImportSummary(grader=chosen.name if chosen else import_account_name(source.name))
    if images:
        _read_or_refuse(fmt, source, {}, rules)  # an unreadable file is refused before the images come in
        result = run_import(study, actor, list(images))
        summary.problems += [Problem(p.path, "image", p.reason) for p in result.failed]
    index, sizes = _image_index(study)
    items, problems = _read_or_refuse(fmt, source, sizes, rules)
    summary.problems += problems
    if chosen is not None and len({i.grader for i in items if i.grader}) > 1:
        raise AnnotationIOError(f"{source.name} holds the grades of several graders: import it without naming "
                                "one account (each grader gets an import account), or split the file.")
    groups, images_of = _group_by_image_and_account(index, items, summary, named=chosen is not None)
    if chosen is not None:
        accounts = {chosen.name: chosen}
    else:
        with study.session() as session:
            accounts = import_accounts(session, actor, [name for _, name in groups], source.name)
        summary.accounts_created = [t.name for t in accounts.values() if t.created]
    for (image_id, name), group in groups.items():
        _store_image(study, actor, fmt, images_of[image_id], accounts[name], group, rules, summary, source.name)
    if summary.images:
        settle_images(study, summary.images, actor_id=actor.id)  # the imported grades vote
    return summary


def _chosen_account(study: Study, into_grader: str | None) -> Target | None:
    if not into_grader:
        return None
    with study.session() as session:
        return existing_account(session, into_grader)


def _group_by_image_and_account(index: Mapping[str, list[_ImageRef]], items: list[ReadItem],
                                summary: AnnotationImportSummary, *, named: bool
                                ) -> tuple[dict[tuple[int, str], list[ReadItem]], dict[int, _ImageRef]]:
    """Items matched to the study's images, grouped by (image id, receiving account name); the
    unmatched ones and size mismatches become problems of ``summary``."""
    groups: dict[tuple[int, str], list[ReadItem]] = defaultdict(list)
    images_of: dict[int, _ImageRef] = {}
    for item in items:
        ref = _match(index, item.name)
        if isinstance(ref, str):
            summary.problems.append(Problem(item.path, item.where, ref))
            continue
        image_id, w, h = ref
        if item.hw is not None and item.hw != (h, w):
            summary.problems.append(Problem(item.path, item.where, f"{item.hw[1]}x{item.hw[0]} but the study's "
                                            f"image {item.name} is {w}x{h} (width x height); skipped"))
            continue
        images_of[image_id] = ref
        name = summary.grader if named or not item.grader else import_account_name(item.grader)
        groups[(image_id, name)].append(item)
    return groups, images_of


def _read_or_refuse(fmt: str, source: Path, sizes: Mapping[str, tuple[int, int]], rules: AttributeMapping
                    ) -> tuple[list[ReadItem], list[Problem]]:
    try:
        return _read(fmt, source, sizes, rules)
    except FormatError as exc:
        raise AnnotationIOError(f"{exc}: the whole file is refused") from exc


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


def _image_index(study: Study) -> tuple[dict[str, list[_ImageRef]], dict[str, tuple[int, int]]]:
    """Lower-case names (imported under, pseudonymous, stored, SHA-256, their stems) → images; and
    names → (h, w)."""
    index: dict[str, list[_ImageRef]] = defaultdict(list)
    sizes: dict[str, tuple[int, int]] = {}
    with study.session() as session:
        imported_as = original_file_names(session)
        for image in repo.list_images(session):
            target = (image.id, image.width, image.height)
            names = {image.original_name, Path(image.file).name, image.sha256, *imported_as.get(image.id, ())}
            for name in names | {Path(n).stem for n in names}:
                if target not in index[name.lower()]:
                    index[name.lower()].append(target)
            sizes.update({n: (image.height, image.width) for n in names})
    return index, sizes


def _match(index: Mapping[str, list[_ImageRef]], name: str) -> _ImageRef | str:
    base = Path(name.replace("\\", "/")).name.lower()
    found = index.get(base) or index.get(Path(base).stem) or []
    if not found:
        return f"image {name!r} is not in the study (import it first, or pass images=); skipped"
    if len(found) > 1:
        return f"image name {name!r} matches {len(found)} images of the study; skipped (rename one)"
    return found[0]


def _store_image(study: Study, actor: Actor, fmt: str, image: _ImageRef, account: Target, items: list[ReadItem],
                 rules: AttributeMapping, summary: AnnotationImportSummary, source: str) -> None:
    """One image, one transaction: the account's outlines replaced, its grade submitted, all audited;
    or nothing at all, where the account submitted work of its own (a conflict when it differs)."""
    image_id, w, h = image
    first = items[0]
    problems: list[Problem] = []
    shapes, fields = _shapes_and_fields(fmt, (w, h), items, rules, problems)
    values = GradeValues.from_dict(fields)
    outlines = shapes if fmt != "grades_csv" else None
    try:
        with study.session() as session:
            kept = _kept_work(session, image_id, account, values, outlines)
            replaced = False if kept is not None else _write(session, actor, image_id, account, values, outlines,
                                                             source)
    except Exception as exc:  # noqa: BLE001 - one image fails whole, the others go on
        summary.problems.append(Problem(first.path, first.where, f"could not be stored ({exc}); "
                                        "nothing of this image was imported"))
        return
    if kept is not None:
        if kept:
            summary.conflicts.append(ImportConflict(first.name, account.name, tuple(kept)))
        else:
            summary.unchanged.append(first.name)
        return
    if replaced:
        problems.append(Problem(first.path, first.where, f"replaced the unsubmitted work of {account.name} on "
                                "this image (kept in the audit trail)", "warning"))
    summary.problems += problems
    summary.annotations += len(shapes) if outlines is not None else 0
    summary.grades += 1
    if image_id not in summary.images:
        summary.images.append(image_id)


def _kept_work(session: Session, image_id: int, account: Target, values: GradeValues,
               outlines: list[_NewShape] | None) -> list[str] | None:
    """None when the import may write; else what differs from the work the account submitted
    ([] when the file says the same)."""
    if not account.protected:
        return None
    grade = repo.grade_for(session, image_id, account.id)
    if grade is None or not grade.submitted:
        return None
    stored = [shape_of(a) for a in repo.annotations_for(session, image_id, account.id)] if outlines is not None else []
    return _differences(grade.values, values, stored, outlines)


def _write(session: Session, actor: Actor, image_id: int, account: Target, values: GradeValues,
           outlines: list[_NewShape] | None, source: str) -> bool:
    """Replace the account's outlines (unless ``outlines`` is None) and submit its grade, auditing
    each change with ``actor`` as the one who made it; whether a person's unsubmitted work went."""
    payload = {"target": account.name, "source": source}
    old_rows = repo.annotations_for(session, image_id, account.id) if outlines is not None else []
    for old in old_rows:
        old.deleted = True
        repo.add_audit(session, "annotation", old.id, "import", grader=actor.id,
                       before=shape_of(old).to_dict(), after={**payload, "deleted": True})
    for rings, lesion, stage in outlines or ():
        row = repo.add_annotation(session, image_id, account.id, rings, lesion, stage=stage, source="imported")
        repo.add_audit(session, "annotation", row.id, "import", grader=actor.id, before=None,
                       after={**payload, **shape_of(row).to_dict()})
    grade = repo.grade_for(session, image_id, account.id)
    before = {"values": grade.values.as_dict(), "submitted": grade.submitted} if grade is not None else None
    grade = repo.upsert_grade(session, image_id, account.id, values, submitted=True)
    repo.add_audit(session, "grade", grade.id, "import", grader=actor.id, before=before,
                   after={**payload, "values": values.as_dict(), "submitted": True})
    return account.protected and (before is not None or bool(old_rows))


def _shapes_and_fields(fmt: str, size: tuple[int, int], items: list[ReadItem], rules: AttributeMapping,
                       problems: list[Problem]) -> tuple[list[_NewShape], dict[str, Any]]:
    """The image's valid outlines (app convention) and grade fields from the file's items."""
    shapes: list[_NewShape] = []
    fields: dict[str, Any] = {}
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
                    valid = validate_polygon(list(moved.exterior.coords)[:-1], size,
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
    return shapes, fields


def _differences(stored: GradeValues, incoming: GradeValues, stored_shapes: list[Any],
                 incoming_shapes: list[_NewShape] | None) -> list[str]:
    """What the file says otherwise than the account's submitted work ("stage: 2 → 3"); [] when alike."""
    before, after = stored.as_dict(), incoming.as_dict()
    out = [f"{name}: {_shown(before[name])} → {_shown(after[name])}"
           for name in before if before[name] != after[name]]
    if incoming_shapes is not None:
        kept = sorted(_shape_key(s.lesion_type, s.stage, [s.points, *s.holes]) for s in stored_shapes)
        new = sorted(_shape_key(lesion, stage, rings) for rings, lesion, stage in incoming_shapes)
        if kept != new:
            out.append(f"outlines: {len(kept)} submitted, {len(new)} in the file"
                       + ("" if len(kept) != len(new) else ", drawn differently"))
    return out


def _shown(value: object) -> str:
    return "empty" if value is None or value == "" else str(value).lower() if isinstance(value, bool) else str(value)


def _shape_key(lesion: LesionType, stage: Stage | None, rings: Sequence[Sequence[Sequence[float]]]
               ) -> tuple[str, str, str]:
    """An outline as compared: its labels and its geometry to 0.01 px, whatever its first vertex."""
    outline = Polygon(rings[0], [r for r in rings[1:] if len(r) >= 3])
    return lesion.value, stage.value if stage else "", set_precision(outline, 0.01).normalize().wkt

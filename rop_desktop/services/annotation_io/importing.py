"""Import outlines and grades from VIA, labelme, COCO, mask folders and grade CSVs into a study.

Only an admin imports (:data:`Action.IMPORT_ANNOTATIONS`), and an import never impersonates:
items are stored under an import account (``imported: <file name>``, or ``imported: <grader>``
for each grader of a grades CSV, see :mod:`.targets`) or, when asked, under existing accounts
(``into_grader`` for the whole file, ``grader_map`` per CSV grader). Every change is audited
with the admin as the actor, the receiving account and the file in the payload, and the state
before and after.

Imports are additive and explicit. A file changes only what it carries: a grades CSV the grade
fields it has values for (never outlines), an outline file the outlines and the grade fields it
states or implies (a region labelled with a stage gives the image that stage, the highest of its
regions, and ROP yes; with ``empty_means_negative`` an image listed without regions is "no ROP",
stage 0). What the receiving account already holds is never overwritten silently:

* a person's *submitted* work is never changed: an image where the file says anything else (a
  different value, a value where theirs is empty, other outlines) is skipped and listed as an
  :class:`~.model.ImportConflict`; their drafts are replaced (a warning says so);
* an import account's earlier values are filled in where empty and kept where set: a different
  value, or other outlines, is a conflict too (``replace=True`` replaces them instead).

Each image is matched to the study by the file name it was imported under (kept in the identity
table, which an admin may read), its pseudonymous name, the stored content-addressed name, its
SHA-256, or any of their stems, optionally after importing the image files (and their manifest)
first. Every outline goes through :func:`rop_desktop.domain.geometry.validate_polygon` (repaired,
clipped to the image, or refused; each repair is a warning naming the item) and is stored as
source ``"imported"``, together with a *submitted* grade so that it takes part in the votes;
the images' references are settled again afterwards. One transaction per image and account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely import affinity, set_precision
from shapely.geometry import Polygon
from sqlalchemy.orm import Session

from rop_desktop.domain.coordinates import CENTRE_TO_CORNER
from rop_desktop.domain.geometry import InvalidGeometry, validate_polygon
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, Stage
from rop_desktop.interop.manifest import ManifestError
from rop_desktop.store import Study, repo
from training.formats.errors import FormatError, Problem
from training.formats.masks import clean_polygons

from ..identity import original_file_names
from ..importer import run_import
from ..outline_rows import shape_of
from ..policy import Action, Actor, guarded
from ..reference import settle_images
from .common import FORMATS, AnnotationImportSummary, AnnotationIOError, AttributeMapping, ImportConflict, ReadItem
from .readers import read_coco_items, read_grades_csv, read_labelme_items, read_mask_items, read_via_items
from .targets import Target, existing_account, import_account_name, import_accounts

#: Files (pixel centres) → app shapes (pixel corners).
TO_APP_SHIFT = CENTRE_TO_CORNER  # file pixel centres → app pixel corners (domain.coordinates)
#: Formats whose files list every image they cover: an image listed without regions is a negative.
EXHAUSTIVE_FORMATS = ("via", "labelme", "coco")
_ImageRef = tuple[int, int, int]  # image id, width, height
_NewShape = tuple[list[list[list[float]]], LesionType, Stage | None]  # rings, lesion type, stage


@dataclass
class Incoming:
    """What a file says about one image for one account."""

    fields: dict[str, Any] = field(default_factory=dict)  #: grade fields it states (stored values)
    defaults: dict[str, Any] = field(default_factory=dict)  #: filled only where the account has nothing
    outlines: list[_NewShape] | None = None  #: None: the file carries no outlines


@guarded(Action.IMPORT_ANNOTATIONS)
def import_annotations(
    study: Study,
    actor: Actor,
    fmt: str,
    path: str | Path,
    *,
    images: Sequence[str | Path] | None = None,
    into_grader: str | None = None,
    mapping: Mapping[str, str] | None = None,
    grader_map: Mapping[str, str] | None = None,
    manifest: str | Path | None = None,
    empty_means_negative: bool | None = None,
    replace: bool = False,
) -> AnnotationImportSummary:
    """Import the annotations of ``path`` (a file, or a folder for labelme / masks) in format ``fmt``.

    ``into_grader`` names the existing account that receives every item; ``grader_map`` maps
    a grades CSV's grader names (``G1``) to existing accounts (the others get import
    accounts, see the module doc). ``images`` (files or folders) are imported into the study
    first, with ``manifest`` (CSV of patient / eye / exam data, ``interop.manifest``).
    ``mapping`` renames the file's attributes / label values (see
    :class:`~.model.AttributeMapping`). ``empty_means_negative`` (default: on for VIA, labelme
    and COCO, whose files list every image) makes an image listed without regions "no ROP".
    ``replace`` lets the file replace what an earlier import stored under an import account.
    Bad items are reported in the summary's ``problems``, kept work in its ``conflicts``, and
    the rest is imported; a file that cannot be read at all, an unknown account or a taken
    import-account name raise :class:`AnnotationIOError` before any annotation is written.
    """
    if fmt not in FORMATS:
        raise AnnotationIOError(f"unknown annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    source = Path(path)
    if not source.exists():
        raise AnnotationIOError(f"{source} does not exist")
    if into_grader and grader_map:
        raise AnnotationIOError(
            "name either one receiving account for the whole file (into_grader) or one "
            "per grader of the file (grader_map), not both"
        )
    if manifest is not None and not images:
        raise AnnotationIOError(
            "a manifest goes with the images imported now; for images already in the study "
            "use 'rop-desktop manifest update'"
        )
    rules = AttributeMapping(mapping)
    negatives = fmt in EXHAUSTIVE_FORMATS if empty_means_negative is None else empty_means_negative
    chosen = _chosen_account(study, into_grader)
    mapped = _mapped_accounts(study, grader_map)
    summary = AnnotationImportSummary(grader=chosen.name if chosen else import_account_name(source.name))
    if images:
        _read_or_refuse(fmt, source, {}, rules)  # an unreadable file is refused before the images come in
        try:
            result = run_import(study, actor, list(images), manifest)
        except ManifestError as exc:
            raise AnnotationIOError(f"manifest {Path(manifest).name if manifest else ''}: {exc.reason}") from exc
        summary.problems += [Problem(p.path, "image", p.reason) for p in result.failed]
        summary.problems += [
            Problem(str(manifest), "manifest", m, "warning")
            for m in [*result.manifest_problems, *result.manifest_notes()]
        ]
    index, sizes = _image_index(study)
    items, problems = _read_or_refuse(fmt, source, sizes, rules)
    summary.problems += problems
    graders = {i.grader for i in items if i.grader}
    if chosen is not None and len(graders) > 1:
        raise AnnotationIOError(
            f"{source.name} holds the grades of several graders: import it without naming "
            "one account (each grader gets an import account, or name theirs with a grader "
            "map), or split the file."
        )
    summary.problems += [
        Problem(str(source), "grader map", f"no grader {label!r} in the file", "warning")
        for label in mapped
        if label not in graders
    ]
    groups, images_of = _group_by_image_and_account(index, items, summary, chosen, mapped)
    accounts: dict[str, Target] = {t.name: t for t in (chosen, *mapped.values()) if t is not None}
    wanted = [name for _, name in groups if name not in accounts]
    if wanted:
        with study.session() as session:
            made = import_accounts(session, actor, wanted, source.name)
        accounts.update(made)
        summary.accounts_created = [t.name for t in made.values() if t.created]
    summary.accounts = list(dict.fromkeys(name for _, name in groups))
    if len(summary.accounts) == 1:
        summary.grader = summary.accounts[0]
    for (image_id, name), group in groups.items():
        _store_image(
            study,
            actor,
            fmt,
            images_of[image_id],
            accounts[name],
            group,
            rules,
            summary,
            source.name,
            negatives=negatives,
            replace=replace,
        )
    if summary.images:
        settle_images(study, summary.images, actor_id=actor.id)  # the imported grades vote
    return summary


def _mapped_accounts(study: Study, grader_map: Mapping[str, str] | None) -> dict[str, Target]:
    """A CSV grader label → the existing account the grader map names."""
    if not grader_map:
        return {}
    with study.session() as session:
        return {label.strip(): existing_account(session, name) for label, name in grader_map.items()}


def _chosen_account(study: Study, into_grader: str | None) -> Target | None:
    if not into_grader:
        return None
    with study.session() as session:
        return existing_account(session, into_grader)


def _group_by_image_and_account(
    index: Mapping[str, list[_ImageRef]],
    items: list[ReadItem],
    summary: AnnotationImportSummary,
    chosen: Target | None,
    mapped: Mapping[str, Target],
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
            summary.problems.append(
                Problem(
                    item.path,
                    item.where,
                    f"{item.hw[1]}x{item.hw[0]} but the study's image {item.name} is {w}x{h} (width x height); skipped",
                )
            )
            continue
        images_of[image_id] = ref
        if chosen is not None or not item.grader:
            name = summary.grader
        elif item.grader in mapped:
            name = mapped[item.grader].name
        else:
            name = import_account_name(item.grader)
        groups[(image_id, name)].append(item)
    return groups, images_of


def _read_or_refuse(
    fmt: str, source: Path, sizes: Mapping[str, tuple[int, int]], rules: AttributeMapping
) -> tuple[list[ReadItem], list[Problem]]:
    try:
        return _read(fmt, source, sizes, rules)
    except FormatError as exc:
        raise AnnotationIOError(f"{exc}: the whole file is refused") from exc


def _read(
    fmt: str, source: Path, sizes: Mapping[str, tuple[int, int]], rules: AttributeMapping
) -> tuple[list[ReadItem], list[Problem]]:
    if fmt == "via":
        return read_via_items(source, sizes)
    if fmt == "labelme":
        return read_labelme_items(source)
    if fmt == "coco":
        return read_coco_items(source)
    if fmt == "masks":
        return read_mask_items(source, rules)
    return read_grades_csv(source, rules)


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


def _store_image(
    study: Study,
    actor: Actor,
    fmt: str,
    image: _ImageRef,
    account: Target,
    items: list[ReadItem],
    rules: AttributeMapping,
    summary: AnnotationImportSummary,
    source: str,
    *,
    negatives: bool,
    replace: bool,
) -> None:
    """One image and account, one transaction: what the file carries added to what the account
    holds, all audited; or nothing at all, where it would change kept work (a conflict)."""
    image_id, w, h = image
    first = items[0]
    problems: list[Problem] = []
    incoming = _incoming(fmt, (w, h), items, rules, problems, negatives=negatives)
    if incoming is None or not (incoming.fields or incoming.outlines):  # a bad value (the errors say
        summary.problems += problems  # which), or nothing said at all
        return
    try:
        with study.session() as session:
            outcome = _merge(session, image_id, account, incoming, replace=replace)
            if isinstance(outcome, _Merged):
                _write(session, actor, image_id, account, outcome, source)
    except Exception as exc:  # noqa: BLE001 - one image fails whole, the others go on
        summary.problems.append(
            Problem(first.path, first.where, f"could not be stored ({exc}); nothing of this image was imported")
        )
        return
    summary.problems += problems
    if isinstance(outcome, ImportConflict):
        summary.conflicts.append(ImportConflict(first.name, account.name, outcome.differences, outcome.submitted))
        return
    if outcome is None:
        summary.unchanged.append(first.name)
        return
    if outcome.replaced_draft:
        summary.problems.append(
            Problem(
                first.path,
                first.where,
                f"replaced the unsubmitted work of {account.name} on this image (kept in the audit trail)",
                "warning",
            )
        )
    summary.annotations += len(outcome.outlines) if outcome.outlines is not None else 0
    summary.grades += 1
    if image_id not in summary.images:
        summary.images.append(image_id)


@dataclass
class _Merged:
    """What to write for one image and account."""

    values: GradeValues
    outlines: list[_NewShape] | None  #: None: leave the account's outlines as they are
    replaced_draft: bool = False


def _merge(
    session: Session, image_id: int, account: Target, incoming: Incoming, *, replace: bool
) -> _Merged | ImportConflict | None:
    """What the account should hold after the import, a conflict (what differs), or None when it
    holds exactly that already. See the module doc for the rules."""
    grade = repo.grade_for(session, image_id, account.id)
    stored = grade.values.as_dict() if grade is not None else GradeValues().as_dict()
    rows = repo.annotations_for(session, image_id, account.id) if incoming.outlines is not None else []
    kept = sorted(_shape_key(s.lesion_type, s.stage, [s.points, *s.holes]) for s in map(shape_of, rows))
    new = sorted(_shape_key(lesion, stage, rings) for rings, lesion, stage in incoming.outlines or ())
    same_outlines = incoming.outlines is None or kept == new
    submitted = grade is not None and grade.submitted
    person = account.protected and submitted  # a person's submitted work: not one value added or changed
    overwrite = (account.protected and not submitted) or (replace and not account.protected)
    merged = dict(stored)
    differences = []
    for name, value in incoming.fields.items():
        if stored[name] != value and (person or (stored[name] not in (None, "") and not overwrite)):
            differences.append(f"{name}: {_shown(stored[name])} → {_shown(value)}")
        merged[name] = value
    if not person:
        for name, value in incoming.defaults.items():
            if merged[name] in (None, ""):
                merged[name] = value
    if not same_outlines and (person or (kept and not overwrite)):
        differences.append(
            f"outlines: {len(kept)} {'submitted' if person else 'there'}, {len(new)} in the file"
            + ("" if len(kept) != len(new) else ", drawn differently")
        )
    if differences:
        return ImportConflict("", account.name, tuple(differences), submitted=person)
    if merged == stored and same_outlines and submitted:
        return None
    replaced_draft = account.protected and (grade is not None or bool(rows))
    return _Merged(GradeValues.from_dict(merged), None if same_outlines else incoming.outlines, replaced_draft)


def _write(session: Session, actor: Actor, image_id: int, account: Target, merged: _Merged, source: str) -> None:
    """Replace the account's outlines (where ``merged`` has new ones) and submit its grade,
    auditing each change with ``actor`` as the one who made it."""
    payload = {"target": account.name, "source": source}
    if merged.outlines is not None:
        for old in repo.annotations_for(session, image_id, account.id):
            old.deleted = True
            repo.add_audit(
                session,
                "annotation",
                old.id,
                "import",
                grader=actor.id,
                before=shape_of(old).to_dict(),
                after={**payload, "deleted": True},
                image_id=image_id,
            )
        for rings, lesion, stage in merged.outlines:
            row = repo.add_annotation(session, image_id, account.id, rings, lesion, stage=stage, source="imported")
            repo.add_audit(
                session,
                "annotation",
                row.id,
                "import",
                grader=actor.id,
                before=None,
                after={**payload, **shape_of(row).to_dict()},
                image_id=image_id,
            )
    grade = repo.grade_for(session, image_id, account.id)
    before = {"values": grade.values.as_dict(), "submitted": grade.submitted} if grade is not None else None
    grade = repo.upsert_grade(session, image_id, account.id, merged.values, submitted=True)
    repo.add_audit(
        session,
        "grade",
        grade.id,
        "import",
        grader=actor.id,
        before=before,
        after={**payload, "values": merged.values.as_dict(), "submitted": True},
        image_id=image_id,
    )


def _incoming(
    fmt: str,
    size: tuple[int, int],
    items: list[ReadItem],
    rules: AttributeMapping,
    problems: list[Problem],
    *,
    negatives: bool,
) -> Incoming | None:
    """The image's valid outlines (app convention) and grade fields from the file's items; None
    when a value is not one its field takes (the errors are in ``problems``)."""
    incoming = Incoming(outlines=None if fmt == "grades_csv" else [])
    incoming.defaults["quality"] = Quality.GRADABLE.value  # a grade with a stage was made on a gradable image
    region_stages: list[Stage] = []
    for item in items:
        fields = rules.grade(item.attributes, item.path, item.where, problems)
        if fields is None:
            return None
        incoming.fields.update(fields)
        for region in item.regions:
            lesion, stage, ok = _region_labels(rules, item, region, problems)
            if not ok:
                return None
            if stage is not None and stage.severity is not None:
                region_stages.append(stage)
            incoming.outlines += _valid_parts(item, region, size, lesion, stage, problems)  # type: ignore[operator]
    if incoming.outlines is None:
        return incoming
    stated = dict(incoming.fields)
    if region_stages:  # the image's grade follows its regions' stages, unless the file states its own
        highest = max(region_stages, key=lambda s: s.severity or 0)
        incoming.fields = {"stage": highest.value, "rop": "yes" if (highest.major or 0) >= 1 else None, **stated}
        incoming.fields = {k: v for k, v in incoming.fields.items() if v is not None}
    elif incoming.outlines:
        incoming.fields.setdefault("rop", "yes")
    elif negatives and not any(i.regions or i.regions_dropped for i in items) and not {"rop", "stage"} & set(stated):
        incoming.fields.update(rop="no", stage=Stage.S0.value)
    return incoming


def _region_labels(
    rules: AttributeMapping, item: ReadItem, region: Any, problems: list[Problem]
) -> tuple[LesionType, Stage | None, bool]:
    """(lesion type, stage, ok) of one region; not ok when its stage attribute is not a stage."""
    try:
        lesion, stage, warning = rules.region_labels(region.attributes)
    except ValueError as exc:
        problems.append(Problem(item.path, region.where, f"{exc}; nothing of this image imported"))
        return LesionType.DEMARCATION_LINE, None, False
    if warning:
        problems.append(Problem(item.path, region.where, warning, "warning"))
    return lesion, stage, True


def _valid_parts(
    item: ReadItem, region: Any, size: tuple[int, int], lesion: LesionType, stage: Stage | None, problems: list[Problem]
) -> list[_NewShape]:
    """The region's outlines as the app stores them; each repair a warning naming the item."""
    named = f"{item.name}: "
    for repair in region.repairs:
        problems.append(Problem(item.path, region.where, f"{named}{repair}", "warning"))
    out: list[_NewShape] = []
    for part in clean_polygons(region.geometry):
        moved = affinity.translate(part, TO_APP_SHIFT, TO_APP_SHIFT)
        try:
            valid = validate_polygon(
                list(moved.exterior.coords)[:-1], size, [list(r.coords)[:-1] for r in moved.interiors]
            )
        except InvalidGeometry as exc:
            problems.append(Problem(item.path, region.where, f"{named}{exc.reason}; skipped"))
            continue
        if valid.messages:
            problems.append(Problem(item.path, region.where, named + "; ".join(valid.messages), "warning"))
        rings = [[[x, y] for x, y in valid.points]] + [[[x, y] for x, y in r] for r in valid.holes]
        out.append((rings, lesion, stage))
    return out


def _shown(value: object) -> str:
    return "empty" if value is None or value == "" else str(value).lower() if isinstance(value, bool) else str(value)


def _shape_key(
    lesion: LesionType, stage: Stage | None, rings: Sequence[Sequence[Sequence[float]]]
) -> tuple[str, str, str]:
    """An outline as compared: its labels and its geometry to 0.01 px, whatever its first vertex."""
    outline = Polygon(rings[0], [r for r in rings[1:] if len(r) >= 3])
    return lesion.value, stage.value if stage else "", set_precision(outline, 0.01).normalize().wkt

"""A folder of images plus a folder of same-named masks → snapshot.

The layout of HVDROPDB's ridge subset (``images/N.png`` with ``masks/N.png``). Each mask is
binarised (grey > 127), written as a 0/255 PNG, and traced into polygons; an image is labelled
ROP (1) when its mask has any line pixel and no-ROP (0) when the mask is empty. Patients are the
file stems unless ``patients`` maps file names (or stems) to patient ids, or a CSV gives them
(first column the file name or stem, further columns any record field: patient, eye, stage, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.data.io import ImageReadError, read_mask
from training.formats.convert import ConversionResult, lookup_fields, read_fields_csv, record_fields
from training.formats.errors import Problem
from training.formats.masks import mask_to_polygons, to_snapshot_polygons
from training.snapshot import LinkMode, SnapshotError, SnapshotWriter

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})


def _by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}


def image_folder_to_snapshot(
    images: str | Path,
    masks: str | Path | None,
    out_folder: str | Path,
    *,
    patients: Mapping[str, str] | str | Path | None = None,
    lesion_type: str = "ridge",
    min_area: float = 8.0,
    polygons: bool = True,
    link: LinkMode = "auto",
    description: str | None = None,
) -> ConversionResult:
    """Write a snapshot of ``images`` (and ``masks`` with the same stems); report per image.

    ``patients``: a mapping of file name or stem → patient id, or the path of a CSV of image-level
    fields. An image without a mask gets no mask and no label (a warning); a mask without an image
    and an unreadable or wrongly sized mask are reported and left out.
    """
    image_dir = Path(images)
    mask_dir = Path(masks) if masks is not None else None
    problems: list[Problem] = []
    if isinstance(patients, (str, Path)):
        extra = read_fields_csv(patients)
    else:
        extra = {name: {"patient": pid} for name, pid in (patients or {}).items()}
    image_files = _by_stem(image_dir)
    mask_files = _by_stem(mask_dir) if mask_dir is not None else {}
    for stem in sorted(set(mask_files) - set(image_files)):
        problems.append(Problem(str(mask_files[stem]), "file", "mask without an image of the same name; skipped"))
    writer = SnapshotWriter(out_folder, link=link, description=description)
    for stem, image_file in image_files.items():
        where = image_file.name
        values: dict[str, Any] = record_fields(
            lookup_fields(extra, image_file.name), str(image_file), "labels", problems
        )
        values.setdefault("patient", stem)
        mask = None
        if stem in mask_files:
            try:
                mask = read_mask(mask_files[stem])
            except ImageReadError as exc:
                problems.append(Problem(str(mask_files[stem]), "file", f"{exc.reason}; image imported without mask"))
        elif mask_dir is not None:
            problems.append(
                Problem(str(image_file), where, "no mask of the same name; imported without label", "warning")
            )
        polys = []
        if mask is not None:
            if "label_binary" not in values and "stage" not in values:
                values["label_binary"] = int(bool(mask.any()))
            if polygons:
                polys = to_snapshot_polygons(mask_to_polygons(mask, min_area=min_area), lesion_type=lesion_type)
        try:
            writer.add(image_file, id=stem, mask=mask, polygons=polys, **values)
        except (SnapshotError, ImageReadError, OSError) as exc:
            problems.append(Problem(str(image_file), where, f"{exc}; image skipped"))
    return ConversionResult(writer.close(), problems)

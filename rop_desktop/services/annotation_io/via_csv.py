"""VIA 2's region CSV, byte for byte as VIA 2.0.x writes it and *Annotation → Import annotations
(from csv)* reads it.

VIA does not use a CSV library: it splits the file into lines, compares the first line with its
header *exactly* (:data:`HEADER`), splits each row on commas outside double quotes and expects
seven fields. The file name and size are taken as they stand — a quoted name would keep its
quotes — while the three JSON fields are wrapped in double quotes with inner quotes doubled (the
parser compares the raw ``"{}"`` to skip empty ones). So this module writes the rows itself
rather than through :mod:`csv`, which would quote by its own rules. An image without regions
gets VIA's own placeholder row (``0,0,"{}","{}"``): it is still listed, which is how an
exhaustive export says "looked at, nothing found".

Rows are keyed by ``filename`` + ``size`` (bytes) exactly like the JSON forms: the size must be
the size of the image file the user adds to VIA, or VIA lists the image twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.formats.via import ViaProject

HEADER = "filename,file_size,file_attributes,region_count,region_id,region_shape_attributes,region_attributes"


def _json_field(value: dict[str, Any]) -> str:
    """A JSON object as one quoted CSV field (VIA's ``map_to_json`` + ``escape_for_csv``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return '"' + text.replace('"', '""') + '"'


def via_csv_lines(project: ViaProject) -> list[str]:
    """The lines of the region CSV of ``project`` (header first), without line ends."""
    lines = [HEADER]
    for image in project.images:
        if "," in image.filename or '"' in image.filename or "\n" in image.filename:
            raise ValueError(f"VIA's CSV cannot hold the file name {image.filename!r}")
        prefix = f"{image.filename},{image.size},{_json_field(image.file_attributes)}"
        if not image.regions:
            lines.append(f'{prefix},0,0,"{{}}","{{}}"')
        for k, region in enumerate(image.regions):
            shape = {"name": region.shape, **region.params}
            lines.append(f"{prefix},{len(image.regions)},{k},{_json_field(shape)},{_json_field(region.attributes)}")
    return lines


def write_via_csv(project: ViaProject, path: str | Path) -> Path:
    """Write ``project``'s regions as VIA's region CSV (UTF-8, ``\\n`` line ends); returns the path."""
    target = Path(path)
    target.write_text("\n".join(via_csv_lines(project)) + "\n", encoding="utf-8")
    return target

"""Grades CSV files in the two layouts spreadsheets and other tools write, told apart by the header.

* **long** — one row per image and grader: ``image, grader, rop, stage, plus, ...`` (the
  ``grader`` column is optional: without it the whole file is one grader's);
* **wide** — one row per image, one column per grader and field: ``filename, G1_rop, G1_stage,
  ..., G4_stage``. The grader is the part of the column name before the field name
  (``Dr. X stage`` and ``G1-plus`` work too).

The image column may be called any of :data:`IMAGE_COLUMNS`, the grader column any of
:data:`GRADER_COLUMNS`; field columns are the grade fields by their usual names
(``model.GRADE_ALIASES``) or as ``--map`` renames them. Every value is checked here: a row with
a value its field does not take (``maybe``, stage ``7``) is an error naming the line and the
column, and nothing of that row is read. Other columns are reported once as not read; patient
and exam columns (``hospital_diagnosis``, ``patient``, ``exam_date``...) with a pointer to
``rop-desktop manifest update``, which reads them from the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from training.formats.errors import FormatError, Problem

from .common import GRADE_FIELDS, IGNORE, AttributeMapping, ReadItem, grade_value, norm_key

#: Accepted names (normalised: lower case, spaces and dashes as ``_``) of the image column.
IMAGE_COLUMNS: tuple[str, ...] = (
    "image",
    "filename",
    "file_name",
    "file",
    "name",
    "image_name",
    "imagename",
    "image_file",
    "path",
    "image_path",
    "imagepath",
)
#: Accepted names of the long layout's grader column.
GRADER_COLUMNS: tuple[str, ...] = ("grader", "rater", "reader", "annotator", "grader_name")
#: Column names (letters and digits only) that are patient / exam data, read by ``manifest update``.
MANIFEST_COLUMNS: frozenset[str] = frozenset(
    {
        "patient",
        "patientid",
        "patientcode",
        "subject",
        "mrn",
        "eye",
        "laterality",
        "side",
        "examdate",
        "date",
        "visitdate",
        "gestationalage",
        "ga",
        "birthweight",
        "bw",
        "hospitaldiagnosis",
        "diagnosis",
        "dx",
        "clinicaldiagnosis",
        "camera",
        "site",
        "pma",
        "patientname",
    }
)
_SEPARATOR = re.compile(r"[\s_\-.]+")


@dataclass
class Layout:
    """Where a grades CSV keeps what: column indexes by role."""

    image: int
    grader: int | None = None
    #: column index → (grader label or None in the long layout, grade field)
    fields: dict[int, tuple[str | None, str]] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)

    @property
    def wide(self) -> bool:
        return any(label is not None for label, _ in self.fields.values())


def detect_layout(path: Path, header: list[str], mapping: AttributeMapping) -> Layout:
    """The layout of ``header``; :class:`FormatError` when it has no image column, no grade
    column, mixes the layouts or names one field twice."""
    image = next((k for k, title in enumerate(header) if norm_key(title) in IMAGE_COLUMNS), None)
    if image is None:
        raise FormatError(
            path,
            "header",
            f"no image column (one of {', '.join(IMAGE_COLUMNS)}); the columns are "
            f"{', '.join(repr(h) for h in header) or 'none'}",
        )
    layout = Layout(image)
    for k, title in enumerate(header):
        if k == image:
            continue
        if layout.grader is None and norm_key(title) in GRADER_COLUMNS:
            layout.grader = k
        elif (name := mapping.field_of(title)) is not None:
            layout.fields[k] = (None, name)
        elif mapping.rename.get(norm_key(title)) == IGNORE:
            continue
        elif (wide := _wide_column(title, mapping)) is not None:
            layout.fields[k] = wide
        elif title.strip():
            layout.unused.append(title.strip())
    _check(path, header, layout)
    return layout


def _wide_column(title: str, mapping: AttributeMapping) -> tuple[str, str] | None:
    """(grader label, field) of a wide layout column such as ``G1_stage``; the longest field name
    that ends the title wins (``G1_rop_stage`` is G1's stage)."""
    for sep in _SEPARATOR.finditer(title.strip()):
        label, rest = title.strip()[: sep.start()].strip(), title.strip()[sep.end() :]
        if label and rest and (name := mapping.field_of(rest)) is not None:
            return label, name
    return None


def _check(path: Path, header: list[str], layout: Layout) -> None:
    if not layout.fields:
        raise FormatError(
            path,
            "header",
            f"no grade column ({', '.join(GRADE_FIELDS)}, or <grader>_<field> for "
            f"one row per image); the columns are {', '.join(repr(h) for h in header)}",
        )
    labels = {label for label, _ in layout.fields.values()}
    if None in labels and len(labels) > 1:
        plain = [header[k] for k, (label, _) in layout.fields.items() if label is None]
        raise FormatError(
            path,
            "header",
            f"mixes one-row-per-grader columns ({', '.join(plain)}) with per-grader "
            "columns (<grader>_<field>): use one layout",
        )
    if layout.wide and layout.grader is not None:
        raise FormatError(
            path,
            "header",
            f"has a {header[layout.grader]!r} column and per-grader columns (<grader>_<field>): use one layout",
        )
    seen: dict[tuple[str | None, str], int] = {}
    for k, key in layout.fields.items():
        if key in seen:
            raise FormatError(
                path,
                "header",
                f"columns {header[seen[key]]!r} and {header[k]!r} both mean {(key[0] + ' ') if key[0] else ''}{key[1]}",
            )
        seen[key] = k


def unused_columns_problem(path: Path, unused: list[str]) -> Problem | None:
    """The one warning that names the columns a grades import does not read."""
    if not unused:
        return None
    patient = [c for c in unused if re.sub(r"[^0-9a-z]", "", c.casefold()) in MANIFEST_COLUMNS]
    others = [c for c in unused if c not in patient]
    parts = []
    if patient:
        parts.append(
            f"{', '.join(patient)}: patient / exam data, not grades "
            "(rop-desktop manifest update reads them from this same file)"
        )
    if others:
        parts.append(f"{', '.join(others)}: not a grade field (map one with --map 'COLUMN=FIELD')")
    return Problem(str(path), "header", "columns not read: " + "; ".join(parts), "warning")


def _cell(cells: list[str], k: int | None) -> str:
    return cells[k].strip() if k is not None and k < len(cells) else ""


def read_grades_table(
    path: Path, rows: list[list[str]], mapping: AttributeMapping
) -> tuple[list[ReadItem], list[Problem]]:
    """Items of a grades CSV's ``rows`` (the first is the header); see the module doc."""
    if not rows:
        raise FormatError(path, "", "empty file: no header row")
    header = [cell.strip() for cell in rows[0]]
    layout = detect_layout(path, header, mapping)
    problems: list[Problem] = []
    if (unused := unused_columns_problem(path, layout.unused)) is not None:
        problems.append(unused)
    items: list[ReadItem] = []
    first_line: dict[tuple[str, str | None], int] = {}
    for n, cells in enumerate(rows[1:], start=2):
        image = _cell(cells, layout.image)
        if not image:
            problems.append(Problem(str(path), f"line {n}", "no image named; row skipped"))
            continue
        values: dict[str | None, dict[str, object]] = {}
        errors = []
        for k, (label, name) in layout.fields.items():
            text = _cell(cells, k)
            if not text:
                continue
            try:
                grade_value(name, text)
            except ValueError as exc:
                errors.append(
                    Problem(str(path), f"line {n}, column {header[k]!r}", f"{exc}; nothing of this row imported")
                )
                continue
            values.setdefault(label if layout.wide else (_cell(cells, layout.grader) or None), {})[name] = text
        if errors:
            problems += errors
            continue
        if not values:
            problems.append(Problem(str(path), f"line {n}", f"{image}: no grade values; row skipped", "warning"))
            continue
        for label, attributes in values.items():
            key = (image.casefold(), label)
            if key in first_line:
                who = f" by {label}" if label else ""
                problems.append(
                    Problem(
                        str(path),
                        f"line {n}",
                        f"{image}{who} is already graded on line {first_line[key]}; this row skipped",
                    )
                )
                continue
            first_line[key] = n
            items.append(ReadItem(image, str(path), f"line {n}", attributes=attributes, grader=label))
    return items, problems

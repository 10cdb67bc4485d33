"""CSV manifests of patient and eye data that come with a folder of images.

A manifest has one row per image: ``file`` (required), ``patient``, ``eye``, ``exam_date``,
``gestational_age`` (weeks), ``birth_weight`` (grams), ``hospital_diagnosis``, and optionally
``camera``, ``site``, ``pma`` (post-menstrual age, weeks) and ``patient_name``. ``patient`` (a
hospital number, often) and ``patient_name`` identify the infant: the importer keeps them in the
study's identity table only (``rop_desktop.services.identity``), never as the patient's code.

Columns that are none of these are listed in ``Manifest.unused`` for the caller to report.
Files from spreadsheets are messy, so headers match loosely (case, spaces, units in brackets, common aliases such as ``filename``,
``laterality``, ``GA (weeks)``, ``BW``), the delimiter is detected (comma, semicolon, tab), and a
bad cell becomes a :class:`ManifestProblem` with the row kept and that cell empty. Only a file
that cannot be a manifest at all raises :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PureWindowsPath
from typing import NamedTuple

from rop_desktop.domain.labels import Eye

#: Field name → accepted headers, normalised (lower case, letters and digits only, units dropped).
ALIASES: dict[str, tuple[str, ...]] = {
    "file": ("file", "filename", "image", "imagefile", "imagename", "path", "filepath", "imagepath"),
    "patient": (
        "patient",
        "patientid",
        "patientcode",
        "subject",
        "subjectid",
        "infant",
        "infantid",
        "mrn",
        "hospitalnumber",
        "medicalrecordnumber",
    ),
    "patient_name": ("patientname", "infantname", "babyname", "childname", "fullname"),
    "eye": ("eye", "laterality", "side"),
    "exam_date": ("examdate", "date", "examinationdate", "studydate", "visitdate", "acquisitiondate"),
    "gestational_age": ("gestationalage", "ga", "gaweeks", "gestation", "gestationalageweeks"),
    "birth_weight": ("birthweight", "bw", "weight", "birthweightg", "bwg", "birthweightgrams"),
    "hospital_diagnosis": ("hospitaldiagnosis", "diagnosis", "dx", "clinicaldiagnosis"),
    "camera": ("camera", "device", "cameramodel"),
    "site": ("site", "hospital", "centre", "center", "institution"),
    "pma": ("pma", "postmenstrualage", "pmaweeks", "postmenstrualageweeks"),
}

#: Plausible ranges; a value outside is reported rather than guessed at (e.g. kg for grams).
RANGES: dict[str, tuple[float, float, str]] = {
    "gestational_age": (20.0, 45.0, "weeks"),
    "birth_weight": (200.0, 7000.0, "g"),
    "pma": (20.0, 80.0, "weeks"),
}

_EYES = {
    "od": Eye.OD,
    "r": Eye.OD,
    "right": Eye.OD,
    "re": Eye.OD,
    "righteye": Eye.OD,
    "os": Eye.OS,
    "l": Eye.OS,
    "left": Eye.OS,
    "le": Eye.OS,
    "lefteye": Eye.OS,
}
_ISO_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ][\d:.]*)?")
_DMY_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_WEEKS_DAYS = re.compile(r"(\d{2})\s*(?:\+|w|wk|wks|weeks?)\s*(\d)\s*d?(?:ays?)?")
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:w|wk|wks|weeks?|g|gr|grams?)?")


class ManifestError(ValueError):
    """The file cannot be read as a manifest at all; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ManifestProblem(NamedTuple):
    """A cell or row that could not be used: ``line`` in the file (1 = header), ``column`` as written."""

    line: int
    column: str
    message: str


@dataclass(frozen=True)
class ManifestRow:
    """One image's data; ``file`` as written in the manifest, ``line`` where it was."""

    file: str
    line: int
    patient: str | None = None
    patient_name: str | None = None
    eye: Eye | None = None
    exam_date: date | None = None
    gestational_age: float | None = None
    birth_weight: float | None = None
    hospital_diagnosis: str | None = None
    camera: str | None = None
    site: str | None = None
    pma: float | None = None


@dataclass
class Manifest:
    """``rows`` keyed by the normalised file entry (forward slashes, case-folded: for the usual
    manifest of bare names, the basename); ``columns`` maps each field found to its header."""

    rows: dict[str, ManifestRow] = field(default_factory=dict)
    problems: list[ManifestProblem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    #: headers that are no manifest field (reported: a misspelt column is not silently ignored)
    unused: list[str] = field(default_factory=list)

    def lookup(self, path: str | Path) -> ManifestRow | None:
        """The row for an image path: the longest trailing part of ``path`` that is a manifest
        entry (``a/1.png`` before ``1.png``), else the entry with the same basename when only
        one entry has it. Case-insensitive."""
        parts = file_key(str(path)).split("/")
        for start in range(len(parts)):
            row = self.rows.get("/".join(parts[start:]))
            if row is not None:
                return row
        same_name = [row for key, row in self.rows.items() if key.rsplit("/", 1)[-1] == parts[-1]]
        return same_name[0] if len(same_name) == 1 else None


def file_key(text: str) -> str:
    """How file entries and paths are compared: ``/`` separators, no leading ``./``, case-folded."""
    parts = [p for p in PureWindowsPath(text.strip()).as_posix().split("/") if p not in ("", ".")]
    return "/".join(parts).casefold()


def read_manifest(path: str | Path) -> Manifest:
    """Read a CSV manifest file (see :func:`parse_manifest`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read {Path(path).name} ({exc.strerror or exc})") from exc
    return parse_manifest(data)


def parse_manifest(data: bytes) -> Manifest:
    """Parse manifest bytes: UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252."""
    text = _decode_text(data)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ManifestError("empty manifest")
    delimiter = max(",;\t", key=lambda d: len(next(csv.reader([lines[0]], delimiter=d))))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(row for row in reader if any(cell.strip() for cell in row))
    columns = _match_columns(header)
    manifest = Manifest(
        columns={f: header[i] for f, i in columns.items()},
        unused=[h.strip() for i, h in enumerate(header) if i not in columns.values() and h.strip()],
    )
    for cells in reader:
        if any(cell.strip() for cell in cells):
            _add_row(manifest, columns, cells, reader.line_num)
    return manifest


def _decode_text(data: bytes) -> str:
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ManifestError("an Excel workbook, not CSV: save it as 'CSV UTF-8' and choose that file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise ManifestError("not a CSV file (binary content)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # Excel's "CSV (comma delimited)" on Windows


def _normalise_header(text: str) -> str:
    text = re.sub(r"[\(\[].*?[\)\]]", "", text.replace("\ufeff", ""))  # drop units: "GA (weeks)"
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _match_columns(header: list[str]) -> dict[str, int]:
    """Field name → column index. Unknown columns are left out (``Manifest.unused``); a missing 'file' column or two
    columns meaning the same field raise :class:`ManifestError`."""
    lookup = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        name = lookup.get(_normalise_header(title))
        if name is None:
            continue
        if name in columns:
            raise ManifestError(f"columns {header[columns[name]]!r} and {title!r} both mean {name}")
        columns[name] = index
    if "file" not in columns:
        found = ", ".join(repr(h.strip()) for h in header[:12]) or "none"
        raise ManifestError(f"no 'file' column (columns found: {found}); is this a CSV manifest with a header row?")
    return columns


def _add_row(manifest: Manifest, columns: dict[str, int], cells: list[str], line: int) -> None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    file_header = manifest.columns["file"]
    if not cell("file"):
        manifest.problems.append(ManifestProblem(line, file_header, "no file name: row skipped"))
        return
    key = file_key(cell("file"))
    if key in manifest.rows:
        message = f"{cell('file')!r} already listed on line {manifest.rows[key].line}: row skipped"
        manifest.problems.append(ManifestProblem(line, file_header, message))
        return
    values: dict[str, object] = {name: cell(name) or None for name in _TEXT_FIELDS}
    for name, parse in _PARSERS.items():
        if text := cell(name):
            try:
                values[name] = _in_range(name, parse(text))
            except ValueError as exc:
                manifest.problems.append(ManifestProblem(line, manifest.columns[name], str(exc)))
    manifest.rows[key] = ManifestRow(file=cell("file"), line=line, **values)  # type: ignore[arg-type]


def _parse_eye(text: str) -> Eye:
    eye = _EYES.get(re.sub(r"[^a-z]", "", text.casefold()))
    if eye is None:
        raise ValueError(f"eye {text!r} is not one of OD/OS, R/L, right/left")
    return eye


def _parse_date(text: str) -> date:
    try:
        if m := _ISO_DATE.fullmatch(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY_DATE.fullmatch(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD or DD/MM/YYYY)")


def _parse_weeks(text: str) -> float:
    """Weeks as a decimal (``32.5``, ``32,5``) or weeks+days (``32+3``, ``32w3d``)."""
    if m := _WEEKS_DAYS.fullmatch(text.casefold()):
        if int(m[2]) > 6:
            raise ValueError(f"{text!r}: days must be 0–6 in weeks+days")
        return int(m[1]) + int(m[2]) / 7.0
    return _parse_number(text, "weeks")


def _parse_grams(text: str) -> float:
    return _parse_number(text, "grams")


def _parse_number(text: str, unit: str) -> float:
    m = _NUMBER.fullmatch(text.casefold())
    if m is None:
        raise ValueError(f"{text!r} is not a number of {unit}")
    return float(m[1].replace(",", "."))


def _in_range(name: str, value: object) -> object:
    if name in RANGES and isinstance(value, float):
        low, high, unit = RANGES[name]
        if not low <= value <= high:
            label = name.replace("_", " ")
            raise ValueError(f"{label} {value:g} {unit} is outside the plausible range {low:g}–{high:g} {unit}")
    return value


_TEXT_FIELDS = ("patient", "patient_name", "hospital_diagnosis", "camera", "site")
_PARSERS: dict[str, Callable[[str], object]] = {
    "eye": _parse_eye,
    "exam_date": _parse_date,
    "gestational_age": _parse_weeks,
    "birth_weight": _parse_grams,
    "pma": _parse_weeks,
}

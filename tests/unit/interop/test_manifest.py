"""CSV manifests: clean and messy files, cell problems, lookup, and files that are not manifests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rop_desktop.domain.labels import Eye
from rop_desktop.interop.manifest import ManifestError, ManifestProblem, parse_manifest, read_manifest


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "manifest.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_clean_manifest(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "file,patient,eye,exam_date,gestational_age,birth_weight,hospital_diagnosis,camera,site,pma\n"
        "1.png,P01,OD,2023-04-05,28.5,1100,stage 2 zone II,RetCam 3,Site A,34\n"
        "2.png,P01,OS,2023-04-05,28.5,1100,stage 1,RetCam 3,Site A,34\n"
    ))
    manifest = read_manifest(path)
    assert manifest.problems == []
    assert list(manifest.rows) == ["1.png", "2.png"]
    row = manifest.rows["1.png"]
    assert (row.file, row.line, row.patient, row.eye) == ("1.png", 2, "P01", Eye.OD)
    assert row.exam_date == date(2023, 4, 5)
    assert (row.gestational_age, row.birth_weight, row.pma) == (28.5, 1100.0, 34.0)
    assert (row.hospital_diagnosis, row.camera, row.site) == ("stage 2 zone II", "RetCam 3", "Site A")
    assert manifest.rows["2.png"].eye == Eye.OS


def test_messy_spreadsheet_export(tmp_path: Path) -> None:
    """Excel-style: BOM, semicolons, decimal commas, aliases with units, dd/mm/yyyy, weeks+days."""
    path = _write(tmp_path, (
        "\ufeffImage Name;Patient_ID;Laterality;Date;GA (weeks);BW [g];Diagnosis;Notes\n"
        "IMG_001.JPG;B-7;right;05/04/2023;27,5;980;ROP 3;first visit\n"
        "\n"
        "img_002.jpg;B-7;L;6.4.2023;27+3;980 g;;\n"
        "img_003.jpg;B-8;R;2023-04-07T10:30:00;29 weeks;1500;;\n"
    ))
    manifest = read_manifest(path)
    assert manifest.problems == []
    assert manifest.columns["gestational_age"] == "GA (weeks)"
    first = manifest.lookup("IMG_001.JPG")
    assert first is not None and first.eye == Eye.OD and first.exam_date == date(2023, 4, 5)
    assert first.gestational_age == 27.5 and first.hospital_diagnosis == "ROP 3"
    second = manifest.lookup("img_002.jpg")
    assert second is not None and second.line == 4
    assert second.exam_date == date(2023, 4, 6) and second.birth_weight == 980.0
    assert second.gestational_age == pytest.approx(27 + 3 / 7)
    assert second.hospital_diagnosis is None
    third = manifest.lookup("img_003.jpg")
    assert third is not None and third.exam_date == date(2023, 4, 7) and third.gestational_age == 29.0


def test_tab_delimited_windows_1252(tmp_path: Path) -> None:
    path = _write(tmp_path, "filename\tpatient id\tside\tsite\r\na.png\tP1\tOS\tHôpital Nord\r\n", "cp1252")
    row = read_manifest(path).rows["a.png"]
    assert (row.patient, row.eye, row.site) == ("P1", Eye.OS, "Hôpital Nord")


def test_bad_cells_become_problems_and_the_row_is_kept() -> None:
    manifest = parse_manifest(
        b"file,patient,eye,exam_date,ga,bw\n"
        b"a.png,P1,both,31/02/2023,52,1.25\n"
        b"b.png,P2,OD,04/13/2023,30+9,abc\n"
        b",P3,OD,,,\n"
        b"A.PNG,P4,OS,,,\n"
    )
    assert manifest.rows["a.png"].patient == "P1"
    assert manifest.rows["a.png"].eye is None and manifest.rows["a.png"].exam_date is None
    assert manifest.rows["a.png"].birth_weight is None
    assert manifest.rows["b.png"].eye == Eye.OD and manifest.rows["b.png"].exam_date is None
    assert manifest.problems == [
        ManifestProblem(2, "eye", "eye 'both' is not one of OD/OS, R/L, right/left"),
        ManifestProblem(2, "exam_date", "'31/02/2023' is not a date (expected YYYY-MM-DD or DD/MM/YYYY)"),
        ManifestProblem(2, "ga", "gestational age 52 weeks is outside the plausible range 20–45 weeks"),
        ManifestProblem(2, "bw", "birth weight 1.25 g is outside the plausible range 200–7000 g"),
        ManifestProblem(3, "exam_date", "'04/13/2023' is not a date (expected YYYY-MM-DD or DD/MM/YYYY)"),
        ManifestProblem(3, "ga", "'30+9': days must be 0–6 in weeks+days"),
        ManifestProblem(3, "bw", "'abc' is not a number of grams"),
        ManifestProblem(4, "file", "no file name: row skipped"),
        ManifestProblem(5, "file", "'A.PNG' already listed on line 2: row skipped"),
    ]
    assert manifest.rows["a.png"].file == "a.png"  # the first entry wins


def test_lookup_by_relative_path_then_basename() -> None:
    manifest = parse_manifest(
        b"file,patient\n"
        b"visit1/OD.png,P1\n"
        b"visit2/OD.png,P2\n"
        b"sub\\dir\\unique.png,P3\n"
        b"plain.png,P4\n"
    )
    assert manifest.lookup(Path("/data/export/Visit2/od.PNG")).patient == "P2"  # type: ignore[union-attr]
    assert manifest.lookup("C:\\data\\visit1\\OD.png").patient == "P1"  # type: ignore[union-attr]
    assert manifest.lookup("elsewhere/OD.png") is None  # ambiguous basename
    assert manifest.lookup("moved/unique.png").patient == "P3"  # type: ignore[union-attr]
    assert manifest.lookup("/a/b/plain.png").patient == "P4"  # type: ignore[union-attr]
    assert manifest.lookup("missing.png") is None


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty manifest"),
    (b"patient,eye\nP1,OD\n", "no 'file' column (columns found: 'patient', 'eye')"),
    (b"PK\x03\x04rest-of-a-zip", "an Excel workbook"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file (binary content)"),
    (b"file,image\na.png,b.png\n", "columns 'file' and 'image' both mean file"),
])
def test_files_that_are_not_manifests(data: bytes, reason: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    assert info.value.reason.startswith(reason)


def test_unreadable_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"cannot read missing.csv"):
        read_manifest(tmp_path / "missing.csv")


def test_hospital_numbers_and_names_are_read_for_the_identity_table() -> None:
    manifest = parse_manifest(b"Image,MRN,Patient Name,Eye\nMRN-00123456 DOE BABY_OD.png,MRN-00123456,DOE BABY,OD\n")
    row = manifest.lookup("MRN-00123456 DOE BABY_OD.png")
    assert row is not None and (row.patient, row.patient_name) == ("MRN-00123456", "DOE BABY")
    assert manifest.columns["patient"] == "MRN" and manifest.columns["patient_name"] == "Patient Name"

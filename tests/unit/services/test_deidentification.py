"""A privacy officer's check: a study made from what a hospital really sends, then every export
byte-searched for every identifying value.

The study is imported from a manifest of hospital numbers and names (``MRN-00123456 DOE BABY``),
from files and folders named after the infants, from a PNG and JPEGs whose metadata name them,
and from DICOM files carrying a value in **every** attribute of the basic profile's table
(generated from the standard's table by :mod:`.identified_dicom`). Graders write comments that
name the mother. Then each export — DICOM (both date handlings), annotations in every format with
the images copied, the reference CSV, the training snapshot — is searched, byte by byte, in every
file it wrote (DICOM binaries, PNG/JPEG, JSON, CSV), for every identifying value. The identity
mapping export is the positive control: the same search must find them there.
"""

from __future__ import annotations

import csv
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from sqlalchemy import select

from rop_desktop.domain.labels import Role
from rop_desktop.imaging.decode import decode_file
from rop_desktop.interop.dicom import basic_profile
from rop_desktop.services import accounts
from rop_desktop.services.accounts import create_account, create_first_admin, set_study_setting
from rop_desktop.services.annotation_io import FORMATS, export_annotations
from rop_desktop.services.dicom_export import export_dicom
from rop_desktop.services.export import export_reference_csv, export_snapshot
from rop_desktop.services.grading import GradingService
from rop_desktop.services.identity import REDACTED, export_mapping, original_file_names
from rop_desktop.services.importer import run_import
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.services.reference import recompute_references
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Base, Identity
from training.snapshot import Snapshot

from .conftest import PASSWORD, as_actor, grade, rect
from .identified_dicom import (
    PATIENT,
    PRIVATE_NOTE,
    dciodvfy_errors,
    fill_every_profile_attribute,
    retcam_image,
    text_values,
)

MRN, NAME = "MRN-00123456", "DOE BABY"
OTHER_MRN, OTHER_NAME = "MRN-00987654", "ROE INFANT"
FOLDER = f"{NAME} {MRN} NICU"
COMMENT = f"mother Jane Doe called about {MRN}, tel 555-0100"
#: What the images' metadata says (PNG tEXt, JPEG COM and EXIF Artist).
PNG_TEXT, JPEG_COMMENT, EXIF_ARTIST = "Patient: DOE BABY MRN-00123456", "ROE INFANT 2026", "Operator NURSE NANCY"


# ---------------------------------------------------------------------------- source files
def _fundus(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    cv2.circle(img, (w // 2, h // 2), min(h, w) // 2 - 2, tuple(int(v) for v in rng.integers(60, 200, 3)), -1)
    return cv2.add(img, rng.integers(0, 30, img.shape, dtype=np.uint8))


def _png_with_text(rgb: np.ndarray, text: str) -> bytes:
    data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    body = b"Comment\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return data[:33] + chunk + data[33:]  # after the signature and IHDR


def _jpeg_with_metadata(rgb: np.ndarray, *, orientation: int = 1) -> bytes:
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    artist = EXIF_ARTIST.encode() + b"\0"
    ifd = struct.pack("<H", 2) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) \
        + struct.pack("<HHII", 0x013B, 2, len(artist), 8 + 2 + 2 * 12 + 4) + struct.pack("<I", 0)
    exif = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd + artist
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    com = b"\xff\xfe" + struct.pack(">H", len(JPEG_COMMENT) + 2) + JPEG_COMMENT.encode()
    return data[:2] + app1 + com + data[2:]


@dataclass
class Identified:
    study: Study
    admin: Actor
    judge: Actor
    graders: list[Actor]
    sources: dict[str, Path]  #: name → source file
    secrets: set[bytes]  #: every identifying value, as bytes
    #: those that are dates or times: the Modified Dates option shifts dates and keeps times, and
    #: the exports other than DICOM carry the exam date (a column, and in the image names) by design
    date_and_time_secrets: set[bytes]
    every_attribute: Path  #: the DICOM file with a value in every attribute of the profile


@pytest.fixture
def identified(tmp_path: Path, fast_hashes: None) -> Iterator[Identified]:
    src = tmp_path / FOLDER
    src.mkdir()
    files = {
        f"{MRN} {NAME} OD.png": _png_with_text(_fundus(1), PNG_TEXT),
        f"{MRN} {NAME} OS.jpg": _jpeg_with_metadata(_fundus(2)),
        f"{OTHER_MRN}_{OTHER_NAME}_OD.jpg": _jpeg_with_metadata(_fundus(3, 64, 48), orientation=6),
        f"{OTHER_NAME} OS.bmp": cv2.imencode(".bmp", _fundus(4))[1].tobytes(),
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    retcam_image(_fundus(5, 40, 56)).save_as(src / f"{NAME}_retcam.dcm", enforce_file_format=True)
    full = retcam_image(_fundus(6, 40, 56), instance=2, laterality="L")
    added = fill_every_profile_attribute(full)
    assert len(added) > 550  # nearly the whole table: the rest are the image's own attributes
    full.save_as(src / f"{NAME}_every_attribute.dcm", enforce_file_format=True)
    reread = pydicom.dcmread(src / f"{NAME}_every_attribute.dcm")
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "MRN", "patient name", "eye", "exam_date", "camera"])
        writer.writerow([f"{MRN} {NAME} OD.png", f"{MRN} {NAME}", NAME, "OD", "2026-02-01", "RetCam 3"])
        writer.writerow([f"{MRN} {NAME} OS.jpg", f"{MRN} {NAME}", NAME, "OS", "2026-02-01", "RetCam 3"])
        writer.writerow([f"{OTHER_MRN}_{OTHER_NAME}_OD.jpg", OTHER_MRN, OTHER_NAME, "OD", "2026-02-08", "RetCam 3"])
        writer.writerow([f"{OTHER_NAME} OS.bmp", OTHER_MRN, OTHER_NAME, "OS", "2026-02-08", "RetCam 3"])
    study = Study.create(tmp_path / "study", name="Screening 2026")
    admin = create_first_admin(study, "Admin", PASSWORD)
    set_study_setting(study, admin, accounts.GRADER_PASSWORD_SETTING, False)
    summary = run_import(study, admin, [src], manifest)
    assert not summary.failed and len(summary.imported) == 6, summary.lines()
    judge = as_actor(create_account(study, admin, "Dr. Judge", Role.ADJUDICATOR, password=PASSWORD))
    graders = [as_actor(create_account(study, admin, name)) for name in ("Dr. A", "Dr. B", "Dr. C", "Dr. D")]
    with study.session() as session:
        images = [i.id for i in repo.list_images(session)]
    for image in images:
        for grader in graders:
            service = GradingService(study, grader)
            service.save_shape(image, rect(10, 10, 30, 25))
            service.submit(image, grade("yes", "2", comment=COMMENT))
    recompute_references(study, judge)
    with study.session() as session:
        assert len(repo.list_references(session)) == 6  # a quorum of four: every image has its reference

    secrets = {s.encode() for s in (f"{MRN} {NAME}", MRN, OTHER_MRN, NAME, OTHER_NAME, "00123456", "00987654",
                                    "DOE^BABY", "Doe Baby", "Jane Doe", "555-0100", PNG_TEXT, JPEG_COMMENT, EXIF_ARTIST, FOLDER,
                                    PRIVATE_NOTE, *PATIENT.values())}
    secrets |= {Path(name).stem.encode() for name in files} | {name.encode() for name in files}
    secrets |= text_values(reread)
    secrets -= _not_identifying(reread)
    temporal = text_values(reread) - text_values(reread, skip_vrs=("DA", "DT", "TM"))
    yield Identified(study, admin, judge, graders, {p.name: p for p in src.iterdir()}, secrets, temporal,
                     src / f"{NAME}_every_attribute.dcm")
    study.close()


def _not_identifying(ds: pydicom.Dataset) -> set[bytes]:
    """Values the profile keeps because they identify nobody: the image's class, codes, the camera."""
    kept = {ds.SOPClassUID, "ISO_IR 100", "Natus", "RetCam 3", "Retina", "T-AA610", "R-1021A", "Fundus Camera",
            "NO TRIGGER", "ORIGINAL", "PRIMARY"}
    return {str(v).encode() for v in kept}


def _leaks(folder: Path, secrets: set[bytes]) -> dict[str, list[str]]:
    """File → the secrets found in it (any letter case for text of letters)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        lower = data.lower()
        hits = [s.decode(errors="replace") for s in secrets if s in data or (s.isascii() and s.lower() in lower)]
        if hits:
            found[str(path.relative_to(folder))] = sorted(hits)
    return found


# ---------------------------------------------------------------------------- the exports
def test_the_search_finds_what_is_there(identified: Identified, tmp_path: Path) -> None:
    """Positive control: the identity mapping (admins only) holds the values the other exports must not."""
    export_mapping(identified.study, identified.admin, tmp_path / "mapping" / "identity.csv")
    hits = _leaks(tmp_path / "mapping", identified.secrets)["identity.csv"]
    assert {MRN, NAME, f"{MRN} {NAME}", "DOE^BABY", f"{MRN} {NAME} OD"} <= set(hits)
    with pytest.raises(AccessDenied, match="only the admin role"):
        export_mapping(identified.study, identified.judge, tmp_path / "nope.csv")
    assert not (tmp_path / "nope.csv").exists()


@pytest.mark.parametrize("dates", ["remove", "shift"])
def test_dicom_export_holds_no_identifying_value(identified: Identified, tmp_path: Path, dates: str) -> None:
    summary = export_dicom(identified.study, identified.judge, tmp_path / "dicom", dates=dates)
    assert not summary.failed and len(summary.written) == 6
    secrets = identified.secrets if dates == "remove" else identified.secrets - identified.date_and_time_secrets
    assert _leaks(tmp_path / "dicom", secrets) == {}
    source_errors = set(dciodvfy_errors(identified.every_attribute))
    for path in summary.written:
        assert not set(dciodvfy_errors(path)) - source_errors, path.name  # de-identification breaks nothing
    # the retcam and the PNG / JPEG / BMP ones are valid through and through
    for path in summary.written:
        ds = pydicom.dcmread(path)
        if ds.SOPInstanceUID != _every_attribute_uid(summary.written, identified):
            assert dciodvfy_errors(path) == [], path.name


def _every_attribute_uid(paths: list[Path], identified: Identified) -> str:
    """The exported SOP Instance UID of the every-attribute file (the one with Clinical Trial attributes)."""
    for path in paths:
        ds = pydicom.dcmread(path)
        if "ClinicalTrialSponsorName" in ds:
            return str(ds.SOPInstanceUID)
    raise AssertionError("the every-attribute file was not exported")


def test_every_profile_attribute_is_acted_on(identified: Identified, tmp_path: Path) -> None:
    """Dataset level, for the values a byte search cannot see (numbers): each attribute of the
    table is gone, empty, or holds something else than the hospital's value."""
    export_dicom(identified.study, identified.admin, tmp_path / "dicom")
    source = pydicom.dcmread(identified.every_attribute)
    exported = pydicom.dcmread(next(p for p in (tmp_path / "dicom").iterdir()
                                    if "ClinicalTrialSponsorName" in pydicom.dcmread(p)))
    kept = []
    for tag in basic_profile():
        if len(tag) != 2 or tag[0] in (0x0000, 0x0002):
            continue
        number = (tag[0] << 16) | tag[1]
        if number in source and number in exported and exported[number].VR != "SQ" and exported[number].value \
                and exported[number].value == source[number].value:
            kept.append(exported[number].keyword or hex(number))
    assert kept == []


def test_annotation_exports_hold_no_identifying_value(identified: Identified, tmp_path: Path) -> None:
    secrets = identified.secrets - identified.date_and_time_secrets
    for fmt in FORMATS:
        for who, selection in (("everyone", None), ("reference", "reference")):
            out = tmp_path / f"{fmt}-{who}"
            export_annotations(identified.study, identified.judge, fmt, out, graders=selection, copy_images=True)
            assert _leaks(out, secrets) == {}, (fmt, who)
            assert not any(b"Jane" in p.read_bytes() for p in out.rglob("*") if p.is_file())  # no comments
    coco = json.loads((tmp_path / "coco-everyone" / "annotations_coco.json").read_text(encoding="utf-8"))
    copied = {p.name for p in (tmp_path / "coco-everyone" / "images").iterdir()}
    assert {i["file_name"] for i in coco["images"]} == copied
    assert {Path(i["file_name"]).stem for i in coco["images"]} == set(_names(identified).values())


def _names(identified: Identified) -> dict[str, str]:
    """Source file name → the study's pseudonymous name of the image."""
    with identified.study.session() as session:
        imported_as = original_file_names(session)
        return {imported_as[i.id][0]: i.original_name for i in repo.list_images(session)}


def test_copied_images_are_the_pixels_graders_saw(identified: Identified, tmp_path: Path) -> None:
    export_annotations(identified.study, identified.judge, "coco", tmp_path / "coco", copy_images=True)
    written = {p.stem: p for p in (tmp_path / "coco" / "images").iterdir()}
    names = _names(identified)
    assert len(written) == len(names) == 6
    for source, name in names.items():
        np.testing.assert_array_equal(decode_file(written[name]).rgb, decode_file(identified.sources[source]).rgb)
    assert names[f"{MRN} {NAME} OD.png"] == "P0002-OD-20260201-001"  # after the DICOM files' patient, P0001
    assert written[names[f"{MRN} {NAME} OD.png"]].suffix == ".png"  # metadata stripped, data untouched
    assert written[names[f"{MRN} {NAME} OS.jpg"]].suffix == ".jpg"
    assert written[names[f"{OTHER_MRN}_{OTHER_NAME}_OD.jpg"]].suffix == ".png"  # EXIF rotated it: decoded
    assert written[names[f"{OTHER_NAME} OS.bmp"]].suffix == ".bmp"
    assert not any(p.read_bytes()[128:132] == b"DICM" for p in written.values())  # never a DICOM header


def test_comments_leave_only_when_an_admin_asks_and_then_scrubbed(identified: Identified, tmp_path: Path) -> None:
    with pytest.raises(AccessDenied, match="only the admin role"):
        export_annotations(identified.study, identified.judge, "grades_csv", tmp_path / "judge", include_comments=True)
    out = export_annotations(identified.study, identified.admin, "grades_csv", tmp_path / "csv", include_comments=True)
    with out.open(encoding="utf-8") as handle:
        comments = {row["comment"] for row in csv.DictReader(handle)}
    assert comments == {f"mother Jane {REDACTED} called about {REDACTED}, tel 555-0100"}
    assert _leaks(tmp_path / "csv", identified.secrets - identified.date_and_time_secrets
                  - {b"Jane Doe", b"555-0100"}) == {}


def test_reference_csv_and_snapshot_hold_no_identifying_value(identified: Identified, tmp_path: Path) -> None:
    secrets = identified.secrets - identified.date_and_time_secrets
    written = export_reference_csv(identified.study, identified.judge, tmp_path / "csv" / "reference.csv")
    assert len(written.read_text(encoding="utf-8").splitlines()) == 7  # a header and six images
    assert _leaks(tmp_path / "csv", secrets) == {}
    snapshot = export_snapshot(identified.study, identified.judge, tmp_path / "snapshot")
    assert len(snapshot) == 6 and Snapshot.load(tmp_path / "snapshot").verify() == snapshot.stored_hash
    assert _leaks(tmp_path / "snapshot", secrets) == {}
    assert {r.id for r in snapshot} == set(_names(identified).values())


def test_the_study_itself_names_nobody_outside_its_identity_table(identified: Identified, tmp_path: Path) -> None:
    """Worklist names, patient codes, audit events (export folders included), settings: nothing of
    the identity outside ``identities`` (graders' own comments aside: they stay in the study)."""
    export_snapshot(identified.study, identified.admin, tmp_path / "snap")
    export_annotations(identified.study, identified.admin, "coco", tmp_path / "coco")
    institution = {PATIENT["InstitutionName"].encode()}  # the exam's site: where, not who
    secrets = identified.secrets - identified.date_and_time_secrets - institution - {b"Jane Doe", b"555-0100"}
    found = []
    with identified.study.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "identities":
                continue
            for row in conn.execute(table.select()):
                text = json.dumps({k: v for k, v in row._asdict().items() if k != "comment"}, default=str)
                text = text.replace(COMMENT, "")
                found += [(table.name, s.decode()) for s in secrets if s.decode().lower() in text.lower()]
    assert found == [], found
    with identified.study.session() as session:
        kinds = {(r.kind, r.source) for r in session.scalars(select(Identity))}
        assert len(original_file_names(session)) == 6
    assert {("patient_id", "manifest"), ("patient_name", "manifest"), ("patient_id", "dicom"),
            ("patient_name", "dicom"), ("birth_date", "dicom"), ("issuer_of_patient_id", "dicom"),
            ("other_patient_id", "dicom"), ("file_name", "file"), ("source_path", "file")} <= kinds

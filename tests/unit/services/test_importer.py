"""Import of good, duplicate, corrupt, truncated, non-image, DICOM and real files into a real study."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from sqlalchemy import func, select

from rop_desktop.cli import run
from rop_desktop.domain.labels import Eye
from rop_desktop.interop.manifest import Manifest, ManifestRow
from rop_desktop.services import identity
from rop_desktop.services.accounts import create_account, create_first_admin
from rop_desktop.services.identity import original_file_names
from rop_desktop.services.importer import fov_mask_file, import_images, run_import, thumbnail_file
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.store import Study, pg_roles, repo
from rop_desktop.store.schema import Identity, Patient

from .conftest import PASSWORD, as_actor


def _fundus(seed: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    cv2.circle(img, (w // 2, h // 2), h // 2 - 4, tuple(int(v) for v in rng.integers(60, 200, 3)), -1)
    img = cv2.add(img, rng.integers(0, 20, img.shape, dtype=np.uint8))
    return img


def _write(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _dicom(path: Path, rgb: np.ndarray, laterality: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "HOSP-123456"
    ds.PatientName = "Doe^Baby"
    ds.ImageLaterality = laterality
    ds.StudyDate = "20260301"
    ds.Manufacturer = "Natus"
    ds.ManufacturerModelName = "RetCam Envision"
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = rgb.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def study(tmp_path: Path, fast_hashes: None):
    s = Study.create(tmp_path / "study")
    yield s
    s.close()


@pytest.fixture
def admin(study: Study) -> Actor:
    return create_first_admin(study, "Admin", PASSWORD)


def test_good_duplicate_corrupt_truncated_and_non_image_files(tmp_path: Path, study: Study, admin: Actor) -> None:
    src = tmp_path / "src"
    good_png = _write(src / "a_OD.png", _fundus(1))
    _write(src / "b_OS.jpg", _fundus(2))
    _write(src / "c.bmp", _fundus(3))
    _write(src / "d.tif", _fundus(4))
    (src / "copy_of_a.png").write_bytes(good_png.read_bytes())  # duplicate content
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    jpeg = cv2.imencode(".jpg", _fundus(5))[1].tobytes()
    (src / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (src / "notes.txt").write_text("not an image")  # not a candidate by extension: ignored
    (src / "fake.png").write_text("I am text with a png name")

    summary = run_import(study, admin, [src])

    assert len(summary.imported) == 4
    assert [Path(d.path).name for d in summary.duplicates] == ["copy_of_a.png"]
    assert "same content as P0001-OD-undated-001" in summary.duplicates[0].reason  # the study's name for it
    failed = {Path(f.path).name: f.reason for f in summary.failed}
    assert set(failed) == {"corrupt.png", "truncated.jpg", "fake.png"}
    assert "truncated" in failed["truncated.jpg"]
    with study.session() as session:
        images = repo.list_images(session)
        assert len(images) == 4
        by_name = {name: i for i in images for name in original_file_names(session)[i.id]}
        assert by_name["a_OD.png"].eye is Eye.OD and by_name["b_OS.jpg"].eye is Eye.OS
        assert [i.original_name for i in images] == ["P0001-OD-undated-001", "P0002-OS-undated-001",
                                                     "P0003-NA-undated-001", "P0004-NA-undated-001"]
        assert all(i.source_path is None for i in images)  # the folder is identity too
        for image in images:
            assert study.image_path(image).read_bytes()  # content-addressed copy exists
            assert study.cache_path(thumbnail_file(image.sha256)).exists()
            assert image.fov_r is not None and abs(image.fov_r - 56) < 4
            assert study.cache_path(fov_mask_file(image.sha256)).exists()
    # importing again: everything is a duplicate, nothing new
    again = run_import(study, admin, [src])
    assert again.imported == [] and len(again.duplicates) == 5


def test_manifest_supplies_patient_eye_and_diagnosis(tmp_path: Path, study: Study, admin: Actor) -> None:
    src = tmp_path / "src"
    _write(src / "img1.png", _fundus(1))
    _write(src / "img2.png", _fundus(2))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,patient,eye,exam_date,gestational_age,birth_weight,hospital_diagnosis\n"
                        "img1.png,BABY-01,OD,2026-03-01,26.5,820,stage 2\n"
                        "img2.png,BABY-01,left,2026-03-01,26.5,820,no ROP\n"
                        "img3.png,BABY-02,OD,2026-03-02,30,1200,stage 1\n")
    summary = run_import(study, admin, [src], manifest)
    assert len(summary.imported) == 2
    assert summary.unmatched_manifest_rows == ["img3.png"]
    with study.session() as session:
        images = repo.list_images(session)
        assert {i.exam.patient.code for i in images} == {"P0001"}  # BABY-01 is in the identity table only
        assert len({i.exam_id for i in images}) == 1  # same patient, date, camera: one exam
        assert [i.original_name for i in images] == ["P0001-OD-20260301-001", "P0001-OS-20260301-001"]
        img1 = next(i for i in images if "img1.png" in original_file_names(session)[i.id])
        assert img1.eye is Eye.OD and img1.hospital_diagnosis == "stage 2"
        assert img1.exam.patient.gestational_age_weeks == 26.5 and img1.exam.patient.birth_weight_g == 820


def test_dicom_pixels_and_tags_with_pseudonymous_patient(tmp_path: Path, study: Study, admin: Actor) -> None:
    rgb = _fundus(7)
    path = _dicom(tmp_path / "src" / "IM0001", rgb)
    summary = run_import(study, admin, [path.parent])
    assert len(summary.imported) == 1, summary.failed
    with study.session() as session:
        image = repo.list_images(session)[0]
        assert image.format == "dicom" and (image.width, image.height) == (160, 120)
        assert image.eye is Eye.OS
        assert str(image.exam.exam_date) == "2026-03-01"
        assert "RetCam" in (image.exam.camera or "")
        assert image.exam.patient.code == "P0001" and image.original_name == "P0001-OS-20260301-001"
        kept = {(r.kind, r.value, r.source) for r in session.scalars(select(Identity))}
        assert {("patient_id", "HOSP-123456", "dicom"), ("patient_name", "Doe^Baby", "dicom"),
                ("file_name", "IM0001", "file")} <= kept  # the hospital's ID: in the identity table only


def test_cancel_leaves_only_whole_images(tmp_path: Path, study: Study, admin: Actor) -> None:
    src = tmp_path / "src"
    for i in range(6):
        _write(src / f"{i}.png", _fundus(i))
    gen = import_images(study, admin, [src], workers=1)
    progress = [next(gen), next(gen)]
    gen.close()  # what the worker's abort does
    assert progress[-1].imported == 2
    with study.session() as session:
        images = repo.list_images(session)
    assert len(images) == 2
    assert all(study.image_path(i).exists() for i in images)
    stored = list(study.iter_image_files())
    assert len(stored) == 2  # no orphan files from the read-ahead


def test_failure_inside_one_image_rolls_back_its_rows_and_file(tmp_path: Path, study: Study, admin: Actor,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    _write(src / "ok.png", _fundus(1))
    _write(src / "bad.png", _fundus(2))
    manifest = Manifest(rows={"bad.png": ManifestRow(file="bad.png", line=2, patient="MRN-BAD")})
    keep = identity.record

    def failing(session, patient, image, found):  # the last write of the image's transaction fails
        if any(f.value == "MRN-BAD" for f in found):
            raise RuntimeError("disk full")
        keep(session, patient, image, found)

    monkeypatch.setattr(identity, "record", failing)
    summary = run_import(study, admin, [src], manifest)
    assert [Path(f.path).name for f in summary.failed] == ["bad.png"]
    assert "could not be stored" in summary.failed[0].reason
    with study.session() as session:
        assert [i.original_name for i in repo.list_images(session)] == ["P0001-NA-undated-001"]
        assert repo.count_images(session) == 1
        assert session.scalar(select(func.count()).select_from(Patient)) == 1  # no patient left behind
        assert "MRN-BAD" not in {r.value for r in session.scalars(select(Identity))}
    assert len(list(study.iter_image_files())) == 1


def test_a_later_import_finds_the_patient_by_any_hospital_number(tmp_path: Path, study: Study,
                                                                 admin: Actor) -> None:
    """The manifest's MRN and the DICOM PatientID find the same infant again; nobody else does."""
    _write(tmp_path / "first" / "MRN-00123456 DOE BABY OD.png", _fundus(1))
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,patient,patient name,eye,exam_date\n"
                        "MRN-00123456 DOE BABY OD.png,HOSP-123456,DOE BABY,OD,2026-02-01\n", encoding="utf-8")
    assert not run_import(study, admin, [tmp_path / "first"], manifest).failed
    _dicom(tmp_path / "second" / "IM0001", _fundus(2))  # PatientID HOSP-123456, a month later
    _write(tmp_path / "third" / "other.png", _fundus(3))  # nobody said who: a patient of its own
    assert not run_import(study, admin, [tmp_path / "second", tmp_path / "third"]).failed
    with study.session() as session:
        names = [i.original_name for i in repo.list_images(session)]
        assert names == ["P0001-OD-20260201-001", "P0001-OS-20260301-001", "P0002-NA-undated-001"]
        text = " ".join(names + [p.code for p in session.scalars(select(Patient))])
    for secret in ("HOSP", "123456", "DOE", "Doe", "other"):
        assert secret not in text


def test_codes_stay_unique_when_an_old_study_already_used_the_format(tmp_path: Path, study: Study,
                                                                      admin: Actor) -> None:
    with study.session() as session:
        repo.get_or_create_patient(session, "P0007")  # a code made before (a test, a migration)
    _write(tmp_path / "src" / "a.png", _fundus(1))
    assert not run_import(study, admin, [tmp_path / "src"]).failed
    with study.session() as session:
        assert sorted(p.code for p in session.scalars(select(Patient))) == ["P0007", "P0008"]


def test_only_an_admin_imports_images(tmp_path: Path, study: Study, admin: Actor) -> None:
    _write(tmp_path / "src" / "a.png", _fundus(1))
    judge = as_actor(create_account(study, admin, "Judge", "adjudicator", password=PASSWORD))
    with pytest.raises(AccessDenied, match="only the admin role may import images"):
        import_images(study, judge, [tmp_path / "src"])  # refused when called, not at the first file
    with pytest.raises(AccessDenied, match="Sign in"):
        run_import(study, None, [tmp_path / "src"])  # type: ignore[arg-type]
    with study.session() as session:
        assert repo.count_images(session) == 0


def test_cli_import_exit_codes_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    src = tmp_path / "src"
    _write(src / "a.png", _fundus(1))
    study_dir = tmp_path / "cli_study"
    monkeypatch.setenv("ROP_DESKTOP_PASSWORD", PASSWORD)
    assert run(["import", "--study", str(study_dir), "--as", "Admin", "--quiet", str(src)]) == 2
    assert "study create" in capsys.readouterr().err and not study_dir.exists()  # no study made on the side
    assert run(["study", "create", str(study_dir), "--admin", "Admin"]) == 0
    request.addfinalizer(lambda: _drop_database_roles(study_dir))  # PostgreSQL: the admin's role
    assert run(["import", "--study", str(study_dir), "--as", "Admin", "--quiet", str(src)]) == 0
    out = capsys.readouterr().out
    assert "imported: 1" in out and any((study_dir / f).exists() for f in ("study.sqlite", "study.server"))
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    assert run(["import", "--study", str(study_dir), "--as", "Admin", "--quiet", str(src)]) == 1
    out = capsys.readouterr().out
    assert "duplicates (skipped): 1" in out and "FAILED" in out and "broken.jpg" in out
    with pytest.raises(SystemExit) as exc:
        run(["import", str(src)])  # --study missing
    assert exc.value.code == 2
    bad_manifest = tmp_path / "m.csv"
    bad_manifest.write_text("patient,eye\nX,OD\n")
    assert run(["import", "--study", str(study_dir), "--as", "Admin", "--manifest", str(bad_manifest), str(src)]) == 2


@pytest.mark.realdata
def test_real_hvdropdb_images_import_cleanly(hvdropdb: Path, tmp_path: Path) -> None:
    with Study.create(tmp_path / "real") as study:
        summary = run_import(study, create_first_admin(study, "Admin", PASSWORD), [hvdropdb / "images"])
        assert summary.failed == [] and summary.duplicates == []
        assert len(summary.imported) == len(list((hvdropdb / "images").glob("*.png")))
        with study.session() as session:
            for image in repo.list_images(session):
                assert (image.width, image.height) == (2040, 2040)
                assert image.fov_r is not None and 900 < image.fov_r < 1100


def _drop_database_roles(folder: Path) -> None:
    """Roles outlive a test's database: drop those ``study create`` made (PostgreSQL only)."""
    with Study.open(folder) as study:
        if study.backend == "postgresql":
            with study.engine.begin() as conn:
                pg_roles.drop_study_roles(conn)

"""``rop-desktop export …`` and ``rop-desktop identity export`` as a coordinator would script them:
who may export what, and what each command says it wrote, removed and replaced."""

from __future__ import annotations

import csv
from pathlib import Path

import pydicom

from .conftest import ADMIN_PW, JUDGE_PW, Cli, CliStudy


def test_the_whole_study_leaves_only_with_an_adjudicator_or_admin(cli_study: CliStudy, cli: Cli,
                                                                  tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    for what in ("dicom", "reference", "snapshot"):
        out = tmp_path / f"grader-{what}"
        refused = cli("export", what, *study, "--as", "Dr. A", "--out", out)
        assert refused.code == 2 and "only the adjudicator or admin role" in refused.err and not out.exists()
    nobody = cli("export", "dicom", *study, "--out", tmp_path / "x")
    assert nobody.code == 2 and "--as NAME" in nobody.err and not (tmp_path / "x").exists()


def test_dicom_export_says_what_it_removed_and_replaced(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    done = cli("export", "dicom", "--study", cli_study.folder, "--as", "Dr. Judge", "--out", tmp_path / "dcm",
               "--dates", "shift", password=JUDGE_PW)
    assert done.code == 0, done.err
    assert "written: 3" in done.out and "Basic Application Level Confidentiality Profile" in done.out
    assert "shifted per patient" in done.out
    assert "PatientID and PatientName are the study's pseudonymous code" in done.out
    names = sorted(p.name for p in (tmp_path / "dcm").iterdir())
    assert names == ["P0001-NA-undated-001.dcm", "P0002-NA-undated-001.dcm", "P0003-NA-undated-001.dcm"]
    assert all(pydicom.dcmread(tmp_path / "dcm" / n).PatientIdentityRemoved == "YES" for n in names)


def test_annotations_reference_and_snapshot(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    coco = cli("export", "annotations", *study, "--as", "Dr. Judge", "--format", "coco", "--copy-images",
               "--out", tmp_path / "coco", password=JUDGE_PW)
    assert coco.code == 0, coco.err
    assert "left out: graders' comments" in coco.out and "without their metadata" in coco.out
    assert "img0" not in (tmp_path / "coco" / "annotations_coco.json").read_text(encoding="utf-8")
    comments = cli("export", "annotations", *study, "--as", "Dr. Judge", "--format", "grades_csv",
                   "--include-comments", "--out", tmp_path / "judge", password=JUDGE_PW)
    assert comments.code == 2 and "only the admin role" in comments.err and not (tmp_path / "judge").exists()
    reference = cli("export", "reference", *study, "--as", "Admin", "--out", tmp_path / "ref", password=ADMIN_PW)
    assert reference.code == 0 and (tmp_path / "ref" / "reference.csv").is_file()
    snapshot = cli("export", "snapshot", *study, "--as", "Admin", "--out", tmp_path / "snap", password=ADMIN_PW)
    assert snapshot.code == 0 and "records: 0" in snapshot.out  # a quorum of four: nothing settled yet
    assert (tmp_path / "snap" / "manifest.json").is_file()


def test_the_identity_mapping_is_an_admins_own_command(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    study = ("--study", cli_study.folder)
    judge = cli("identity", "export", *study, "--as", "Dr. Judge", "--out", tmp_path / "id.csv", password=JUDGE_PW)
    assert judge.code == 2 and "only the admin role" in judge.err and not (tmp_path / "id.csv").exists()
    done = cli("identity", "export", *study, "--as", "Admin", "--out", tmp_path / "id.csv", password=ADMIN_PW)
    assert done.code == 0 and "patients: 3" in done.out and "identifies the patients" in done.out
    with (tmp_path / "id.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["value"] for r in rows if r["kind"] == "file_name"} == {"img0.png", "img1.png", "img2.png"}
    assert {r["patient"] for r in rows} == {"P0001", "P0002", "P0003"}

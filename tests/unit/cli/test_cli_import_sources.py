"""``annotations import`` with images and their manifest, a wide grades CSV and bad values, and
``manifest update``, as a coordinator scripts them: what each prints and its exit status."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.cli import run
from rop_desktop.store import repo

from .conftest import ADMIN_PW, JUDGE_PW, Cli, CliStudy


def _new_images(folder: Path, n: int = 4) -> Path:
    folder.mkdir()
    for i in range(n):
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.circle(img, (32, 24), 18, (90, 30 + 40 * i, 200), -1)
        cv2.imwrite(str(folder / f"new{i}.png"), img)
    return folder


def _wide(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "G1_rop", "G1_stage", "G2_rop", "G2_stage", "hospital_diagnosis"])
        writer.writerows(rows)
    return path


def _patients_of(cli_study: CliStudy, names: list[str]) -> set[str]:
    with cli_study.open() as study, study.session() as session:
        from rop_desktop.services.identity import original_file_names

        by_name = {n: i for i, ns in original_file_names(session).items() for n in ns}
        return {img.exam.patient.code for img in repo.list_images(session, image_ids=[by_name[n] for n in names])}


def test_images_their_manifest_and_a_wide_csv_in_one_command(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    src = _new_images(tmp_path / "new")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,patient,eye,exam_date,ward\nnew0.png,H1,OD,2026-01-02,A\nnew1.png,H1,OS,2026-01-02,A\n"
                        "new2.png,H2,OD,2026-01-03,B\nnew3.png,H2,OS,2026-01-03,B\n", encoding="utf-8")
    grades = _wide(tmp_path / "graders.csv", [[f"new{i}.png", "yes", "2", "yes", "2", "stage 2"] for i in range(4)])
    done = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
               "--images", src, grades, "--manifest", manifest, password=ADMIN_PW)  # FILE after --images
    assert done.code == 0, done.err + done.out
    assert "grades: 8" in done.out and "accounts: imported: G1, imported: G2" in done.out
    assert "columns not used (not a manifest field): ward" in done.out
    assert "hospital_diagnosis: patient / exam data" in done.out
    assert len(_patients_of(cli_study, [f"new{i}.png" for i in range(4)])) == 2  # not four
    nothing = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
                  "--images", src, password=ADMIN_PW)
    assert nothing.code == 2 and "name the annotation file" in nothing.err


def test_bad_values_exit_1_and_list_row_and_column(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    grades = _wide(tmp_path / "bad.csv", [["img0.png", "maybe", "2", "yes", "2", ""],
                                          ["img2.png", "yes", "7", "no", "0", ""],
                                          ["img1.png", "no", "0", "no", "0", ""]])
    done = cli("annotations", "import", "--study", cli_study.folder, "--as", "Admin", "--format", "grades_csv",
               grades, password=ADMIN_PW)
    assert done.code == 1 and "grades: 2" in done.out
    assert "line 2, column 'G1_rop': ROP 'maybe' is not yes/no/1/0; nothing of this row imported" in done.out
    assert "line 3, column 'G1_stage': stage '7' is not one of" in done.out


def test_manifest_update_exit_statuses(cli_study: CliStudy, cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "later.csv"
    manifest.write_text("filename,patient,eye,hospital_diagnosis\nimg0.png,H9,OD,stage 2\nimg1.png,H9,OS,no ROP\n",
                        encoding="utf-8")
    study = ("--study", cli_study.folder)
    refused = cli("manifest", "update", *study, "--as", "Dr. Judge", manifest, password=JUDGE_PW)
    assert refused.code == 2 and "only the admin role" in refused.err
    done = cli("manifest", "update", *study, "--as", "Admin", manifest, password=ADMIN_PW)
    assert done.code == 0 and "updated: 2" in done.out, done.err
    assert len(_patients_of(cli_study, ["img0.png", "img1.png"])) == 1
    manifest.write_text("filename,eye\nimg0.png,OD\nnot_here.png,OS\n", encoding="utf-8")
    partly = cli("manifest", "update", *study, "--as", "Admin", manifest, password=ADMIN_PW)
    assert partly.code == 1 and "NOT IN THE STUDY: line 3: not_here.png" in partly.out
    (tmp_path / "x.csv").write_text("name\n", encoding="utf-8")  # 'name' is no file column of a manifest
    unusable = cli("manifest", "update", *study, "--as", "Admin", tmp_path / "x.csv", password=ADMIN_PW)
    assert unusable.code == 2 and "no 'file' column" in unusable.err


@pytest.mark.parametrize("command", ["manifest update", "annotations import"])
def test_help_states_exit_statuses_formats_and_values(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run([*command.split(), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0 and "exit status: 0 done; 1 " in text and "2 refused, nothing done" in text
    if command == "annotations import":
        assert "wide: one row per image: filename, G1_rop, G1_stage" in text
        assert "stage: 0, 1, 2, 3, 4A, 4B, 5A, 5B, 5C" in text and "--grader-map" in text
